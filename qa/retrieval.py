"""Hybrid retrieval: normalised question -> BM25 and dense candidates -> fusion -> metadata filters -> Passages.

``sources`` picks BM25 alone, dense alone or both (the default), so baselines and experiments run the
same normalisation, filters and answerer as the real pipeline. Passage scores are fused scores
(weighted: 0..1), or the one source's raw score (BM25 score, cosine), comparable within one result list only.

Fusion is done here rather than with llama-index's ``QueryFusionRetriever``: with one query it
only re-implements reciprocal-rank fusion, but needs both searches wrapped as ``BaseRetriever``
classes returning ``NodeWithScore`` objects, and runs them through its async/thread machinery;
our snapshot already returns ``(chunk index, score)`` pairs, so fusion is ten lines of arithmetic.
On the same candidate lists it took 1.4-1.7 ms per query against our 0.02 ms (docs/answers.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from jiceng.errors import InputError
from jiceng.qa.crosslingual import Glossary, is_foreign
from jiceng.qa.links import document_url
from jiceng.settings import Settings
from jiceng.text import normalize_question, to_simplified
from jiceng.types import Chunk, Document, Passage

FILTER_FIELDS = ("kind", "region", "path", "tags")
FusionMethod = Literal["rrf", "weighted"]
RetrievalSources = Literal["hybrid", "bm25", "dense"]
SOURCES: tuple[RetrievalSources, ...] = ("hybrid", "bm25", "dense")
# Weighted fusion with BM25 at 0.7 beat RRF on the gold dev split (hit@1 0.89 vs 0.79; 0.6-0.8 tie):
# these questions share the sources' wording, and RRF lets a weak dense rank outvote a strong BM25
# score. Measured with `python -m jiceng.qa.measure fusion`; figures in docs/answers.md.
BM25_WEIGHT = 0.7


class Snapshot(Protocol):
    """What retrieval needs of ``jiceng.ingest.store.IndexSnapshot``."""

    documents: dict[str, Document]
    chunks: list[Chunk]
    embedder: Any
    term_df: dict[str, int] | None  # chunk-level document frequencies, when the index stores them

    def bm25_search(self, query: str, k: int) -> list[tuple[int, float]]: ...
    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...


def parse_filters(filters: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """Validate ``{"kind": "case", "tags": ["养老", ...]}``: known fields, string or list-of-string values."""
    if not filters:
        return {}
    if not isinstance(filters, Mapping):
        raise InputError("filters 必须是对象", "filters must be an object", code="bad_filter")
    parsed: dict[str, tuple[str, ...]] = {}
    for field, value in filters.items():
        if field not in FILTER_FIELDS:
            raise InputError(
                f"未知的筛选字段：{field}（可用：{'、'.join(FILTER_FIELDS)}）",
                f"unknown filter field {field!r}; use one of {', '.join(FILTER_FIELDS)}",
                code="bad_filter",
            )
        if value is None:
            continue
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) and v.strip() for v in values):
            raise InputError(
                f"筛选字段 {field} 的值必须是非空字符串或字符串列表",
                f"filter {field!r} must be a non-empty string or a list of strings",
                code="bad_filter",
            )
        parsed[field] = tuple(to_simplified(v.strip()) for v in values)
    return parsed


def check_sources(sources: Any) -> RetrievalSources:
    """``sources`` if it names a known retrieval (hybrid, bm25, dense), else a bilingual ``InputError``."""
    if sources not in SOURCES:
        raise InputError(
            f"不支持的检索方式：{sources}（可用：{'、'.join(SOURCES)}）",
            f"unknown retrieval {sources!r}; use {', '.join(SOURCES)}",
            code="bad_retrieval",
        )
    return sources


def document_matches(doc: Document, filters: Mapping[str, tuple[str, ...]]) -> bool:
    """Every given field must match (AND); within a field any value may (OR). Region matches by
    substring, so 朝阳区 finds 北京市朝阳区; path and tags by list membership."""
    for field, wanted in filters.items():
        if field == "kind":
            ok = doc.kind in wanted
        elif field == "region":
            region = str(doc.metadata.get("region") or "")
            ok = any(w in region for w in wanted)
        else:
            have = doc.metadata.get(field) or []
            have = [have] if isinstance(have, str) else have
            ok = any(w in have for w in wanted)
        if not ok:
            return False
    return True


def fuse(
    rankings: Sequence[Sequence[tuple[int, float]]],
    method: FusionMethod = "weighted",
    rrf_k: int = 60,
    bm25_weight: float = BM25_WEIGHT,
) -> list[tuple[int, float]]:
    """Fuse ranked ``(chunk index, score)`` lists, best first.

    ``rrf``: sum of 1/(rrf_k + rank). ``weighted``: min-max-normalised scores, BM25 (first list)
    weighted ``bm25_weight``, the rest share the remainder.
    """
    fused: dict[int, float] = {}
    for i, ranking in enumerate(rankings):
        if method == "rrf":
            for rank, (index, _) in enumerate(ranking, start=1):
                fused[index] = fused.get(index, 0.0) + 1.0 / (rrf_k + rank)
            continue
        weight = bm25_weight if i == 0 else (1 - bm25_weight) / max(1, len(rankings) - 1)
        scores = [s for _, s in ranking]
        low, high = (min(scores), max(scores)) if scores else (0.0, 0.0)
        for index, score in ranking:
            norm = (score - low) / (high - low) if high > low else 1.0
            fused[index] = fused.get(index, 0.0) + weight * norm
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


@dataclass
class _Search:
    """One retrieval between its start and its ranking; ``lap`` times each stage into ``timings``."""

    query: str
    lexical: str  # what BM25 matches: the query, or for an English one its Chinese readings
    k: int
    wanted: dict[str, tuple[str, ...]]
    sources: RetrievalSources
    depth: int
    timings: dict[str, float]
    clock: float

    @property
    def needs_vector(self) -> bool:
        return self.sources != "bm25"  # a BM25-only query pays no embedding

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self.clock) * 1000, 2)
        self.clock = now


class HybridRetriever:
    """BM25 and/or dense search over one index snapshot (never mixes generations: it holds one)."""

    def __init__(
        self,
        snapshot: Snapshot,
        settings: Settings,
        method: FusionMethod = "weighted",
        glossary: Glossary | None = None,
        embedder: Any | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.embedder = embedder or snapshot.embedder
        self.settings = settings
        self.method = method
        self.glossary = glossary  # English questions reach BM25 through it (dense search reads English)

    def retrieve(
        self,
        question: str,
        k: int,
        filters: Mapping[str, Any] | None = None,
        timings: dict[str, float] | None = None,
        sources: RetrievalSources = "hybrid",
    ) -> list[Passage]:
        """Ranked passages for ``question`` from ``sources``; ``timings`` (if given) receives ms per stage."""
        search = self._start(question, k, filters, timings, sources)
        vector = np.asarray(self.embedder.embed_queries([search.query]))[0] if search.needs_vector else None
        return self._rank(search, vector)

    def _start(
        self,
        question: str,
        k: int,
        filters: Mapping[str, Any] | None,
        timings: dict[str, float] | None,
        sources: RetrievalSources,
    ) -> _Search:
        sources = check_sources(sources)
        wanted = parse_filters(filters)
        # Filters drop candidates after search, so a filtered query searches deeper.
        depth = min(len(self.snapshot.chunks), self.settings.retrieval.candidates * (10 if wanted else 1))
        began = time.perf_counter()
        query = normalize_question(question)
        lexical = self.glossary.lexical_query(query) if self.glossary and is_foreign(query) else query
        search = _Search(query, lexical, k, wanted, sources, depth, {} if timings is None else timings, began)
        search.lap("normalise")
        return search

    def _rank(self, search: _Search, vector: np.ndarray | None) -> list[Passage]:
        """Search with the embedded question (``vector``, None for BM25 alone), fuse, filter, cut to k."""
        lexical: list[tuple[int, float]] = []
        dense: list[tuple[int, float]] = []
        if vector is not None:
            search.lap("embed")
            dense = self.snapshot.dense_search(vector, search.depth) if search.depth else []
            search.lap("dense")
        if search.sources != "dense":
            lexical = self.snapshot.bm25_search(search.lexical, search.depth) if search.depth else []
            search.lap("bm25")
        if search.sources == "hybrid":
            ranked = fuse([lexical, dense], self.method, self.settings.retrieval.rrf_k)
        else:
            ranked = lexical if search.sources == "bm25" else dense
        passages: list[Passage] = []
        for index, score in ranked:
            chunk = self.snapshot.chunks[index]
            doc = self.snapshot.documents[chunk.doc_id]
            if search.wanted and not document_matches(doc, search.wanted):
                continue
            passages.append(to_passage(chunk, doc, rank=len(passages) + 1, score=score))
            if len(passages) == search.k:
                break
        search.lap("fuse" if search.sources == "hybrid" else "rank")
        return passages


def to_passage(chunk: Chunk, doc: Document, rank: int, score: float) -> Passage:
    return Passage(
        rank=rank,
        doc_id=doc.doc_id,
        title=doc.title,
        section=chunk.section,
        text=chunk.text,
        start=chunk.start,
        end=chunk.end,
        score=round(float(score), 6),
        url=document_url(doc, chunk.start, chunk.end),
        chunk_id=chunk.chunk_id,
    )
