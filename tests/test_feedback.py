"""Readers' feedback: POST /feedback (open, bounded, rate-limited), stored in SQLite across restarts, listed
behind the write key, exported as an eval set that the eval loader accepts. The app runs in-process
(FastAPI's TestClient); no index is needed for feedback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jiceng.evals.goldset import load_eval_set
from jiceng.qa.api import create_app
from jiceng.qa.feedback import FEEDBACK_DB
from jiceng.settings import FeedbackSettings, Settings

KEY = "k3y-for-feedback-tests"
CITATION = {
    "n": 1,
    "doc_id": "chaoyang-shequ-linlijie",
    "title": "朝阳区“党建引领·社区邻里节”",
    "section": "成效",
    "start": 120,
    "end": 150,
    "quote": "社区居民参与率从不足30%提升至70%以上",
    "url": "/library/cases/chaoyang-shequ-linlijie/#p-9",
}


def _settings(data_dir: Path, **feedback) -> Settings:
    return Settings(data_dir=data_dir, api_key=KEY, feedback=FeedbackSettings(**feedback))


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), client=("203.0.113.7", 50000))


def _assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error  # Chinese first, English after


def test_feedback_is_stored_and_survives_a_new_app(tmp_path):
    settings = _settings(tmp_path / "data")
    body = {"question": " 朝阳区邻里节让居民参与率提高了多少？ ", "rating": "up", "citations": [CITATION]}
    created = _client(settings).post("/feedback", json=body)
    assert created.status_code == 201, created.text
    entry_id = created.json()["id"]

    listed = _client(settings).get("/feedback", headers={"X-API-Key": KEY})  # a new app, same data dir
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 1
    [item] = page["items"]
    assert item["id"] == entry_id and item["rating"] == "up"
    assert item["question"] == "朝阳区邻里节让居民参与率提高了多少？"
    # Only what the answer's citation says about its source; no title/url/n, nothing about the client.
    assert item["citations"] == [{k: CITATION[k] for k in ("doc_id", "start", "end", "quote")}]

    db = tmp_path / "data" / FEEDBACK_DB
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}
        dump = "\n".join(conn.iterdump())
    assert columns == {"id", "created_at", "question", "rating", "note", "citations", "generation"}
    assert "203.0.113.7" not in dump and "testclient" not in dump


def test_list_is_newest_first_with_limit_and_offset(tmp_path):
    client = _client(_settings(tmp_path / "data"))
    ids = [
        client.post("/feedback", json={"question": f"问题{i}", "rating": "down", "note": f"说明{i}"}).json()["id"]
        for i in range(3)
    ]
    auth = {"X-API-Key": KEY}
    assert [e["id"] for e in client.get("/feedback", headers=auth).json()["items"]] == ids[::-1]
    _assert_error(client.get(f"/feedback?offset={2**63}", headers=auth), 422, "bad_request")  # was a 500
    page = client.get("/feedback?limit=1&offset=1", headers=auth).json()
    assert page["total"] == 3 and [e["note"] for e in page["items"]] == ["说明1"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"question": "问", "rating": "meh"}, 422, "bad_request"),
        ({"question": "问", "rating": "down", "note": "错" * 1001}, 400, "note_too_long"),
        ({"question": "问", "rating": "up", "citations": [CITATION] * 21}, 400, "too_many_citations"),
        ({"question": "问" * 501, "rating": "up"}, 400, "question_too_long"),
        ({"question": "  ", "rating": "up"}, 400, "empty_question"),
        ({"question": "问", "rating": "up", "citations": [{**CITATION, "start": 9, "end": 3}]}, 422, "bad_request"),
        ({"question": "问", "rating": "up", "ip": "1.2.3.4"}, 422, "bad_request"),
        ({"question": "问\ud800", "rating": "up"}, 400, "bad_encoding"),
        ({"question": "问", "rating": "down", "note": "错\x00"}, 400, "bad_input"),
        ({"question": "问", "rating": "up", "citations": [{**CITATION, "quote": "\udfff"}]}, 422, "bad_request"),
    ],
)
def test_bad_feedback_is_a_4xx_in_the_usual_shape(tmp_path, body, status, code):
    client = _client(_settings(tmp_path / "data"))
    sent = json.dumps(body)  # ASCII with \u escapes, as a browser's JSON.stringify sends a lone surrogate
    _assert_error(client.post("/feedback", content=sent, headers={"Content-Type": "application/json"}), status, code)
    assert client.get("/feedback", headers={"X-API-Key": KEY}).json()["total"] == 0


def test_too_much_feedback_from_one_client_is_429(tmp_path):
    settings = _settings(tmp_path / "data", rate_per_minute=3)
    client = _client(settings)
    body = {"question": "什么是功德银行？", "rating": "up"}
    assert [client.post("/feedback", json=body).status_code for _ in range(3)] == [201, 201, 201]
    _assert_error(client.post("/feedback", json=body), 429, "rate_limited")
    other = TestClient(client.app, client=("198.51.100.2", 50000))  # another reader is not held up
    assert other.post("/feedback", json=body).status_code == 201
    assert client.get("/feedback", headers={"X-API-Key": KEY}).json()["total"] == 4


def test_listing_needs_the_write_key_like_the_admin_routes(tmp_path):
    client = _client(_settings(tmp_path / "data"))
    _assert_error(client.get("/feedback"), 401, "unauthorized")
    _assert_error(client.get("/feedback", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    keyless = _client(Settings(data_dir=tmp_path / "data"))
    _assert_error(keyless.get("/feedback", headers={"X-API-Key": KEY}), 403, "writes_disabled")
    assert keyless.post("/feedback", json={"question": "问", "rating": "up"}).status_code == 201  # posting is open


def test_page_config_gives_the_limits(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", answer={"max_question_chars": 40})
    assert _client(settings).get("/config").json() == {
        "max_question_chars": 40,
        "feedback_note_max_chars": 1000,
        "feedback_max_citations": 20,
    }


def _jiceng(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"JICENG_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "jiceng.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_export_writes_an_eval_set_the_loader_accepts(tmp_path):
    data = tmp_path / "data"
    client = _client(_settings(data))
    up = {"question": "朝阳区邻里节让居民参与率提高了多少？", "rating": "up", "citations": [CITATION, CITATION]}
    down = {"question": "功德银行的积分能换什么？", "rating": "down", "note": "答案漏了油、米、盐", "citations": [CITATION]}
    bare_up = {"question": "什么是楼门议事会？", "rating": "up"}
    ids = [client.post("/feedback", json=b).json()["id"] for b in (up, down, bare_up)]

    out = tmp_path / "out" / "feedback.jsonl"
    result = _jiceng("feedback", "export", "--out", str(out), data_dir=data)
    assert result.returncode == 0, result.stderr
    message = " ".join(result.stderr.split())  # rich wraps long lines
    assert "跳过 1 条" in message and "1 thumbs-up without citations skipped" in message

    items = load_eval_set(out)
    assert [i.id for i in items] == [f"fb-{ids[0]}", f"fb-{ids[1]}"]
    good, bad = items
    assert good.answerable and good.gold == [CITATION["quote"]] and good.keys == []
    assert good.tags == ["feedback", "up"]
    assert not bad.answerable and bad.gold == [] and bad.tags == ["feedback", "down"]
    raw = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert raw[1]["note"] == "答案漏了油、米、盐"


def test_export_help_is_bilingual(tmp_path):
    result = _jiceng("feedback", "export", "--help", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "导出反馈为评估集" in result.stdout and "Export feedback as an eval set" in result.stdout
