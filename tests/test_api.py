"""The HTTP contract, against a real ``jiceng serve`` process on a loopback port over a real index."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jiceng.ingest.pipeline import ingest_paths
from jiceng.settings import Settings
from jiceng.site.build import build_site

from .conftest import CORPUS_DIR

pytestmark = pytest.mark.slow

FILES = ["cases/chaoyang-shequ-linlijie.md", "cases/gongde-yinhang.md", "policies/dangjian-chuangxin-tiaozhan-yingdui.md"]
PASSAGE_KEYS = {"rank", "doc_id", "title", "section", "text", "start", "end", "score", "url"}
CITATION_KEYS = {"n", "doc_id", "title", "section", "quote", "start", "end", "url"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = os.environ | {"JICENG_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "jiceng.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode())
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("api")
    for name in FILES:
        (root / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS_DIR / name, root / "corpus" / name)
    settings = Settings(data_dir=root / "data", corpus_dir=CORPUS_DIR)
    ingest_paths([root / "corpus"], settings, progress=False)
    build_site(settings)  # the case library, so citation links can be followed
    process, url = start_server(root / "data")
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client
    stop(process)


def test_ask_follows_the_contract_and_quotes_are_verbatim_document_text(api):
    response = api.post("/ask", json={"question": "朝阳区邻里节让居民参与率提高了多少？"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"question", "answer", "abstained", "citations", "passages", "timings_ms"}
    assert body["abstained"] is False and "[1]" in body["answer"]
    assert all(set(p) == PASSAGE_KEYS for p in body["passages"]) and len(body["passages"]) <= 5
    assert all(set(c) == CITATION_KEYS for c in body["citations"])
    first = body["citations"][0]
    assert "30%" in first["quote"] and "70%" in first["quote"]
    for citation in body["citations"]:
        doc = api.get(f"/documents/{citation['doc_id']}").json()
        assert doc["text"][citation["start"] : citation["end"]] == citation["quote"]
        assert citation["url"].startswith(f"/library/cases/{citation['doc_id']}/#p-")
    assert body["timings_ms"]["total"] > 0


def test_an_english_question_gets_a_chinese_quote_and_an_unanswerable_one_a_refusal(api):
    body = api.post("/ask", json={"question": "What can villagers exchange their merit bank points for?"}).json()
    assert body["abstained"] is False and "油、米、盐" in body["citations"][0]["quote"]
    body = api.post("/ask", json={"question": "Who is the party secretary of the Lujiazui alliance?"}).json()
    assert body["abstained"] is True and "matched through a dictionary" in body["answer"]


def test_a_yes_no_question_on_a_thing_the_sources_never_name_is_answered_with_no_yes(api):
    body = api.post("/ask", json={"question": "功德银行积分能兑换汽车吗？"}).json()
    assert body["abstained"] or body["answer"].startswith("原文没有直接说到“汽车”")


@pytest.mark.parametrize("question", ["朝阳区邻里节的经费预算是多少？", "金色中环联盟哪一年成立？", "如何申请护照？"])
def test_unanswerable_questions_abstain_over_http(api, question):
    body = api.post("/ask", json={"question": question, "top_k": 3, "mode": "extractive"}).json()
    assert body["abstained"] is True and body["citations"] == []
    assert "知识库中没有找到" in body["answer"]


def test_search_documents_and_health(api):
    results = api.get("/search", params={"q": "功德银行积分", "k": 2}).json()["results"]
    assert len(results) == 2 and results[0]["doc_id"] == "gongde-yinhang"
    assert [r["rank"] for r in results] == [1, 2]
    listing = api.get("/documents").json()
    assert {d["doc_id"] for d in listing} == {"chaoyang-shequ-linlijie", "gongde-yinhang", "dangjian-chuangxin-tiaozhan-yingdui"}
    assert all(set(d) == {"doc_id", "title", "kind", "metadata"} for d in listing)
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["documents"] == 3 and health["chunks"] > 3


def test_search_filters_by_kind_region_path_and_tag(api):
    def doc_ids(**params) -> set[str]:
        return {r["doc_id"] for r in api.get("/search", params={"q": "社区 党组织", "k": 20, **params}).json()["results"]}

    everything = doc_ids()
    assert len(everything) == 3
    assert doc_ids(kind="policy") == {"dangjian-chuangxin-tiaozhan-yingdui"}
    assert doc_ids(kind="case", region="朝阳") == {"chaoyang-shequ-linlijie"}  # region by substring
    assert doc_ids(tag=["邻里节", "no-such-tag"]) == {"chaoyang-shequ-linlijie"}  # any listed tag
    assert doc_ids(path="队伍能力创新") == {"dangjian-chuangxin-tiaozhan-yingdui"}
    assert doc_ids(kind="case", tag="no-such-tag") == set()


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code"),
    [
        ("post", "/ask", {"question": ""}, 400, "empty_question"),
        ("post", "/ask", {"question": "邻" * 501}, 400, "question_too_long"),
        ("post", "/ask", {"question": "邻里节", "top_k": 0}, 422, "bad_request"),
        ("post", "/ask", {"question": "邻里节", "top_k": "many"}, 422, "bad_request"),
        ("post", "/ask", {"question": "邻里节", "mode": "poetry"}, 422, "bad_request"),
        ("post", "/ask", {"question": "邻里节", "filters": {"author": "x"}}, 400, "bad_filter"),
        ("post", "/ask", {"top_k": 3}, 422, "bad_request"),
        ("post", "/ask", "not json", 422, "bad_request"),
        ("get", "/search?q=%20", None, 400, "empty_question"),
        ("get", "/search?q=邻里&k=0", None, 422, "bad_request"),
        ("get", "/search?q=邻里&kind=", None, 400, "bad_filter"),
        ("get", "/documents/no-such-doc", None, 404, "not_found"),
        ("get", "/no/such/route", None, 404, "http_404"),
    ],
)
def test_bad_input_gets_a_4xx_error_body_never_a_500(api, method, path, payload, status, code):
    if method == "post":
        kwargs = {"content": payload} if isinstance(payload, str) else {"json": payload}
        response = api.post(path, headers={"content-type": "application/json"}, **kwargs)
    else:
        response = api.get(path)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])  # Chinese first, English in brackets


def test_no_index_yet_is_a_503_with_an_error_body(tmp_path):
    process, url = start_server(tmp_path / "empty")
    try:
        response = httpx.post(f"{url}/ask", json={"question": "邻里节是什么？"}, timeout=30)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "index_missing"
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 503
        # `jiceng serve` built the library from the corpus without an index (tests/test_serve_library.py).
        assert httpx.get(f"{url}/library/", timeout=30).status_code == 200
    finally:
        stop(process)


def test_citation_links_land_on_the_quoted_paragraph_of_the_case_library(api):
    citation = api.post("/ask", json={"question": "朝阳区邻里节让居民参与率提高了多少？"}).json()["citations"][0]
    path, anchor = citation["url"].split("#")
    page = api.get(path)
    assert page.status_code == 200
    paragraph = page.text.split(f'id="{anchor}"', 1)[1].split("</p>", 1)[0]
    assert citation["quote"] in paragraph


def test_ask_page_openapi_and_missing_library_page(api):
    page = api.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/ask" in api.get("/openapi.json").json()["paths"]
    assert api.get("/library/cases/no-such-case/").status_code == 404  # the library's own 404 page
