"""``jiceng bench`` end to end on a tiny synthetic corpus: real ingest, real servers over HTTP, real baselines.

Speed targets live in docs/benchmarks.md, not here: this checks that every figure is produced and sane.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _sane_latency(summary: dict, n: int) -> None:
    assert summary["n"] == n and summary["errors"] == 0
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] < 60_000
    assert summary["qps"] > 0


def test_bench_runs_all_systems_and_reports_every_figure(tmp_path: Path) -> None:
    from jiceng.bench.runner import BenchConfig, run_benchmark

    config = BenchConfig.quick(out_dir=tmp_path, chunks=30, requests_c1=4, requests_c8=8,
                               profile_questions=4, embed_sample=20)
    results = run_benchmark(config)
    root = tmp_path / "30-chunks"
    assert json.loads((root / "results.json").read_text(encoding="utf-8")) == json.loads(json.dumps(results))
    assert (root / "latency.png").stat().st_size > 10_000
    report = (root / "results.md").read_text(encoding="utf-8")
    assert "naive llama-index" in report and "bm25s only" in report and "| target (issue #8)" in report

    assert set(results["systems"]) == {"jiceng", "naive", "bm25"}
    for name, system in results["systems"].items():
        assert system["chunks"] > 5, name
        assert system["ingest"]["seconds"] > 0 and system["ingest"]["peak_rss"] > 50 * 2**20
        assert system["index_bytes"] > 0 and system["server_peak_rss"] > 50 * 2**20
        for key, n in (("search_c1", 4), ("search_c8", 8), ("ask_c1", 4), ("ask_c8", 8)):
            _sane_latency(system[key], n)
        assert system["cached_repeat"]["n"] == 20

    ours = results["systems"]["jiceng"]
    assert ours["reingest"]["embedded"] == 0  # nothing changed, nothing embedded
    assert ours["reingest"]["seconds"] < ours["ingest"]["seconds"]
    assert 0 < ours["ask_c1"]["server_total_p50_ms"] < ours["ask_c1"]["p50_ms"]
    assert {"embed", "answer", "total"} <= set(ours["ask_c1"]["server_stages_p50_ms"])
    assert results["bare"]["passages"]["chunks"] == 20 and results["bare"]["passages"]["chunks_per_s"] > 0
    floor = results["bare"]["query"]
    # The floor brackets jiceng's HTTP load: one sample before it, one after, p50 over both.
    assert floor["n"] == 2 * results["config"]["profile_questions"]
    assert 0 < min(floor["p50_before_ms"], floor["p50_after_ms"]) <= floor["p50_ms"] < 10_000
    assert {"embed", "bm25", "dense", "answer", "total"} <= set(results["profile"]["stages_p50_ms"])
    assert results["profile"]["top_own_time"]
    assert len(results["targets"]) == 7
    assert all(isinstance(t["ok"], bool) and math.isfinite(t["measured"]) for t in results["targets"])


def test_bench_cli_rejects_an_unknown_size_in_both_languages(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jiceng.cli", "bench", "--size", "5k", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 2
    assert "未知规模" in done.stderr and "unknown size" in done.stderr and "Traceback" not in done.stderr
