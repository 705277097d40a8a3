"""Questions a cadre asks about a whole case, answered on the index of the whole bundled corpus: which
word counts for how much depends on every document, so these show only on all of it."""

from __future__ import annotations

import pytest

from jiceng.evals.goldset import load_eval_set
from jiceng.evals.runner import run_eval
from jiceng.qa.service import QAService

from .conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(corpus_settings) -> QAService:
    return QAService(corpus_settings)


def test_how_a_named_case_works_is_answered_from_its_measures(service):
    # 运作 is in no source: the case's 做法 says how it works without the verb.
    answer = service.ask("功德银行是怎么运作的？")
    assert not answer.abstained
    assert (answer.citations[0].doc_id, answer.citations[0].section) == ("gongde-yinhang", "做法")
    assert "以户为单位建立账户" in answer.answer


def test_how_something_no_case_names_works_is_abstained_on(service):
    # The frame's verb counts as said by a 做法 section only in the case the question names.
    answer = service.ask("海底村庄的议事会怎么运行？")
    assert answer.abstained and answer.citations == []


def test_questions_on_a_whole_case_are_answered_from_its_section(corpus_settings):
    items = load_eval_set(REPO / "evals" / "sets" / "overview.jsonl")
    [result] = run_eval(items, ["hybrid"], corpus_settings)
    summary = result["summary"]
    assert summary["n_answerable"] == len(items) == 11
    assert summary["abstention"]["false_refusal"] == 0.0
    assert summary["answers"]["first_citation_hit"] >= 0.9, result["failures"]
