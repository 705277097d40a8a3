"""Chunking on the real seed texts: inline Chinese headings, section paths, exact offsets, packing."""

from __future__ import annotations

from importlib import resources
from itertools import pairwise

import pytest

from jiceng.ingest.chunking import chunk_document, find_headings
from jiceng.settings import Settings
from jiceng.types import Document


def _seed(prefix: str) -> str:
    folder = resources.files("jiceng") / "data" / "seeds"
    return next(p for p in folder.iterdir() if p.name.startswith(prefix)).read_text(encoding="utf-8")


def _doc(text: str) -> Document:
    return Document(doc_id="seed", title="基层治理", text=text)


# Every heading of seed 000 (one long line, headings run straight into their body), as a reader sees them.
SEED_000_HEADINGS = [
    "一、各地推进基层治理创新创造的经验值得总结",
    "(一)重视基层党组织的政治引领作用",
    "(二)将法治深度融入基层治理",
    "(三)充分发挥德治的教化作用",
    "(四)在议事协商中激发基层自治的活力",
    "(五)积极探索基层“智治”新路径",
    "二、我国基层治理创新有待破解的主要难题",
    "(一)治理与民生难题交织叠加",
    "(二)基层负担重的难题尚待破解",
    "(三)多元共治机制有待形成",
    "(四)智能治理效应未充分释放",
    "(五)队伍职业化水平亟待提升",
    "三、推动我国基层治理创新再上新台阶的对策建议",
    "(一)建立健全基层减负长效机制",
    "(二)着力形成多元共治的基层治理机制",
    "(三)寓基层治理于公共服务之中",
    "(四)充分运用数字技术赋能基层治理",
    "(五)加强基层治理队伍专业化建设",
]


def test_seed_000_inline_headings_end_where_the_body_starts() -> None:
    assert [h.title for h in find_headings(_seed("000"))] == SEED_000_HEADINGS


def test_seed_000_chunks_carry_the_section_path() -> None:
    text = _seed("000")
    chunks = chunk_document(_doc(text), Settings())
    dezhi = next(c for c in chunks if c.text.startswith("德治是基层治理的长效手段。"))
    assert dezhi.section == "一、各地推进基层治理创新创造的经验值得总结 › (三)充分发挥德治的教化作用"
    assert "(三)充分发挥德治的教化作用" not in dezhi.text  # the heading is in .section, not in the quote
    preamble = chunks[0]
    assert preamble.section == "" and preamble.text.startswith("基层治理的新经验新形势")


