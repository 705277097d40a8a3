"""jiceng eval end to end on a three-document index: every mode, the CLI's JSON and reports, --compare,
--check-thresholds, --url against a real server, and bilingual errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jiceng.evals.goldset import EvalItem
from jiceng.evals.runner import MODES, run_eval

from .conftest import running_api

pytestmark = pytest.mark.slow

DOCS = {
    "chaoyang.md": "# 朝阳区社区邻里节\n\n社区居民参与率从不足30%提升至70%以上,邻里纠纷下降40%。\n\n"
    "某楼门通过“楼门议事会”,成功协商解决了长期困扰居民的楼道堆物问题。\n",
    "gongde.md": "# 功德银行\n\nxx多地建设“功德银行”,以户为单位建立账户,明确志愿活动等方面评分细则。\n\n"
    "村民在银行的积分可兑换油、米、盐等生活物资,有效倡导公众行善积德。\n",
    "hangzhou.md": "# 城市大脑\n\n问题发现和处置效率提升50%以上。\n\n"
    "某小区消防通道被占用,系统通过视频识别自动报警,网格员5分钟内到场处理,整个过程仅用时15分钟。\n",
}
ITEMS = [
    EvalItem(id="canyu", question="朝阳区邻里节让居民参与率提高了多少？", answerable=True,
             gold=["社区居民参与率从不足30%提升至70%以上"], keys=["70%"], tags=["numeric"]),
    EvalItem(id="gongde", question="功德银行的积分可以兑换什么？", answerable=True,
             gold=["村民在银行的积分可兑换油、米、盐等生活物资"], keys=["油、米、盐"], tags=["direct"]),
    EvalItem(id="weather", question="明天北京的天气怎么样？", answerable=False, tags=["off-topic"]),
]
CONTRACT = {
    "retrieval": {"hit@1", "hit@5", "mrr@10", "ndcg@10"},
    "answers": {"first_citation_hit", "citation_precision", "citation_recall", "key_coverage", "citation_validity"},
    "abstention": {"negative_rejection", "false_refusal"},
    "latency_ms": {"p50", "p95"},
}


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    from jiceng.ingest.pipeline import ingest_paths
    from jiceng.settings import Settings

    root = tmp_path_factory.mktemp("evalsmall")
    (root / "docs").mkdir()
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    (root / "set.jsonl").write_text(
        "".join(item.model_dump_json() + "\n" for item in ITEMS), encoding="utf-8"
    )
    settings = Settings(data_dir=root / "data")
    ingest_paths([root / "docs"], settings, progress=False)
    return root, settings


def _jiceng(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    # Only this test's settings: a JICENG_LLM_BASE_URL in the caller's shell must not turn the judge on.
    env = {k: v for k, v in os.environ.items() if not k.startswith("JICENG_")} | {"JICENG_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "jiceng.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def _assert_contract(summary: dict) -> None:
    assert {"mode", "n"} <= set(summary)
    for section, keys in CONTRACT.items():
        assert keys <= set(summary[section]), section


def test_every_mode_in_process_finds_the_gold_and_cites_verbatim(small_index):
    _, settings = small_index
    results = {r["summary"]["mode"]: r for r in run_eval(ITEMS, MODES, settings)}
    assert set(results) == set(MODES)
    for mode, result in results.items():
        summary = result["summary"]
        _assert_contract(summary)
        assert summary["retrieval"]["hit@5"] == 1.0, mode
        assert summary["answers"]["citation_validity"] == 1.0, mode  # naive's node offsets included
    # Naive answers everything with its top chunk, so it never rejects the off-topic question.
    assert results["naive"]["summary"]["abstention"]["negative_rejection"] == 0.0
    assert [f["id"] for f in results["naive"]["failures"]] == ["weather"]
    # hybrid, bm25 and dense share the real answerer: it cites the answering sentence and refuses the weather.
    for mode in ("hybrid", "bm25", "dense"):
        summary = results[mode]["summary"]
        assert summary["answers"]["first_citation_hit"] == 1.0, mode
        assert summary["abstention"] == {"negative_rejection": 1.0, "false_refusal": 0.0}, mode
        assert summary["answers"]["mean_quote_chars"] < results["naive"]["summary"]["answers"]["mean_quote_chars"]
    # ...from different retrievals: BM25 shares no term with the weather question, dense ranks all three chunks.
    ranked = {mode: next(r for r in results[mode]["records"] if r["id"] == "weather")["passages"] for mode in MODES}
    assert ranked["bm25"] == [] and len(ranked["dense"]) == 3 and ranked["hybrid"] == ranked["dense"]


def test_cli_json_reports_compare_and_threshold_exit_codes(small_index):
    root, settings = small_index
    out = root / "out"
    run = _jiceng("eval", "--set", "set.jsonl", "--mode", "hybrid", "--mode", "bm25", "--json", "--out", "out",
                  data_dir=settings.data_dir, cwd=root)
    assert run.returncode == 0, run.stderr
    summaries = json.loads(run.stdout)
    assert [s["mode"] for s in summaries] == ["hybrid", "bm25"] and summaries[0]["n"] == 3
    # stderr is a pipe here, as in a log: each mode's progress is a plain line, not a live bar
    for mode in ("hybrid", "bm25"):
        assert f"[进度 / progress] 评估 eval {mode}: 3/3 (100%)" in run.stderr, run.stderr
    assert "\x1b[" not in run.stderr
    for summary in summaries:
        _assert_contract(summary)
    for name in ("report.json", "records.jsonl", "report.md", "summary.png", "per_tag.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    report_md = (out / "report.md").read_text(encoding="utf-8")
    # BM25 finds no shared term for the weather question, so it returns nothing: a refusal, not a failure.
    assert "| retrieval.hit@1 |" in report_md and "## Failures: bm25 (0)" in report_md
    assert "| off-topic | 0 / 1 | - | - | 1.000 | - |" in report_md

    (root / "a.json").write_text(run.stdout, encoding="utf-8")
    compared = _jiceng("eval", "--compare", "a.json", "out/report.json", data_dir=settings.data_dir, cwd=root)
    assert compared.returncode == 0, compared.stderr
    assert "retrieval.hit@1" in compared.stdout and "+0.000" in compared.stdout and "bm25" in compared.stdout

    strict = {"split": "all", "modes": {"hybrid": {"min": {"retrieval.hit@1": 1.01}, "max": {}}}}
    (root / "strict.json").write_text(json.dumps(strict), encoding="utf-8")
    failed = _jiceng("eval", "--set", "set.jsonl", "--check-thresholds", "strict.json",
                     data_dir=settings.data_dir, cwd=root)
    assert failed.returncode == 1
    assert "hybrid retrieval.hit@1 = 1.000, needs >= 1.01" in failed.stderr
    lenient = {"split": "all", "modes": {"hybrid": {"min": {"retrieval.hit@1": 0.9}, "max": {"abstention.false_refusal": 0}}}}
    (root / "lenient.json").write_text(json.dumps(lenient), encoding="utf-8")
    passed = _jiceng("eval", "--set", "set.jsonl", "--check-thresholds", "lenient.json", "--judge",
                     data_dir=settings.data_dir, cwd=root)
    assert passed.returncode == 0, passed.stderr
    assert "LLM judge skipped" in passed.stderr  # no JICENG_LLM_BASE_URL here


def test_bad_input_gets_a_bilingual_message_not_a_traceback(small_index, tmp_path):
    root, settings = small_index
    cases = [
        (("eval", "--set", "set.jsonl", "--split", "later"), "--split"),
        (("eval", "--set", "set.jsonl", "--mode", "magic"), "magic"),
        (("eval", "--set", "missing.jsonl"), "eval set not found"),
        (("eval", "--compare", "set.jsonl", "set.jsonl"), "cannot read eval results"),
    ]
    for args, needle in cases:
        run = _jiceng(*args, data_dir=settings.data_dir, cwd=root)
        assert run.returncode == 2, (args, run.stderr)
        assert "错误" in run.stderr and needle in run.stderr and "Traceback" not in run.stderr
    empty = _jiceng("eval", "--set", str(root / "set.jsonl"), data_dir=tmp_path / "nothing", cwd=tmp_path)
    assert empty.returncode == 2 and "Traceback" not in empty.stderr and "ingest" in empty.stderr


def test_url_mode_scores_a_running_server_like_in_process(small_index):
    root, settings = small_index
    env = {**os.environ, "JICENG_DATA_DIR": str(settings.data_dir)}
    with running_api(root, env) as base:
        run = _jiceng("eval", "--set", "set.jsonl", "--url", base, "--json", data_dir=settings.data_dir, cwd=root)
        assert run.returncode == 0, run.stderr
        remote = json.loads(run.stdout)
        local = run_eval(ITEMS, ["hybrid"], settings)[0]["summary"]
        for section in ("retrieval", "abstention"):
            assert remote[section] == local[section]
        assert remote["answers"]["citation_validity"] == 1.0  # checked through GET /documents/{id}
        baseline = _jiceng("eval", "--set", "set.jsonl", "--url", base, "--mode", "naive",
                           data_dir=settings.data_dir, cwd=root)
        assert baseline.returncode == 2 and "in-process" in baseline.stderr and "naive" in baseline.stderr
        single = _jiceng("eval", "--set", "set.jsonl", "--url", base, "--mode", "hybrid", "--mode", "dense",
                         data_dir=settings.data_dir, cwd=root)
        said = " ".join(single.stderr.split())  # rich wraps long lines
        assert single.returncode == 2 and "hybrid pipeline only" in said and "offers no dense" in said
    down = _jiceng("eval", "--set", "set.jsonl", "--url", base, data_dir=settings.data_dir, cwd=root)
    assert down.returncode == 2 and "cannot reach" in down.stderr
