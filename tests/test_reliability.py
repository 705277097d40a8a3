"""Faults against real processes on 127.0.0.1: /ask while `jiceng ingest` switches generations (every answer
whole, from the old or the new version, never a mix), and a Chroma server that dies and comes back.

`kill -9` in the middle of an ingest is tested in tests/test_store.py::
test_sigkill_mid_ingest_leaves_the_previous_generation_queryable; here the killed process is a server
in the middle of an upload.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bench.load import free_port
from jiceng.ingest.pipeline import ingest_paths
from jiceng.ingest.store import current_generation, open_current
from jiceng.settings import Settings

from .conftest import start_chroma
from .test_security import FILES, KEY, copy_corpus, serve
from .test_store import _cached

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
QUESTIONS = [
    "朝阳区邻里节让居民参与率提高了多少？",
    "功德银行积分可以兑换什么？",
    "党建引领基层治理面临哪些挑战？",
]
MORE = [
    "cases/yiyue-sihui.md",
    "cases/yishiting-moshi.md",
    "cases/shiyu-dezhi-tixi.md",
    "policies/dangjian-yinling-lilun-luoji.md",
]
REVISION = "（修订版说明：本文档已更新。）\n\n"


def revised_corpus(root: Path) -> Path:
    """The served documents revised (a new first block shifts every offset) plus a few new ones."""
    corpus = copy_corpus(root / "v2", FILES + MORE)
    for name in FILES:
        path = corpus / name
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        path.write_text(f"---\n{front}---\n{REVISION}{body.lstrip()}", encoding="utf-8")
    return corpus


def versions_matching(body: dict, texts: list[dict[str, str]]) -> list[int]:
    """Indexes of the text versions every citation and passage of one answer agrees with."""
    spans = [(c["doc_id"], c["start"], c["end"], c["quote"]) for c in body["citations"]]
    spans += [(p["doc_id"], p["start"], p["end"], p["text"]) for p in body["passages"]]
    return [i for i, version in enumerate(texts) if all(version.get(d, "")[s:e] == t for d, s, e, t in spans)]


def test_ask_answers_whole_from_one_generation_while_ingest_switches(tmp_path):
    ingest_paths([copy_corpus(tmp_path)], Settings(data_dir=tmp_path / "data"), progress=False)
    doc_ids = [Path(name).stem for name in FILES]
    with serve(tmp_path) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        old = {d: client.get(f"/documents/{d}").json()["text"] for d in doc_ids}
        env = {**os.environ, "JICENG_DATA_DIR": str(tmp_path / "data")}
        ingest = subprocess.Popen(
            [BIN / "jiceng", "ingest", str(revised_corpus(tmp_path)), "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        responses: list[tuple[float, httpx.Response]] = []
        stop_at: list[float] = []

        def ask_loop(offset: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                n = offset
                while not stop_at or time.monotonic() < stop_at[0]:
                    response = own.post("/ask", json={"question": QUESTIONS[n % 3]})
                    responses.append((time.monotonic(), response))
                    time.sleep(0.02)  # two shared cores: leave the ingest room to finish
                    n += 1

        threads = [threading.Thread(target=ask_loop, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        try:
            assert ingest.wait(timeout=300) == 0, ingest.stderr.read().decode()
        finally:
            switched = time.monotonic()
            stop_at.append(switched + 3)  # keep asking a little after the switch
            for thread in threads:
                thread.join(timeout=120)
        new = {
            d["doc_id"]: client.get(f"/documents/{d['doc_id']}").json()["text"]
            for d in client.get("/documents").json()
        }
        assert all(new[d] == REVISION + old[d] for d in doc_ids)
        assert len(new) == client.get("/healthz").json()["documents"] == len(FILES + MORE)

    assert all(r.status_code == 200 for _, r in responses), {r.status_code for _, r in responses}
    served = [versions_matching(r.json(), [old, new]) for _, r in responses]
    assert all(served), "an answer mixed two versions or quoted text that is not in the document"
    assert any(v == [0] for v in served), "no answer came from the old generation during the ingest"
    assert any(v == [1] for (t, _), v in zip(responses, served) if t > switched), (
        "no answer from the new generation"
    )
    assert len(responses) >= 10
    print(
        f"\n{len(responses)} answers during the ingest: {served.count([0])} old generation, "
        f"{served.count([1])} new, 0 mixed, all 200"
    )


@pytest.fixture()
def chroma(tmp_path: Path):
    """A `chroma run` server that the test can kill and start again on the same port and folder."""
    port, path, procs = free_port(), tmp_path / "chroma-server", []

    def start() -> None:
        procs.append(start_chroma(path, port))

    def kill() -> None:
        procs[-1].send_signal(signal.SIGKILL)
        procs[-1].wait()

    start()
    yield f"http://127.0.0.1:{port}", start, kill
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def test_chroma_down_is_a_503_and_answers_resume_when_it_returns(tmp_path, chroma):
    url, start, kill = chroma
    ingest_paths(
        [copy_corpus(tmp_path)], Settings(data_dir=tmp_path / "data", chroma_url=url), progress=False
    )
    with (
        # An index past retrieval.memory_index_max: every search asks the server.
        serve(tmp_path, JICENG_CHROMA_URL=url, JICENG_RETRIEVAL_MEMORY_INDEX_MAX="0") as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        assert client.post("/ask", json={"question": QUESTIONS[0]}).status_code == 200
        kill()
        # A question not asked before (a repeated one may be answered from the answer cache).
        question = {"question": QUESTIONS[1]}
        for response in (client.post("/ask", json=question), client.get("/search", params={"q": "邻里节"})):
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["code"] == "backend_unavailable" and "无法连接 Chroma" in error["message"]
        start()
        deadline = time.monotonic() + 30
        while (
            response := client.post("/ask", json=question)
        ).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert response.status_code == 200 and response.json()["citations"]


def test_server_killed_mid_upload_leaves_a_valid_index_and_writes_work_after_restart(tmp_path):
    data = tmp_path / "data"
    ingest_paths([copy_corpus(tmp_path)], Settings(data_dir=data), progress=False)
    good = current_generation(Settings(data_dir=data))
    big = "\n\n".join(
        f"第{i}号社区建立了居民议事会，每月讨论停车、绿化和养老服务等公共事务。" * 3 for i in range(30)
    )
    auth = {"X-API-Key": KEY}
    cache = data / "cache" / "ingest.sqlite"
    cached_before = _cached(cache)
    server = serve(tmp_path, JICENG_API_KEY=KEY, JICENG_EMBEDDING_BATCH_SIZE="2")
    with httpx.Client(base_url=server.url, timeout=120) as client:
        upload = threading.Thread(
            target=lambda: _swallow(
                lambda: client.post("/documents", headers=auth, files={"file": ("议事会.txt", big.encode())})
            )
        )
        upload.start()
        deadline = time.monotonic() + 60
        while _cached(cache) <= cached_before:  # the upload's vectors are being computed
            assert time.monotonic() < deadline and upload.is_alive(), "the upload never started embedding"
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        upload.join(timeout=60)
    assert current_generation(Settings(data_dir=data)) == good  # the switch never happened
    snapshot = open_current(Settings(data_dir=data))
    assert set(snapshot.documents) == {Path(name).stem for name in FILES}
    with (
        serve(tmp_path, JICENG_API_KEY=KEY) as again,
        httpx.Client(base_url=again.url, timeout=120) as client,
    ):
        assert client.post("/ask", json={"question": QUESTIONS[1]}).json()["citations"]
        # The dead process's locks went with it; the stored file is ingested by the next write.
        report = client.post("/reindex", headers=auth)
        assert report.status_code == 200 and report.json()["added"] == 1
        assert client.get("/healthz").json()["documents"] == len(FILES) + 1


def _swallow(call) -> None:
    try:
        call()
    except httpx.HTTPError:
        pass  # the server was killed under this request: that is the point
