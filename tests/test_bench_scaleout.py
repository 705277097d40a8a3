"""Scale out on one machine: ``jiceng serve --workers 2`` against one Chroma server (``chroma run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from bench import synthetic
from bench.load import ENDPOINTS, Server, drive, free_port

pytestmark = pytest.mark.slow
CHROMA = Path(sys.executable).parent / "chroma"


def test_two_api_workers_share_one_chroma_server(tmp_path: Path) -> None:
    chroma_port = free_port()
    chroma = Server([str(CHROMA), "run", "--path", str(tmp_path / "chroma"), "--port", str(chroma_port)],
                    chroma_port, log_path=tmp_path / "chroma.log")
    # Every search queries the server, as it does beyond retrieval.memory_index_max chunks.
    env = {"JICENG_CHROMA_URL": f"http://127.0.0.1:{chroma_port}", "JICENG_DATA_DIR": str(tmp_path / "data"),
           "JICENG_RETRIEVAL_MEMORY_INDEX_MAX": "0"}
    with chroma.start(ready_path="/api/v2/heartbeat"):
        synthetic.generate(tmp_path / "docs", 12)
        ingest = subprocess.run([sys.executable, "-m", "jiceng.cli", "ingest", str(tmp_path / "docs")],
                                env={**os.environ, **env}, capture_output=True, text=True, check=False)
        assert ingest.returncode == 0, ingest.stderr
        assert not (tmp_path / "data" / "chroma").exists()  # vectors went to the server, not a local store

        port = free_port()
        argv = [sys.executable, "-m", "jiceng.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "2"]
        with Server(argv, port, env, tmp_path / "serve.log") as api:
            api.start()
            # uvicorn's worker processes are multiprocessing spawns of the supervisor.
            workers = [p for p in psutil.Process(api.proc.pid).children(recursive=True)
                       if "spawn_main" in " ".join(p.cmdline())]
            assert len(workers) == 2
            questions = synthetic.questions(48, seed=5)
            asked = drive(api.url, ENDPOINTS["ask"], questions[:24], 8, 120)
            searched = drive(api.url, ENDPOINTS["search"], questions[24:], 8, 120)
            assert asked.statuses == {200: 24} and searched.statuses == {200: 24}
            health = httpx.get(api.url + "/healthz").json()
            assert health["chunks"] > 5
