"""Metrics on small hand-made cases whose right values are worked out by hand."""

from __future__ import annotations

import math

import pytest

from jiceng.evals import metrics
from jiceng.evals.goldset import EvalItem
from jiceng.types import Answer, Citation, Passage

GOLD = "社区居民参与率从不足30%提升至70%以上"  # 22 characters


def test_overlap_of_twelve_characters_is_a_hit_eleven_is_not():
    assert metrics.covers("据统计，社区居民参与率从不足30%", GOLD)  # shares 社区居民参与率从不足30% (13 chars)
    assert not metrics.covers("居民参与率从不足3", GOLD)  # 9 chars shared


def test_short_gold_must_be_contained_whole():
    assert metrics.covers("网格员5分钟内到场处理，整个过程仅用时15分钟。", "仅用时15分钟")
    assert not metrics.covers("整个过程仅用时", "仅用时15分钟")


def test_matching_ignores_width_punctuation_and_whitespace():
    assert metrics.covers("村民在银行的积分可兑换油，米，盐 等生活物资", "村民在银行的积分可兑换油、米、盐等生活物资")
    assert metrics.covers("ＡＩ智能养老服务平台，xx省推动的智慧社区建设", "AI智能养老服务平台,xx省推动的智慧社区建设")


def test_retrieval_scores_single_gold_at_rank_three():
    passages = ["无关内容一", "无关内容二", "据报道" + GOLD, "无关"]
    scores = metrics.retrieval_scores(passages, [GOLD])
    assert scores["hit@1"] == 0 and scores["hit@3"] == 1 and scores["hit@5"] == 1
    assert scores["mrr@10"] == pytest.approx(1 / 3)
    assert scores["ndcg@10"] == pytest.approx(1 / math.log2(4))


def test_ndcg_counts_each_gold_once_and_misses_score_zero():
    other = "建立“轮值主席制”,由联盟成员单位党组织轮流担任主席"
    passages = [GOLD, GOLD, other]
    scores = metrics.retrieval_scores(passages, [GOLD, other])
    assert scores["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / 2)
    assert metrics.retrieval_scores(["无关"] * 10 + [GOLD], [GOLD]) == {
        "hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "hit@10": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0,
    }


def test_answer_scores_precision_recall_keys():
    golds = [GOLD, "邻里纠纷下降40%"]
    quotes = [GOLD, "形成了良好氛围", "邻里纠纷下降40%"]
    scores = metrics.answer_scores("参与率提升至70%以上[1]", quotes, False, golds, ["30%", "70%"])
    assert scores == {
        "first_citation_hit": 1.0,
        "citation_precision": pytest.approx(2 / 3),
        "citation_recall": 1.0,
        "key_coverage": 0.5,
    }
    refused = metrics.answer_scores("资料未提及 70%", [], True, golds, ["70%"])
    assert refused == {"first_citation_hit": 0.0, "citation_precision": None, "citation_recall": 0.0,
                       "key_coverage": 0.0}


def test_citation_validity_is_exact_offsets():
    text = "德治是基层治理的长效手段。"
    assert metrics.citation_is_valid("德治是基层治理的长效手段", 0, 12, text)
    assert not metrics.citation_is_valid("德治是基层治理的长效手段", 1, 13, text)
    assert not metrics.citation_is_valid("德治", 0, 2, None)


def _answer(abstained: bool, quote: str | None, passages: list[str]) -> Answer:
    citations = [] if quote is None else [
        Citation(n=1, doc_id="d", title="t", section="", quote=quote, start=0, end=len(quote), url="")
    ]
    return Answer(
        question="q", answer="" if quote is None else quote + "[1]", abstained=abstained, citations=citations,
        passages=[Passage(rank=i + 1, doc_id="d", title="t", section="", text=p, start=0, end=len(p), score=1.0,
                          url="") for i, p in enumerate(passages)],
    )


def test_summary_abstention_latency_and_failures():
    yes = EvalItem(id="a", question="参与率?", answerable=True, gold=[GOLD], keys=["70%"], tags=["numeric"])
    no = EvalItem(id="b", question="预算?", answerable=False, tags=["near-miss"])
    docs = {"d": GOLD}
    records = [
        metrics.score_item(yes, _answer(False, GOLD, [GOLD]), 10.0, docs),
        metrics.score_item(yes.model_copy(update={"id": "c"}), _answer(True, None, ["无关"]), 30.0, docs),
        metrics.score_item(no, _answer(False, "无关内容，长度超过十二个字符的句子", []), 20.0, docs),
        metrics.score_item(no.model_copy(update={"id": "d"}), _answer(True, None, []), 40.0, docs),
    ]
    summary = metrics.summarize(records, "hybrid")
    assert summary["n"] == 4 and summary["retrieval"]["hit@1"] == 0.5
    assert summary["answers"]["first_citation_hit"] == 0.5
    assert summary["answers"]["citation_validity"] == 0.5  # the off-gold quote is not in document d
    assert summary["abstention"] == {"negative_rejection": 0.5, "false_refusal": 0.5}
    assert summary["latency_ms"]["p50"] == 25.0
    assert set(metrics.per_tag(records, "hybrid")) == {"numeric", "near-miss"}
    reasons = {f["id"]: f["reasons"] for f in metrics.failures(records)}
    assert reasons == {
        "c": ["false refusal", "no gold in top 5 passages"],
        "b": ["answered an unanswerable question", "invalid citation"],
    }


def test_an_answer_line_stopping_on_a_comma_or_semicolon_is_mid_clause():
    assert metrics.ends_mid_clause("村民的积分可兑换油、米、盐等生活物资,[1]")
    assert metrics.ends_mid_clause("1. 建立制度;[1]\n2. 落实经费。[2]")
    assert not metrics.ends_mid_clause("村民的积分可兑换油、米、盐等生活物资,[1]有效倡导公众行善积德。[2]")
    assert not metrics.ends_mid_clause("1. 建立制度。[1]\n2. 落实经费。[2]")
