"""Security over real HTTP (``jiceng serve`` processes on 127.0.0.1): bad input gets a 4xx with a code and
a Chinese message, never a 5xx; writes need the API key and are off without one; uploads are limited by
size and by what the bytes really are; CORS is off unless configured; planted HTML is shown as text.

test_api.py covers the basic validation cases (empty / too long question, top_k 0, unknown mode, unknown
filter field, unknown doc_id, unknown route); this file adds the rest. Escaping on the ask page is checked
in a real browser by tests/test_ask_page.py::test_prefill_from_url_and_html_in_documents_is_text.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.load import Server, free_port
from jiceng.ingest.pipeline import ingest_paths
from jiceng.settings import Settings

from .conftest import CORPUS_DIR

pytestmark = pytest.mark.slow

FILES = [
    "cases/chaoyang-shequ-linlijie.md",
    "cases/gongde-yinhang.md",
    "policies/dangjian-chuangxin-tiaozhan-yingdui.md",
]
KEY = "k3y-for-tests-only"
ORIGIN = "http://intranet.example"
UPLOAD_LIMIT_MB = 0.05
PLANTED = "居民留言：<script>alert(1)</script> 与 <img src=x onerror=alert(1)> 均应原样显示。"


def copy_corpus(root: Path, files: list[str] = FILES) -> Path:
    for name in files:
        (root / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS_DIR / name, root / "corpus" / name)
    return root / "corpus"


def serve(root: Path, ready_path: str = "/healthz", **env: str) -> Server:
    """A ``jiceng serve`` process over ``root/data`` (corpus ``root/corpus``), ready to answer."""
    port = free_port()
    argv = [sys.executable, "-m", "jiceng.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"JICENG_DATA_DIR": str(root / "data"), "JICENG_CORPUS_DIR": str(root / "corpus"), **env}
    return Server(argv, port, env=env, log_path=root / f"serve-{port}.log").start(ready_path)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security")
    ingest_paths([copy_corpus(root)], Settings(data_dir=root / "data"), progress=False)
    return root


@pytest.fixture(scope="module")
def api(root: Path) -> Iterator[httpx.Client]:
    """Writes on (API key), a small upload limit, CORS for one origin."""
    env = {
        "JICENG_API_KEY": KEY,
        "JICENG_SERVER_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB),
        "JICENG_SERVER_CORS_ORIGINS": json.dumps([ORIGIN]),
    }
    with serve(root, **env) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """Default settings: no API key, no CORS (and no index: writes must be refused before anything)."""
    server = serve(tmp_path_factory.mktemp("keyless"), ready_path="/openapi.json")
    with server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error["message"]


RAW = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"json": {"question": " \n\t\u3000 "}}, 400, "empty_question"),
        (
            {"json": {"question": "邻里节", "topk": 3}},
            422,
            "bad_request",
        ),  # unknown field: a typo is not ignored
        ({"json": {"question": "邻里节", "top_k": True}}, 422, "bad_request"),
        ({"json": {"question": "邻里节", "top_k": "5"}}, 422, "bad_request"),
        ({"json": {"question": "邻里节", "top_k": 5.5}}, 422, "bad_request"),
        ({"json": {"question": "邻里节", "top_k": 51}}, 422, "bad_request"),
        ({"json": {"question": "邻里节", "top_k": -1}}, 422, "bad_request"),
        ({"json": {"question": 123}}, 422, "bad_request"),
        ({"json": {"question": None}}, 422, "bad_request"),
        ({"json": {"question": ["邻里节"]}}, 422, "bad_request"),
        ({"json": {"question": "邻里节", "filters": "case"}}, 422, "bad_request"),
        ({"json": {"question": "邻里节", "filters": {"kind": 5}}}, 400, "bad_filter"),
        ({"json": {"question": "邻里节", "filters": {"tags": [""]}}}, 400, "bad_filter"),
        ({"json": {"question": "邻里节", "filters": {"tags": [[["养老"]]]}}}, 400, "bad_filter"),
        ({"json": {"question": "邻里节", "filters": {"../../etc/passwd": "x"}}}, 400, "bad_filter"),
        ({"json": {"question": "邻\x00里节"}}, 400, "bad_question"),
        ({"json": {"question": "邻里节\x1b[31m"}}, 400, "bad_question"),
        ({"json": {"question": "邻里\u202e节"}}, 400, "bad_question"),  # bidi override
        (
            {"content": b'{"question": "\\ud800\\u90bb\\u91cc"}', "headers": RAW},
            400,
            "bad_question",
        ),  # lone surrogate
        ({"content": b'{"question": "\xff\xfe\xba"}', "headers": RAW}, 400, "http_400"),  # invalid UTF-8
        ({"content": b'{"question": ', "headers": RAW}, 422, "bad_request"),  # truncated JSON
        ({"content": b"[]", "headers": RAW}, 422, "bad_request"),
        ({"content": b'{"question": "' + b"1" * 2_000_000 + b'"}', "headers": RAW}, 400, "question_too_long"),
    ],
)
def test_bad_ask_requests_get_a_4xx_with_a_code_and_a_chinese_message(api, request_kwargs, status, code):
    assert_error(api.post("/ask", **request_kwargs), status, code)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/search?q=%FF%FE", 400, "bad_encoding"),  # invalid UTF-8 in the query string
        ("/search?q=%00%E9%82%BB", 400, "bad_question"),
        ("/search?q=%E9%82%BB&k=abc", 422, "bad_request"),
        ("/search?q=%E9%82%BB&k=51", 422, "bad_request"),
        ("/search?q=" + "%E9%82%BB" * 501, 400, "question_too_long"),
        ("/documents/..%2F..%2F..%2Fetc%2Fpasswd", 404, "http_404"),
        ("/documents/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404, "http_404"),
        ("/documents/%FF%FE", 404, "not_found"),
        ("/library/..%2F..%2F..%2Fetc%2Fpasswd", 404, None),  # the built library answers with its own 404 page
        ("/..%2F..%2F..%2F..%2Fetc%2Fpasswd", 404, "http_404"),
        ("/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404, "http_404"),
    ],
)
def test_bad_queries_and_path_traversal_get_a_4xx(api, path, status, code):
    response = api.get(path)
    if code is None:  # under /library/ a miss gets the case library's styled 404 page, not the JSON error
        assert response.status_code == status and response.headers["content-type"].startswith("text/html")
    else:
        assert_error(response, status, code)
    assert "root:" not in response.text


def test_writes_are_disabled_without_a_configured_key(keyless):
    for response in (
        keyless.post("/documents", files={"file": ("a.txt", "网格员每天巡查社区。".encode())}),
        keyless.delete("/documents/gongde-yinhang"),
        keyless.post("/reindex", headers={"X-API-Key": ""}),
        keyless.post("/reindex", headers={"X-API-Key": "anything"}),
    ):
        assert_error(response, 403, "writes_disabled")
        assert "JICENG_API_KEY" in response.json()["error"]["message"]


def test_a_missing_or_wrong_key_is_401_and_changes_nothing(api):
    before = api.get("/healthz").json()["generation"]
    for headers in (
        {},
        {"X-API-Key": ""},
        {"X-API-Key": KEY.upper()},
        {"X-API-Key": KEY + "x"},
        {"X-API-Key": KEY[:-1]},
    ):
        assert_error(api.post("/reindex", headers=headers), 401, "unauthorized")
        assert_error(api.delete("/documents/gongde-yinhang", headers=headers), 401, "unauthorized")
        upload = api.post(
            "/documents", headers=headers, files={"file": ("a.txt", "网格员每天巡查社区。".encode())}
        )
        assert_error(upload, 401, "unauthorized")
    assert api.get("/healthz").json()["generation"] == before
    assert api.get("/documents/gongde-yinhang").status_code == 200


def test_upload_is_stored_under_a_safe_name_searchable_and_deletable(api, root):
    auth = {"X-API-Key": KEY}
    before = {d["doc_id"] for d in api.get("/documents").json()}
    text = "xx社区推行“楼道微花园”项目，由12名志愿者每周六清理楼道杂物并种植花草。"
    response = api.post(
        "/documents", headers=auth, files={"file": ("../../etc/楼道 微花园.txt", text.encode())}
    )
    assert response.status_code == 201, response.text
    doc_id = response.json()["document"]["doc_id"]
    assert response.json()["report"]["added"] == 1
    uploads = root / "data" / "uploads"
    assert response.json()["stored_as"] == "楼道_微花园.txt"
    assert [p.name for p in uploads.iterdir() if not p.name.startswith(".")] == ["楼道_微花园.txt"]
    assert (uploads / "楼道_微花园.txt").read_text(encoding="utf-8") == text
    # The earlier documents are all still there, next to the new one.
    assert {d["doc_id"] for d in api.get("/documents").json()} == before | {doc_id}
    assert (
        api.get("/search", params={"q": "楼道微花园志愿者", "k": 1}).json()["results"][0]["doc_id"] == doc_id
    )
    assert api.get(f"/documents/{doc_id}").json()["text"] == text

    assert api.delete(f"/documents/{doc_id}", headers=auth).status_code == 200
    assert not any(uploads.iterdir())
    assert {d["doc_id"] for d in api.get("/documents").json()} == before
    assert_error(api.delete(f"/documents/{doc_id}", headers=auth), 404, "not_found")
    assert_error(api.delete("/documents/..%2F..%2Fetc", headers=auth), 405, "http_405")  # no such route
    assert_error(api.delete("/documents/.hidden", headers=auth), 422, "bad_request")


def test_names_that_sanitise_alike_are_two_documents_and_a_name_sent_again_replaces_its_own(api, root):
    auth = {"X-API-Key": KEY}
    uploads = root / "data" / "uploads"

    def upload(name: str, text: str) -> dict:
        response = api.post("/documents", headers=auth, files={"file": (name, text.encode())})
        assert response.status_code == 201, response.text
        return response.json()

    spaced = upload("议事 规则.txt", "xx社区议事会每月召开一次，由居民代表轮流主持。")
    underscored = upload("议事_规则.txt", "xx村红白理事会规定婚丧事宜从简办理。")
    assert (spaced["stored_as"], underscored["stored_as"]) == ("议事_规则.txt", "议事_规则-2.txt")
    first, second = spaced["document"]["doc_id"], underscored["document"]["doc_id"]
    assert first != second
    assert "居民代表轮流主持" in api.get(f"/documents/{first}").json()["text"]  # not overwritten
    again = upload("议事 规则.txt", "xx社区议事会每两周召开一次。")
    assert again["stored_as"] == "议事_规则.txt" and again["document"]["doc_id"] == first
    assert api.get(f"/documents/{first}").json()["text"] == "xx社区议事会每两周召开一次。"
    assert "婚丧事宜从简" in api.get(f"/documents/{second}").json()["text"]
    for doc_id in (first, second):
        assert api.delete(f"/documents/{doc_id}", headers=auth).status_code == 200
    assert not any(uploads.iterdir())  # files and the client-name record are gone


def test_an_upload_cannot_take_over_another_documents_id(api):
    before = api.get("/documents/gongde-yinhang").json()
    takeover = "---\nid: gongde-yinhang\ntitle: 假冒\n---\n\n功德银行积分可兑换现金一万元。\n"
    response = api.post(
        "/documents", headers={"X-API-Key": KEY}, files={"file": ("fake.md", takeover.encode())}
    )
    assert_error(response, 409, "doc_id_taken")
    assert api.get("/documents/gongde-yinhang").json() == before


def _docx_with_broken_body() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "not xml at all")
    return buffer.getvalue()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "网格员")
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("empty.txt", b"", 400, "empty_file"),
        ("blank.md", "  \n\u3000\n".encode(), 400, "empty_file"),
        ("photo.txt", PNG, 415, "content_mismatch"),
        ("program.md", b"\x7fELF\x02\x01\x01" + bytes(100), 415, "content_mismatch"),
        ("text.pdf", "网格员每天巡查社区。".encode(), 415, "content_mismatch"),
        ("archive.docx", _zip(), 415, "content_mismatch"),
        ("nul.txt", b"abc\x00\x01\x02def" * 20, 400, "binary_file"),
        ("broken.docx", _docx_with_broken_body(), 400, "bad_file"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj garbage\n%%EOF", 400, "bad_file"),
        ("huge.txt", "网".encode() * int(UPLOAD_LIMIT_MB * 1024 * 1024 / 3 + 10), 413, "file_too_large"),
        ("tool.exe", b"MZ\x90\x00", 415, "unsupported_type"),
        ("no-suffix", "网格员每天巡查社区。".encode(), 415, "unsupported_type"),
        ("../../../.bashrc", b"echo pwned", 415, "unsupported_type"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason_and_change_nothing(api, root, name, data, status, code):
    before = api.get("/healthz").json()
    response = api.post("/documents", headers={"X-API-Key": KEY}, files={"file": (name, data)})
    assert_error(response, status, code)
    assert api.get("/healthz").json() == before
    uploads = root / "data" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_upload_without_a_file_field_or_length_is_refused(api):
    auth = {"X-API-Key": KEY}
    assert_error(api.post("/documents", headers=auth, data={"name": "x"}), 400, "missing_file")
    assert_error(api.post("/documents", headers=auth, json={"file": "网格员"}), 400, "missing_file")
    chunked = api.post("/documents", headers=auth, content=iter([b"--x\r\n"]))  # no Content-Length
    assert_error(chunked, 411, "length_required")
    # A declared size over the limit is refused before the body is read: a raw socket sends 1 GB's
    # headers and no body, and the answer comes back at once.
    host, port = api.base_url.host, api.base_url.port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(
            f"POST /documents HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000000\r\n\r\n".encode()
        )
        reply = b""
        while b"}}" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and json.loads(body)["error"]["code"] == "file_too_large"


@contextlib.contextmanager
def held(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def test_a_write_while_another_runs_is_409(api, root):
    auth = {"X-API-Key": KEY}
    with held(root / "data" / "admin.lock"):  # another upload or worker
        assert_error(api.post("/reindex", headers=auth), 409, "busy")
        assert_error(api.delete("/documents/gongde-yinhang", headers=auth), 409, "busy")
    with held(root / "data" / "ingest.lock"):  # `jiceng ingest` from the shell
        response = api.post(
            "/documents", headers=auth, files={"file": ("a.txt", "网格员每天巡查社区。".encode())}
        )
        assert_error(response, 409, "busy")
        assert_error(api.post("/reindex", headers=auth), 409, "busy")
    assert not any((root / "data" / "uploads").iterdir())  # the refused upload was taken back
    assert api.post("/reindex", headers=auth).status_code == 200  # and writes work again


def test_reindex_keeps_every_document(api):
    before = api.get("/healthz").json()
    report = api.post("/reindex", headers={"X-API-Key": KEY}).json()
    assert report["removed"] == 0 and report["documents"] == before["documents"]
    assert api.get("/healthz").json()["documents"] == before["documents"]


def test_cors_only_for_configured_origins(api, keyless):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = api.options("/ask", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    other = api.options("/ask", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    simple = api.get("/healthz", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    assert api.get("/healthz", headers={"Origin": ORIGIN}).headers["access-control-allow-origin"] == ORIGIN
    off = keyless.options("/ask", headers={"Origin": ORIGIN, **preflight})
    assert "access-control-allow-origin" not in off.headers


def test_planted_html_comes_back_as_json_text_not_markup(api):
    auth = {"X-API-Key": KEY}
    response = api.post(
        "/documents", headers=auth, files={"file": ("planted.md", f"# 留言板\n\n{PLANTED}\n".encode())}
    )
    assert response.status_code == 201, response.text
    doc_id = response.json()["document"]["doc_id"]
    document = api.get(f"/documents/{doc_id}")
    assert document.headers["content-type"] == "application/json"  # a browser never renders it as HTML
    assert PLANTED in document.json()["text"]
    hits = api.get("/search", params={"q": "居民留言原样显示", "k": 1})
    assert hits.headers["content-type"] == "application/json" and PLANTED in hits.json()["results"][0]["text"]
    # An HTML upload keeps only visible text: its scripts never reach the index.
    html = "<html><body><h1>通知</h1><p>周六清理楼道。</p><script>alert(1)</script></body></html>"
    page = api.post("/documents", headers=auth, files={"file": ("notice.html", html.encode())}).json()
    text = api.get(f"/documents/{page['document']['doc_id']}").json()["text"]
    assert "周六清理楼道" in text and "alert" not in text
    for planted_id in (doc_id, page["document"]["doc_id"]):
        assert api.delete(f"/documents/{planted_id}", headers=auth).status_code == 200


def test_case_library_shows_planted_html_as_text(tmp_path):
    corpus = copy_corpus(tmp_path, ["cases/gongde-yinhang.md"])
    case = corpus / "cases" / "gongde-yinhang.md"
    case.write_text(case.read_text(encoding="utf-8") + f"\n{PLANTED}\n", encoding="utf-8")
    env = {"JICENG_CORPUS_DIR": str(corpus), "JICENG_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "site"
    subprocess.run(
        [Path(sys.executable).parent / "jiceng", "site", "build", "--out", str(out)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    page = (out / "cases" / "gongde-yinhang" / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page
