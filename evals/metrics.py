"""Answer-quality metrics as pure functions: gold matching, retrieval, citations, abstention, latency.

Matching rule (evals/README.md): texts are compared after ``normalize_for_match`` (width, punctuation
variants, whitespace folded away); a passage or quote *covers* a gold string when they share a common
substring of at least 12 characters, or when it contains the whole gold string if that is shorter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from difflib import SequenceMatcher
from statistics import fmean
from typing import Any

import numpy as np

from jiceng.text import normalize_for_match

MIN_OVERLAP = 12
RETRIEVAL_KS = (1, 3, 5, 10)


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest common substring (autojunk off: it would drop frequent CJK characters)."""
    if not a or not b:
        return 0
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def covers(text: str, gold: str, min_overlap: int = MIN_OVERLAP) -> bool:
    """Whether ``text`` holds ``gold`` under the matching rule."""
    t, g = normalize_for_match(text), normalize_for_match(gold)
    if not g:
        return False
    if len(g) <= min_overlap:
        return g in t
    return longest_common_substring(t, g) >= min_overlap


def covered_gold(text: str, golds: Sequence[str]) -> set[int]:
    """Indices of the gold strings ``text`` covers."""
    return {i for i, gold in enumerate(golds) if covers(text, gold)}


def retrieval_scores(passages: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """hit@k, reciprocal rank and nDCG over the first 10 passages of one answerable question.

    nDCG gain: each gold string counts once, at the first passage covering it; the ideal ranking
    covers every gold string at rank 1 (so one-gold items get the textbook binary nDCG).
    """
    first_rank: int | None = None
    seen: set[int] = set()
    dcg = 0.0
    for rank, text in enumerate(passages[:10], start=1):
        hits = covered_gold(text, golds)
        if hits and first_rank is None:
            first_rank = rank
        dcg += len(hits - seen) / math.log2(rank + 1)
        seen |= hits
    scores = {f"hit@{k}": float(first_rank is not None and first_rank <= k) for k in RETRIEVAL_KS}
    scores["mrr@10"] = 1.0 / first_rank if first_rank else 0.0
    scores["ndcg@10"] = dcg / len(golds) if golds else 0.0
    return scores


def answer_scores(
    answer_text: str, quotes: Sequence[str], abstained: bool, golds: Sequence[str], keys: Sequence[str]
) -> dict[str, float | None]:
    """Citation and key metrics of one answer to an answerable question (ALCE-style, quotes vs gold).

    precision = share of quotes covering some gold string (None without quotes);
    recall = share of gold strings covered by some quote; a refusal answers nothing (keys 0).
    """
    per_quote = [covered_gold(q, golds) for q in quotes]
    union = set().union(*per_quote) if per_quote else set()
    answer_norm = normalize_for_match(answer_text)
    key_hits = [normalize_for_match(k) in answer_norm for k in keys]
    return {
        "first_citation_hit": float(bool(per_quote and per_quote[0])),
        "citation_precision": fmean(bool(c) for c in per_quote) if per_quote else None,
        "citation_recall": len(union) / len(golds) if golds else 0.0,
        "key_coverage": 0.0 if abstained else (fmean(key_hits) if key_hits else 1.0),
    }


# An answer line ending on one of these stops mid-clause (after its [n] markers are set aside).
MID_CLAUSE_ENDS = ",，;；:：、"
_MARKERS = re.compile(r"\[\d+\]")


def ends_mid_clause(answer_text: str) -> bool:
    """Whether some line of an answer (a numbered step, or the whole answer) stops on , ; : or 、."""
    return any(
        (line := _MARKERS.sub("", raw).rstrip()) and line[-1] in MID_CLAUSE_ENDS for raw in answer_text.splitlines()
    )


def citation_is_valid(quote: str, start: int, end: int, document_text: str | None) -> bool:
    """The citation contract: the quote is exactly ``document.text[start:end]`` (unknown document = invalid)."""
    return document_text is not None and 0 <= start < end <= len(document_text) and document_text[start:end] == quote


def score_item(item: Any, answer: Any, latency_ms: float, documents: Mapping[str, str]) -> dict[str, Any]:
    """One record per question: what came back, each citation checked, and the item's scores.

    ``item`` is an ``EvalItem``, ``answer`` a ``jiceng.types.Answer``; ``documents`` maps doc_id -> text.
    """
    citations = [
        {
            "n": c.n,
            "doc_id": c.doc_id,
            "quote": c.quote,
            "start": c.start,
            "end": c.end,
            "valid": citation_is_valid(c.quote, c.start, c.end, documents.get(c.doc_id)),
            "hit": bool(covered_gold(c.quote, item.gold)),
        }
        for c in answer.citations
    ]
    passages = [
        {"rank": p.rank, "doc_id": p.doc_id, "text": p.text, "hit": bool(covered_gold(p.text, item.gold))}
        for p in answer.passages
    ]
    record: dict[str, Any] = {
        "id": item.id,
        "question": item.question,
        "tags": list(item.tags),
        "split": item.split,
        "answerable": item.answerable,
        "abstained": answer.abstained,
        "answer": answer.answer,
        "latency_ms": latency_ms,
        "citations": citations,
        "passages": passages,
        "retrieval": None,
        "answers": None,
    }
    if item.answerable:
        record["retrieval"] = retrieval_scores([p.text for p in answer.passages], item.gold)
        record["answers"] = answer_scores(
            answer.answer, [c.quote for c in answer.citations], answer.abstained, item.gold, item.keys
        )
    return record


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return fmean(kept) if kept else None


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize(records: Sequence[Mapping[str, Any]], mode: str) -> dict[str, Any]:
    """Aggregate records into the report object (keys fixed by the ``--json`` contract)."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    citations = [c for r in records for c in r["citations"]]
    latencies = [r["latency_ms"] for r in records]
    retrieval_keys = [f"hit@{k}" for k in RETRIEVAL_KS] + ["mrr@10", "ndcg@10"]
    answer_keys = ["first_citation_hit", "citation_precision", "citation_recall", "key_coverage"]
    return {
        "mode": mode,
        "n": len(records),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "retrieval": {k: _mean(r["retrieval"][k] for r in answerable) for k in retrieval_keys},
        "answers": {
            **{k: _mean(r["answers"][k] for r in answerable) for k in answer_keys},
            "citation_validity": _mean(float(c["valid"]) for c in citations),
            "mean_quote_chars": _mean(len(c["quote"]) for c in citations),
            "mean_answer_chars": _mean(len(r["answer"]) for r in answerable if not r["abstained"]),
            "mid_clause": _mean(float(ends_mid_clause(r["answer"])) for r in records if not r["abstained"]),
        },
        "abstention": {
            "negative_rejection": _mean(float(r["abstained"]) for r in unanswerable),
            "false_refusal": _mean(float(r["abstained"]) for r in answerable),
        },
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
    }


def per_tag(records: Sequence[Mapping[str, Any]], mode: str) -> dict[str, dict[str, Any]]:
    """The same summary for every tag's subset of records, tags sorted."""
    tags = sorted({t for r in records for t in r["tags"]})
    return {tag: summarize([r for r in records if tag in r["tags"]], mode) for tag in tags}


def failure_reasons(record: Mapping[str, Any]) -> list[str]:
    """Why a record counts as a failure (empty list = passed)."""
    reasons = []
    if record["answerable"]:
        if record["abstained"]:
            reasons.append("false refusal")
        elif not record["answers"]["first_citation_hit"]:
            reasons.append("first citation misses gold")
        if not record["retrieval"]["hit@5"]:
            reasons.append("no gold in top 5 passages")
    elif not record["abstained"]:
        reasons.append("answered an unanswerable question")
    if any(not c["valid"] for c in record["citations"]):
        reasons.append("invalid citation")
    return reasons


def failures(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Failed records with their reasons and what came back (first citation, top passage)."""
    out = []
    for r in records:
        reasons = failure_reasons(r)
        if reasons:
            out.append(
                {
                    "id": r["id"],
                    "question": r["question"],
                    "tags": r["tags"],
                    "reasons": reasons,
                    "answer": r["answer"],
                    "first_quote": r["citations"][0]["quote"] if r["citations"] else None,
                    "top_passage": r["passages"][0]["text"] if r["passages"] else None,
                }
            )
    return out
