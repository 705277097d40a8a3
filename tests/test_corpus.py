"""The bundled corpus and its integrity check: the real corpus passes, and the check catches what it must."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from jiceng.corpus import load_corpus
from jiceng.corpus_check import check_corpus, corpus_app, default_seeds_dir, load_seeds
from jiceng.text import normalize_for_match

REPO = Path(__file__).resolve().parents[1]
CORPUS_DIR = REPO / "corpus"
SHARED_SEEDS = REPO.parent / "shared" / "seeds"
SEED_000 = "000_bb3bc088e18a3995.txt"
JICENG = Path(sys.executable).with_name("jiceng")

# Provinces and big cities: what an anonymised "xx" in seed 000 could be filled in with.
REAL_PLACES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
    "四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 杭州 成都 深圳 南京 广州 武汉 "
    "西安 苏州 宁波 厦门 青岛 大连 沈阳 长沙 郑州 济南 合肥 福州 昆明 贵阳 南宁 西宁 兰州 银川 拉萨 乌鲁木齐"
).split()
_LIST_MARKER = re.compile(r"^- ")


@pytest.fixture(scope="module")
def report():
    return check_corpus(CORPUS_DIR)


@pytest.fixture(scope="module")
def docs():
    return load_corpus(CORPUS_DIR)


@pytest.fixture(scope="module")
def seeds() -> dict[str, str]:
    return {name: seed.text for name, seed in load_seeds(default_seeds_dir()).items()}


def _body_lines(body: str) -> list[str]:
    return [
        _LIST_MARKER.sub("", line) for line in body.splitlines() if line.strip() and not line.startswith("#")
    ]


def _copy_corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, target)
    return target


def test_real_corpus_is_fully_sourced_and_covers_every_seed_sentence(report):
    assert report.problems == []
    assert report.ok
    assert report.sourced_sentences == report.body_sentences > 150
    assert report.seed_sentences == 201 and report.coverage == 1.0
    assert all(s.covered_chars == s.chars for s in report.seeds)


def test_cases_have_spans_region_path_tags_and_discussion(docs):
    cases = [d for d in docs if d.meta.kind == "case"]
    assert len(cases) >= 12
    for case in cases:
        assert case.meta.source and case.meta.region and case.meta.path and case.meta.tags, case.path
        assert 2 <= len(case.meta.discussion) <= 4 and case.meta.discussion_authored, case.path
        sections = re.findall(r"^## (.+)$", case.body, flags=re.M)
        assert sections and set(sections) <= {"背景", "做法", "成效", "启示"}, case.path
        assert "做法" in sections, case.path


def test_the_named_practices_each_have_a_case(docs):
    case_text = "\n".join(d.meta.title + d.body for d in docs if d.meta.kind == "case")
    for practice in (
        "金色中环",
        "杭州",
        "邻里节",
        "社区书记工作室",
        "街乡吹哨",
        "接诉即办",
        "一约四会",
        "功德银行",
        "议事厅",
        "大通县",
        "京心相助",
        "社区细胞",
        "大工委",
        "城乡社区发展治理委员会",
        "市域德治",
        "智能养老",
    ):
        assert practice in case_text, practice


def test_bodies_keep_seed_text_byte_for_byte_so_every_xx_stays(docs, seeds):
    # Stricter than the check (which normalises): punctuation, width and every "xx" exactly as in the seed.
    for doc in docs:
        for line in _body_lines(doc.body):
            assert any(line in text for text in seeds.values()), (doc.path, line)
    corpus_xx = sum(line.count("xx") for doc in docs for line in _body_lines(doc.body))
    assert corpus_xx >= seeds[SEED_000].count("xx")


def test_seed_000_documents_fill_in_no_anonymised_place(docs, seeds):
    only_000 = [d for d in docs if {s.seed for s in d.meta.source} == {SEED_000}]
    assert len(only_000) >= 12
    for doc in only_000:
        text = doc.path.read_text(encoding="utf-8")
        assert [p for p in REAL_PLACES if p in text] == [], doc.path
        for part in doc.meta.region.split("、"):
            assert part in seeds[SEED_000], (doc.path, part)


def test_source_spans_hold_the_documents_text(docs, seeds):
    for doc in docs:
        spans = [normalize_for_match(seeds[s.seed][s.start : s.end]) for s in doc.meta.source]
        for line in _body_lines(doc.body):
            assert any(normalize_for_match(line) in span for span in spans), (doc.path, line)


def test_bundled_seeds_equal_the_shared_seeds():
    if not SHARED_SEEDS.is_dir():
        pytest.skip(f"no {SHARED_SEEDS} on this machine")
    shared = {p.name: p.read_bytes() for p in SHARED_SEEDS.glob("*.txt")}
    bundled = {p.name: p.read_bytes() for p in default_seeds_dir().glob("*.txt")}
    assert bundled == shared


def test_check_reports_an_invented_sentence_with_file_and_line(tmp_path):
    corpus = _copy_corpus(tmp_path)
    case = corpus / "cases" / "gongde-yinhang.md"
    case.write_text(case.read_text(encoding="utf-8") + "\n该模式已在全国推广。\n", encoding="utf-8")
    result = check_corpus(corpus)
    assert not result.ok
    [problem] = result.problems
    assert (problem.kind, problem.text) == ("unsourced", "该模式已在全国推广。")
    assert problem.file == str(case) and problem.line == len(case.read_text(encoding="utf-8").splitlines())


def test_check_reports_a_filled_in_placeholder(tmp_path):
    corpus = _copy_corpus(tmp_path)
    case = corpus / "cases" / "yiyue-sihui.md"
    case.write_text(
        case.read_text(encoding="utf-8").replace("\nxx省xx县不断", "\n浙江省xx县不断"), encoding="utf-8"
    )
    kinds = [(p.kind, p.file) for p in check_corpus(corpus).problems]
    assert kinds == [("unsourced", str(case))]


def test_check_reports_a_dropped_seed_sentence(tmp_path):
    corpus = _copy_corpus(tmp_path)
    policy = corpus / "policies" / "jiceng-zhili-xin-jingyan-duice.md"
    dropped = "建立科学合理的绩效考核机制,持续优化考核督导方式,引导领导干部树立科学政绩观。"
    text = policy.read_text(encoding="utf-8")
    assert text.count(dropped) == 1
    policy.write_text(text.replace(dropped, ""), encoding="utf-8")
    result = check_corpus(corpus)
    assert [(p.kind, p.file, p.text) for p in result.problems] == [("uncovered", SEED_000, dropped)]
    assert result.covered_sentences == result.seed_sentences - 1


def test_check_reports_false_spans(tmp_path):
    corpus = _copy_corpus(tmp_path)
    case = corpus / "cases" / "datong-qunzhong-canyu-xiangmu.md"
    text = case.read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---")[1])
    meta["source"] = [
        {"seed": SEED_000, "start": 0, "end": 100},
        {"seed": SEED_000, "start": 10, "end": 99999},
    ]
    case.write_text(
        "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---" + text.split("---", 2)[2], encoding="utf-8"
    )
    problems = [(p.kind, p.detail) for p in check_corpus(corpus).problems if p.file == str(case)]
    assert ("span", "range outside 0..4546") in problems
    assert ("span", "span holds none of the document's text") in problems
    assert sum("outside the source spans" in d for _, d in problems) == 4  # 3 body sentences + summary


def test_bad_front_matter_is_a_problem_not_a_crash(tmp_path):
    corpus = _copy_corpus(tmp_path)
    case = corpus / "cases" / "gongde-yinhang.md"
    case.write_text(case.read_text(encoding="utf-8").replace("kind: case", "kind: story"), encoding="utf-8")
    problems = check_corpus(corpus).problems
    assert [p.kind for p in problems if p.file == str(case)] == ["front_matter"]


def _tiny_corpus(tmp_path: Path, heading: str) -> tuple[Path, Path]:
    seeds = tmp_path / "seeds"
    seeds.mkdir(parents=True)
    (seeds / "s.txt").write_text("(一)议事厅建设各地建立议事厅。群众参与议事。", encoding="utf-8")
    doc = tmp_path / "corpus" / "cases" / "yishi.md"
    doc.parent.mkdir(parents=True)
    doc.write_text(
        "---\nid: yishi\ntitle: 议事\nkind: case\nregion: xx市\n"
        "source: [{seed: s.txt, start: 0, end: 23}]\n---\n\n"
        f"{heading}\n\n各地建立议事厅。群众参与议事。\n",
        encoding="utf-8",
    )
    return tmp_path / "corpus", seeds


def test_only_headings_lifted_from_the_seed_count_as_coverage(tmp_path):
    lifted = check_corpus(*_tiny_corpus(tmp_path / "a", "### (一)议事厅建设"))
    assert lifted.ok and lifted.coverage == 1.0
    editorial = check_corpus(*_tiny_corpus(tmp_path / "b", "## 做法"))
    assert [(p.kind, p.text) for p in editorial.problems] == [("uncovered", "(一)议事厅建设各地建立议事厅。")]


def test_cli_check_json_and_list():
    runner = CliRunner()
    result = runner.invoke(corpus_app, ["check", "--json", "--corpus", str(CORPUS_DIR)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["coverage"] == 1.0 and data["problems"] == []
    listing = runner.invoke(corpus_app, ["list", "--json", "--corpus", str(CORPUS_DIR)])
    rows = json.loads(listing.output)
    assert {"lujiazui-jinse-zhonghuan-dangjian-lianmeng", "jiceng-zhili-xin-jingyan-duice"} <= {
        r["id"] for r in rows
    }


def test_cli_exit_codes_and_messages(tmp_path):
    corpus = _copy_corpus(tmp_path)
    case = corpus / "cases" / "gongde-yinhang.md"
    case.write_text(case.read_text(encoding="utf-8") + "\n该模式已在全国推广。\n", encoding="utf-8")
    failing = subprocess.run(
        [JICENG, "corpus", "check", "--corpus", str(corpus)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert failing.returncode == 1
    assert (
        "unsourced" in failing.stdout
        and "gongde-yinhang.md:" in failing.stdout
        and "该模式已在全国推广" in failing.stdout
    )
    missing = subprocess.run(
        [JICENG, "corpus", "check", "--corpus", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "语料目录不存在" in missing.stderr and "corpus directory not found" in missing.stderr
    assert "Traceback" not in missing.stderr