@pytest.mark.parametrize("seed", ["000", "001"])
@pytest.mark.parametrize(("chunk_chars", "overlap"), [(300, 1), (120, 0), (600, 2)])
def test_chunks_are_exact_whole_sentences_within_one_section(seed: str, chunk_chars: int, overlap: int) -> None:
    text = _seed(seed)
    settings = Settings(ingest={"chunk_chars": chunk_chars, "overlap_sentences": overlap})
    chunks = chunk_document(_doc(text), settings)
    headings = find_headings(text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= chunk_chars
        assert not any(chunk.start < h.start < chunk.end for h in headings), "chunk crosses a heading"
        assert chunk.text[-1] in "。！？；”\n" or text[chunk.end : chunk.end + 1] in ("", "\n") or (
            len(chunk.text) > chunk_chars * 0.3  # a long sentence split at a comma
        )
    # Every body character is covered: nothing between chunks is lost (only headings and whitespace).
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    in_heading = {i for h in headings for i in range(h.start, h.end)}
    lost = [i for i in range(len(text)) if i not in covered and i not in in_heading and not text[i].isspace()]
    assert lost == []


def test_overlap_repeats_the_last_sentence() -> None:
    text = "".join(f"第{i}句话讲的是社区治理的一个方面。" for i in range(12))
    chunks = chunk_document(_doc(text), Settings(ingest={"chunk_chars": 60, "overlap_sentences": 1}))
    assert len(chunks) > 2
    for a, b in pairwise(chunks):
        last_sentence = a.text[a.text.rstrip("。").rfind("。") + 1 :]
        assert b.text.startswith(last_sentence)


def test_markdown_and_inline_headings_nest() -> None:
    text = "# 第一部分\n\n一、总体要求\n坚持党建引领。\n（一）工作原则\n以人民为中心。\n1. 依法办事。要严格执行法规。\n\n# 第二部分\n\n正文。"
    chunks = chunk_document(_doc(text), Settings())
    sections = {c.text: c.section for c in chunks}
    assert sections["坚持党建引领。"] == "第一部分 › 一、总体要求"
    assert sections["以人民为中心。\n1. 依法办事。要严格执行法规。"] == "第一部分 › 一、总体要求 › （一）工作原则"
    assert sections["正文。"] == "第二部分"


def test_numbered_list_items_that_are_sentences_stay_body() -> None:
    text = "主要做法有：\n1. 建立网格员队伍，每天巡查。\n2. 设立居民议事会，每月开会一次。\n"
    chunks = chunk_document(_doc(text), Settings())
    assert [c.section for c in chunks] == ["主要做法有："]  # the labelled line heads its list
    assert "1. 建立网格员队伍" in chunks[0].text and "2. 设立居民议事会" in chunks[0].text
    unlabelled = "做法如下。\n1. 建立网格员队伍，每天巡查。\n"
    assert [c.section for c in chunk_document(_doc(unlabelled), Settings())] == [""]


@pytest.mark.parametrize(
    "text",
    [
        "主要措施：1.建立健全制度；2.加强队伍建设。",  # an inline list after ；
        "措施有两条。1.建立健全制度。2.加强队伍建设。",  # no body would be left after a "heading"
        "增长了3.5个百分点。2024年完成改造。",  # numbers, not numbering
    ],
)
def test_inline_lists_and_numbers_are_not_headings(text: str) -> None:
    assert find_headings(text) == []


def test_regulation_chapters_and_sections_nest_and_articles_stay_body() -> None:
    text = "第一章　总则\n第一条　为了加强社区治理，制定本条例。\n第一节　机构\n第二条　社区设居民委员会。\n第二章　附则\n第三条　本条例自公布之日起施行。"
    sections = {c.text: c.section for c in chunk_document(_doc(text), Settings())}
    assert sections == {
        "第一条　为了加强社区治理，制定本条例。": "第一章　总则",
        "第二条　社区设居民委员会。": "第一章　总则 › 第一节　机构",
        "第三条　本条例自公布之日起施行。": "第二章　附则",
    }


def test_inline_headings_of_a_notice_outside_the_seeds() -> None:
    text = (
        "关于加强社区治理的实施意见。一、总体要求坚持党建引领，推进基层治理现代化。二、主要任务（一）健全社区组织体系"
        "社区党组织要发挥领导作用。（二）完善议事协商机制各社区要建立居民议事会，每月召开一次。三、保障措施各级要加强组织领导。"
    )
    assert [h.title for h in find_headings(text)] == [
        "一、总体要求", "二、主要任务", "（一）健全社区组织体系", "（二）完善议事协商机制", "三、保障措施",
    ]
    sections = {c.text: c.section for c in chunk_document(_doc(text), Settings(ingest={"chunk_chars": 50}))}
    assert sections["社区党组织要发挥领导作用。"] == "二、主要任务 › （一）健全社区组织体系"


def test_seed_001_lines_that_head_a_list_or_labelled_lines_are_sections() -> None:
    """Seed 001 is plain text: 路径四:… heads labelled lines, 具体做法: and 案例说明:… head lists. They become
    its section path, so a case's items are read under the case's name; a labelled line above another
    that says something itself (创新实践:加强…建设。 above 具体做法:) stays body text."""
    text = _seed("001")
    chunks = chunk_document(_doc(text), Settings())
    effect = next(c for c in chunks if "深圳培养了一批" in c.text)
    assert effect.section.split(" › ")[-2:] == [
        "路径四:队伍能力创新——建设“专业化、职业化”的基层骨干队伍", "案例说明:广东省深圳市“社区书记工作室”。",
    ]
    assert any("创新实践:加强基层党务工作者" in c.text for c in chunks)
    assert [h.title for h in find_headings(text) if h.title.startswith("挑战")] == [
        "挑战一:形式主义与“两张皮”现象。", "挑战二:资源保障不足。", "挑战三:人才短缺与能力瓶颈。", "挑战四:群众参与度不高。",
    ]
