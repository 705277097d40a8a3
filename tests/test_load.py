"""Loopback load: concurrent keep-alive clients send the gold-set questions to a real ``jiceng serve``;
no request may fail. p50/p95/p99 and QPS are printed (run with ``-s``).

In the suite it runs 10 s over 7 documents; the figures in docs/reliability.md come from the 60 s run
over the whole bundled corpus:
    JICENG_LOAD_SECONDS=60 JICENG_LOAD_FULL_CORPUS=1 .venv/bin/pytest -s tests/test_load.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from bench.load import ask, drive, search, stop_signals_held, wait_or_kill
from jiceng.ingest.pipeline import ingest_paths
from jiceng.settings import Settings

from .conftest import CORPUS_DIR, REPO
from .test_reliability import MORE
from .test_security import FILES, copy_corpus, serve

pytestmark = pytest.mark.slow
CLIENTS = int(os.environ.get("JICENG_LOAD_CLIENTS", "20"))
SECONDS = float(os.environ.get("JICENG_LOAD_SECONDS", "10"))
FULL_CORPUS = os.environ.get("JICENG_LOAD_FULL_CORPUS") == "1"  # else 7 documents, so the suite stays quick
GOLD = REPO / "evals" / "sets" / "regression.jsonl"  # no held-out question is asked


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("load")
    corpus = CORPUS_DIR if FULL_CORPUS else copy_corpus(root, FILES + MORE)
    ingest_paths([corpus], Settings(data_dir=root / "data"), progress=False)
    with serve(root) as server:
        yield server.url


@pytest.mark.parametrize("send", [ask, search], ids=["ask", "search"])
def test_concurrent_clients_get_no_errors(server_url, send):
    questions = [
        json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines() if line
    ]
    began = time.monotonic()
    # More questions than can be asked in the time: the clients stop at the deadline.
    result = drive(server_url, send, questions * 1000, concurrency=CLIENTS, time_limit_s=SECONDS)
    elapsed = time.monotonic() - began
    summary = result.summary()
    print(
        f"\n{send.__name__}: {CLIENTS} clients x {elapsed:.0f} s: {summary['n']} ok, {result.errors} errors, "
        f"statuses {result.statuses}, p50 {summary['p50_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms, "
        f"p99 {summary['p99_ms']:.0f} ms, {summary['qps']:.1f} req/s"
    )
    assert result.errors == 0, result.statuses
    assert summary["n"] >= CLIENTS and httpx.get(f"{server_url}/healthz", timeout=30).status_code == 200


def test_a_stop_signal_during_a_child_start_waits_until_the_child_can_be_stopped() -> None:
    # SIGTERM (the bench's handler turns it into KeyboardInterrupt) arrives while the server starts.
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    started: list[subprocess.Popen] = []
    try:
        with pytest.raises(KeyboardInterrupt), stop_signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        assert len(started) == 1  # the handle was kept, so the child can be stopped
        assert signal.getsignal(signal.SIGTERM) is interrupt
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in started:
            child.terminate()
            wait_or_kill(child)
