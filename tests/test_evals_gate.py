"""Regression gate: the default pipeline on the bundled corpus must meet evals/thresholds.json on the
regression set (every earlier question; none of it held out). This is what `make test` (and so .ci/run)
enforces; the fresh set's held-out test split is never read here."""

from __future__ import annotations

import pytest

from jiceng.evals.gate import check_thresholds, load_thresholds
from jiceng.evals.goldset import bundled_set_path, load_eval_set
from jiceng.evals.runner import run_eval

pytestmark = pytest.mark.slow


def test_the_regression_set_meets_the_thresholds(corpus_settings):
    thresholds = load_thresholds()
    assert (thresholds["set"], thresholds["split"]) == ("regression", "all")
    items = load_eval_set(bundled_set_path(thresholds["set"]), thresholds["split"])
    assert len(items) >= 200
    summaries = [r["summary"] for r in run_eval(items, list(thresholds["modes"]), corpus_settings)]
    assert check_thresholds(summaries, thresholds) == []
    # The gate really bites: the same numbers fail a floor set just above them.
    hit1 = summaries[0]["retrieval"]["hit@1"]
    raised = {"modes": {summaries[0]["mode"]: {"min": {"retrieval.hit@1": hit1 + 0.01}}}}
    assert check_thresholds(summaries, raised) == [
        f"{summaries[0]['mode']} retrieval.hit@1 = {hit1:.3f}, needs >= {hit1 + 0.01}"
    ]
