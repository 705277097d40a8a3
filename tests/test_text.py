"""Shared Chinese text primitives: offsets stay exact, tokens see domain words, questions lose filler."""

from __future__ import annotations

from jiceng.text import (
    answer_spans,
    block_anchor,
    block_spans,
    list_lead_in,
    normalize_for_match,
    normalize_question,
    sentence_spans,
    tokenize,
    words,
)


def test_sentence_spans_are_exact_offsets() -> None:
    text = "党建引领。居民参与率从不足30%提升至70%以上！是否有效？\n- 列表项；结尾"
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == [
        "党建引领。", "居民参与率从不足30%提升至70%以上！", "是否有效？", "- 列表项；", "结尾",
    ]


def test_block_spans_skip_headings_and_blank_lines() -> None:
    text = "## 背景\n\n第一段。\n\n- 列表一\n- 列表二\n\n### 小节\n末段"
    blocks = [text[a:b] for a, b in block_spans(text)]
    assert blocks == ["第一段。", "- 列表一", "- 列表二", "末段"]
    assert block_anchor(text, text.index("列表二")) == "p-3"
    assert block_anchor(text, text.index("小节")) == "h-2"  # a section title links to itself
    assert block_anchor(text, text.index("\n\n第一段")) == ""  # a blank line has no anchor


def test_a_passage_is_scored_with_the_heading_it_sits_under() -> None:
    text = "# 理论逻辑\n\n## 做法\n\n### 政治引领:破解方向难题\n\n党组织把方向。确保目标一致。\n\n## 成效\n\n参与率提升。"
    under_title = text.index("党组织")
    assert [text[a:b] for a, b in answer_spans(text, under_title, len(text))] == [
        "政治引领:破解方向难题", "党组织把方向。", "确保目标一致。", "参与率提升。",
    ]
    # A heading of a kind (成效) is no statement; above the first heading there is none.
    assert [text[a:b] for a, b in answer_spans(text, text.index("参与率"), len(text))] == ["参与率提升。"]
    assert answer_spans("没有标题的一段话。", 0, 9) == [(0, 9)]


def test_normalize_for_match_folds_width_and_punctuation() -> None:
    assert normalize_for_match("“街乡吹哨、部门报到”, 接诉即办。") == normalize_for_match('"街乡吹哨,部门报到"，接诉即办.')


def test_tokenize_keeps_domain_terms_and_reads_traditional() -> None:
    tokens = tokenize("請問功德銀行和一約四會是什麼？")
    assert "功德银行" in tokens and "一约四会" in tokens
    assert "是" not in tokens and "什么" not in tokens


def test_normalize_question_strips_filler() -> None:
    assert normalize_question("請問朝陽區鄰里節讓居民參與率提高了多少呢？") == "朝阳区邻里节让居民参与率提高了多少"
    # Where the asker points (文件里, 那篇讲) is no topic; what is reported upward (上报材料) stays.
    assert normalize_question("物业老不上心，文件里是怎么说物业的？") == "物业老不上心,是怎么说物业的"
    assert normalize_question("群众怎么把材料上报？") == "群众怎么把材料上报"


def test_a_questions_words_leave_out_pronouns_and_connectives() -> None:
    # 这些 and 那个 say nothing of the topic: as terms they matched a sentence opening with 这些.
    assert words("这些快递小哥，那个社区给他们提供啥服务") == ["快递", "小哥", "社区", "提供", "服务"]


def test_a_list_item_is_read_under_the_line_that_introduces_its_list() -> None:
    text = "案例说明:朝阳区邻里节。\n- 背景:关系疏离。\n- 做法:\n\n- 成效:参与率提升。\n结语。\n- 另一项。"
    effect = text.index("成效")
    assert text[slice(*list_lead_in(text, effect))] == "案例说明:朝阳区邻里节。"
    assert text[slice(*list_lead_in(text, text.index("另一项")))] == "结语。"
    assert list_lead_in(text, text.index("结语")) is None  # a line of its own, no list item
    assert list_lead_in("- 只有列表。", 2) is None  # a list with nothing above it
