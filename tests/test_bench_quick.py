"""``jiceng bench`` end to end on a tiny synthetic corpus: real ingest, real servers over HTTP, real baselines.

Speed targets live in docs/benchmarks.md, not here: this checks that every figure is produced and sane.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from jiceng.corpus import corpus_paths

from .conftest import CORPUS_DIR

pytestmark = pytest.mark.slow


def _cmdline(process: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return process.cmdline()
    return []


def _sane_latency(summary: dict, n: int) -> None:
    assert 0 < summary["n"] <= n and summary["errors"] == 0  # fewer when the time limit cut the load short
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] < 60_000
    assert summary["qps"] > 0


@pytest.mark.benchmark  # `make bench`: the bench's code paths are tested on the bundled corpus below
@pytest.mark.timeout(1800)  # the run's own limit below: minutes on an idle 2-core machine, more when it is slow
def test_bench_quick_runs_all_systems_at_1k_and_reports_every_figure(tmp_path: Path, capsys) -> None:
    # What issue #8 asks CI to run: `jiceng bench --quick` (1k chunks), through the CLI a user types.
    done = subprocess.run(
        [sys.executable, "-m", "jiceng.cli", "bench", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    root = tmp_path / "1k"
    results = json.loads((root / "results.json").read_text(encoding="utf-8"))
    report = (root / "results.md").read_text(encoding="utf-8")
    with capsys.disabled():  # the figures go to the CI log; the speed targets are judged there, not here
        print("\n" + report)
    assert (root / "latency.png").stat().st_size > 10_000
    assert "naive llama-index" in report and "bm25s only" in report and "| target (issue #8)" in report
    assert "1k synthetic corpus" in done.stdout  # the CLI prints the same report
    assert "Not measured" not in report  # every baseline ran
    planned = {"search_c1": 20, "search_c8": 40, "ask_c1": 20, "ask_c8": 40}
    cut = [k for s in results["systems"].values() for k, n in planned.items() if s[k]["n"] < n]
    assert ("**Cut short**" in report) == bool(cut)

    assert set(results["systems"]) == {"jiceng", "naive", "bm25"}
    for name, system in results["systems"].items():
        assert system["chunks"] > 300, name
        assert system["ingest"]["seconds"] > 0 and system["ingest"]["peak_rss"] > 50 * 2**20
        assert system["index_bytes"] > 0 and system["server_peak_rss"] > 50 * 2**20
        assert 0 < system["server_ready_s"] < 180
        for key, n in planned.items():
            _sane_latency(system[key], n)
        assert system["cached_repeat"]["n"] == 20

    ours = results["systems"]["jiceng"]
    assert ours["ingest"]["embedded"] > 0.9 * ours["chunks"]  # a cold ingest: its throughput is judged
    naive, bm25 = results["systems"]["naive"], results["systems"]["bm25"]
    assert naive["ingest"]["embedded"] == naive["chunks"] and bm25["ingest"]["embedded"] is None
    assert ours["reingest"]["embedded"] == 0  # nothing changed, nothing embedded
    assert ours["reingest"]["seconds"] < ours["ingest"]["seconds"]
    assert 0 < ours["ask_c1"]["server_total_p50_ms"] < ours["ask_c1"]["p50_ms"]
    assert {"embed", "answer", "total"} <= set(ours["ask_c1"]["server_stages_p50_ms"])
    assert results["bare"]["passages"]["chunks"] == 200 and results["bare"]["passages"]["chunks_per_s"] > 0
    floor = results["bare"]["query"]
    # The floor is timed on the very questions of jiceng's /ask c=1 load, between its blocks of requests.
    assert floor["n"] == 20 >= ours["ask_c1"]["n"] and floor["block"] == 20
    assert 0 < floor["p50_ms"] <= floor["p95_ms"] < 10_000
    assert "20 questions timed in blocks of 20 between blocks of jiceng's /ask c=1 requests" in report
    assert {"embed", "bm25", "dense", "answer", "total"} <= set(results["profile"]["stages_p50_ms"])
    assert results["profile"]["top_own_time"]
    assert len(results["targets"]) == 7
    assert all(isinstance(t["ok"], bool) and math.isfinite(t["measured"]) for t in results["targets"])


def test_bench_measures_the_bundled_corpus_itself(tmp_path: Path) -> None:
    # `--size corpus`: the targets' smallest size is the corpus users first meet, not a synthetic one.
    done = subprocess.run(
        [sys.executable, "-m", "jiceng.cli", "bench", "--size", "corpus", "--no-baselines", "--requests", "4",
         "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=1800, cwd=CORPUS_DIR.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "corpus" / "results.json").read_text(encoding="utf-8"))
    assert results["corpus"]["files"] == len(corpus_paths(CORPUS_DIR)) > 20
    assert results["corpus"]["params"]["source"] == str(CORPUS_DIR.resolve())
    assert 50 < results["systems"]["jiceng"]["chunks"] < 1000
    _sane_latency(results["systems"]["jiceng"]["ask_c1"], 4)
    assert "bundled corpus (" in done.stdout and "synthetic corpus" not in done.stdout
    assert not (tmp_path / "corpus" / "corpus").exists()  # nothing generated: the real files are read


@contextlib.contextmanager
def _bench_in_background(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen, psutil.Process, Path]]:
    """``jiceng bench --size corpus ARGS`` in a process group of its own, stderr in a log; afterwards,
    whatever failed, the whole group is killed (its jobs and servers too) so nothing is left running."""
    log = tmp_path / "bench.log"
    with open(log, "w") as stderr:
        bench = subprocess.Popen(
            [sys.executable, "-m", "jiceng.cli", "bench", "--size", "corpus", *args, "--out", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=stderr, cwd=CORPUS_DIR.parent, start_new_session=True,
        )
    try:
        yield bench, psutil.Process(bench.pid), log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(bench.pid, signal.SIGKILL)
        bench.wait()


def _children(tree: psutil.Process, word: str) -> list[psutil.Process]:
    """The bench's descendants with ``word`` in their command line (a job that just ended is a zombie
    until the bench reaps it, and has none, as seen in CI)."""
    return [p for p in tree.children(recursive=True) if word in _cmdline(p)]


def _wait_for(bench: subprocess.Popen, ready: Callable[[], object], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert bench.poll() is None and time.monotonic() < deadline, f"the bench never {what}"
        time.sleep(0.2)


def test_bench_killed_with_sigterm_stops_the_servers_it_started(tmp_path: Path) -> None:
    with _bench_in_background(tmp_path, "--no-baselines", "--requests", "400") as (bench, tree, log):
        _wait_for(bench, lambda: _children(tree, "serve"), "started its server", 600)
        servers = _children(tree, "serve")
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 130, log.read_text(encoding="utf-8")[-3000:]
        assert "Interrupted" in log.read_text(encoding="utf-8")
        _, alive = psutil.wait_procs(servers, timeout=30)
        assert alive == []


def test_a_job_killed_from_outside_is_named_after_its_progress_was_shown(tmp_path: Path) -> None:
    # A 100k ingest runs for hours as a child of the bench: its progress must reach the bench's log while
    # it runs, and a child killed from outside (kill, the OOM killer) is a stop to name, not a crash.
    with _bench_in_background(tmp_path, "--no-baselines", "--requests", "4") as (bench, tree, log):
        _wait_for(bench, lambda: "[进度 / progress]" in log.read_text(encoding="utf-8"), "showed progress", 600)
        jobs = _children(tree, "ingest")
        assert len(jobs) == 1, "the ingest job should still be running"
        jobs[0].send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 2
    text = log.read_text(encoding="utf-8")
    assert "  [进度 / progress] 读取文件 / loading: 1/" in text  # forwarded while the job was running
    assert "基准任务 ingest 被外部信号 SIGTERM 终止" in text and "bench job ingest was stopped by SIGTERM" in text
    assert "Traceback" not in text and "内部错误" not in text


def test_bench_stopped_during_a_baseline_build_keeps_the_figures_measured_before(tmp_path: Path) -> None:
    # At 100k the naive pipeline's build takes hours: stopping the run there must not throw away jiceng's.
    with _bench_in_background(tmp_path, "--baseline", "naive", "--requests", "4") as (bench, tree, log):
        _wait_for(bench, lambda: _children(tree, "build-baseline"), "built its baseline", 900)
        build = _children(tree, "build-baseline")
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 130, log.read_text(encoding="utf-8")[-3000:]
        _, alive = psutil.wait_procs(build, timeout=30)
        assert alive == []  # a build that takes hours at 100k does not outlive the bench
    results = json.loads((tmp_path / "corpus" / "results.json").read_text(encoding="utf-8"))
    assert set(results["systems"]) == {"jiceng"}
    _sane_latency(results["systems"]["jiceng"]["ask_c1"], 4)
    report = (tmp_path / "corpus" / "results.md").read_text(encoding="utf-8")
    assert "when this was written): naive llama-index." in report  # the missing baseline is named


def test_bench_cli_rejects_an_unknown_size_in_both_languages(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jiceng.cli", "bench", "--size", "5k", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 2
    assert "未知规模" in done.stderr and "unknown size" in done.stderr and "Traceback" not in done.stderr


def test_naive_build_keeps_passage_vectors_only_when_embeddings_are_reused(tmp_path: Path) -> None:
    from bench.baselines import NaiveLlamaIndex, build_baseline
    from jiceng.ingest.embedding import get_embedder
    from jiceng.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gongde.md").write_text("# 功德银行\n\n村民在银行的积分可兑换油、米、盐等生活物资。\n", "utf-8")
    (corpus / "linli.md").write_text("# 邻里节\n\n社区居民参与率从不足30%提升至70%以上。\n", "utf-8")
    plain, reused = Settings(data_dir=tmp_path / "plain-data"), Settings(data_dir=tmp_path / "naive-data")

    build_baseline("naive", corpus, tmp_path / "plain-index", plain)
    assert get_embedder(plain).computed == 0  # the naive pipeline as users meet it: no cache at all

    build_baseline("naive", corpus, tmp_path / "index-1", reused, cache_passages=True)
    first = get_embedder(reused).computed
    build_baseline("naive", corpus, tmp_path / "index-2", reused, cache_passages=True)
    assert first == 2 and get_embedder(reused).computed == first  # the second build embedded nothing
    hit = NaiveLlamaIndex(tmp_path / "index-2", reused).search("积分能换什么", 1)[0]
    assert hit["source"] == "gongde.md"
