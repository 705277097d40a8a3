"""``jiceng ingest`` and ``jiceng docs`` as a user runs them: real process, exit codes, JSON, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
JICENG = Path(sys.executable).parent / "jiceng"


def _run(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "JICENG_DATA_DIR": str(data_dir)}
    return subprocess.run([JICENG, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_partial_ingest_exit_code_json_report_and_docs_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("红白理事会抵制高价彩礼。", encoding="utf-8")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")

    result = _run("ingest", str(docs), "--json", data_dir=data)
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert (report["files"], report["added"], report["documents"]) == (2, 1, 1)
    [(path, zh, en)] = report["failed"]
    assert path.endswith("broken.pdf") and "PDF" in zh and "corrupt" in en

    listed = json.loads(_run("docs", "list", "--json", data_dir=data).stdout)
    assert [d["title"] for d in listed] == ["红白理事会抵制高价彩礼。"]

    removed = _run("docs", "remove", listed[0]["doc_id"], data_dir=data)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(_run("docs", "list", "--json", data_dir=data).stdout) == []

    missing = _run("docs", "remove", "no-such-doc", data_dir=data)
    assert missing.returncode == 2
    assert "没有这些文档" in missing.stderr and "No such documents" in missing.stderr


def test_all_files_failing_or_a_missing_path_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    failed = _run("ingest", str(tmp_path / "empty.txt"), data_dir=data)
    assert failed.returncode == 2
    assert "文件为空" in failed.stdout and "the file is empty" in failed.stdout  # the summary table

    missing = _run("ingest", str(tmp_path / "nowhere"), data_dir=data)
    assert missing.returncode == 2
    assert "路径不存在" in missing.stderr and "No such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_help_is_bilingual(tmp_path: Path) -> None:
    result = _run("ingest", "--help", data_dir=tmp_path)
    assert result.returncode == 0
    assert "导入文档" in result.stdout and "Ingest documents" in result.stdout and "--prune" in result.stdout


def test_ingest_into_a_log_reports_progress_as_plain_lines(tmp_path: Path) -> None:
    # nohup'd or under cron, stderr is a file: rich's live bar would show nothing for the hours a big
    # folder takes, so each stage says where it stands in lines a log can hold.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("红白理事会抵制高价彩礼。", encoding="utf-8")
    (docs / "b.txt").write_text("网格员每天巡查社区。", encoding="utf-8")
    result = _run("ingest", str(docs), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("[进度 / progress]")]
    for stage in ("读取文件 / loading: 2/2", "向量化 / embedding: 2/2", "写入索引 / indexing: "):
        assert any(line.startswith(f"[进度 / progress] {stage}") and "(100%)" in line for line in lines), stage
    assert "\x1b[" not in result.stderr  # no terminal control codes in a log


def test_rebuild_while_a_server_answers_from_the_old_generation(tmp_path: Path) -> None:
    import time

    import httpx

    from .conftest import running_api

    docs = tmp_path / "docs"
    docs.mkdir()
    topics = ["垃圾分类", "接诉即办", "功德银行", "养老驿站"]
    for n, topic in enumerate(topics):
        lines = [f"{topic}第{i}条：社区第{n}{i}号做法由居委会牵头，每月公示进展并听取居民意见。" for i in range(8)]
        (docs / f"{n}.txt").write_text("\n".join(lines), encoding="utf-8")
    data = tmp_path / "data"
    first = _run("ingest", str(docs), "--json", data_dir=data)
    assert first.returncode == 0, first.stderr
    old = json.loads(first.stdout)["generation"]

    env = {**os.environ, "JICENG_DATA_DIR": str(data)}
    with running_api(tmp_path, env) as base:
        # Another chunk size: nothing may come from the vector cache, so the rebuild takes a while.
        rebuild = subprocess.Popen(
            [JICENG, "ingest", str(docs), "--rebuild", "--json"],
            env={**env, "JICENG_INGEST_CHUNK_CHARS": "120"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        seen_while_building: list[tuple[int, int, str]] = []
        while rebuild.poll() is None:
            search = httpx.get(f"{base}/search", params={"q": "功德银行", "k": 3}, timeout=30)
            health = httpx.get(f"{base}/healthz", timeout=30).json()
            seen_while_building.append((search.status_code, len(search.json()["results"]), health["generation"]))
            time.sleep(0.2)
        out, err = rebuild.communicate()
        assert rebuild.returncode == 0, err
        report = json.loads(out)
        assert report["generation"] != old and report["embedded"] == report["chunks"] > 0

        assert seen_while_building, "the rebuild finished before a single request"
        assert all(status == 200 and passages > 0 for status, passages, _ in seen_while_building)
        assert {generation for *_, generation in seen_while_building} <= {old, report["generation"]}
        assert seen_while_building[0][2] == old
        assert httpx.get(f"{base}/healthz", timeout=60).json()["generation"] == report["generation"]
        assert httpx.get(f"{base}/search", params={"q": "功德银行"}, timeout=30).status_code == 200
