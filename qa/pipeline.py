"""The question-answering pipeline, assembled in one place: retrieve -> relevance -> compose.

``build_pipeline`` wires the stages over one index generation; ``QAService``, the CLI, ``jiceng eval``,
``jiceng bench`` and the tests all get theirs from it. Components are passed in where a caller has its
own (a snapshot, an embedder for questions, a relevance model), so tests hand in small real ones.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from jiceng.ingest.cache import MemoryLru
from jiceng.qa.answer import TermStats, answer_extractive, prepare_document
from jiceng.qa.relevance import RelevanceModel, SentenceVectors, bundled_model
from jiceng.qa.retrieval import HybridRetriever, RetrievalSources, Snapshot
from jiceng.settings import Settings
from jiceng.text import normalize_question, tokenize
from jiceng.types import Answer


@dataclass(frozen=True)
class Pipeline:
    """One index generation and the stages over it; replaced as a whole, never patched."""

    snapshot: Snapshot
    settings: Settings
    retriever: HybridRetriever
    stats: TermStats
    relevance: RelevanceModel
    sentence_vectors: SentenceVectors
    embedder: Any  # embeds questions: the snapshot's unless one was passed in
    # Extractive answers are a pure function of the question, the options and this generation, so a
    # repeated question is served from here; the cache goes when the generation is replaced.
    answers: MemoryLru

    def answer(
        self,
        question: str,
        top_k: int,
        filters: Mapping[str, Any] | None,
        timings: dict[str, float],
        sources: RetrievalSources = "hybrid",
    ) -> Answer:
        """Retrieve a pool of ``max(top_k, answer.pool)`` passages, score their sentences, compose from
        the pool; the answer shows the first ``top_k`` passages. The composer reads deeper than it shows,
        so an answering passage ranked just below the cut (a near-tie of fused scores) is still read."""
        pool = self.retriever.retrieve(question, max(top_k, self.settings.answer.pool), filters, timings, sources)
        clock = time.perf_counter()
        answer = answer_extractive(
            question,
            pool,
            self.snapshot.documents,
            self.stats,
            question_vector=self.question_vector,
            sentence_vectors=self.sentence_vectors,
            model=self.relevance,
            max_sentences=self.settings.answer.max_sentences,
        )
        timings["answer"] = round((time.perf_counter() - clock) * 1000, 2)
        return answer.model_copy(update={"passages": pool[:top_k]})

    def question_vector(self, question: str) -> np.ndarray:
        """The question's vector, as retrieval embedded it (a hit in the embedder's query cache)."""
        return np.asarray(self.embedder.embed_queries([normalize_question(question)]))[0]


def build_pipeline(
    settings: Settings,
    *,
    snapshot: Snapshot | None = None,
    embedder: Any | None = None,
    relevance: RelevanceModel | None = None,
) -> Pipeline:
    """The pipeline over ``snapshot`` (default: the data dir's current generation), questions embedded
    by ``embedder`` (default: the snapshot's), sentences scored by ``relevance`` (default: the model
    fitted on dev). Pays the first-use costs here, not in the first user's request."""
    if snapshot is None:
        from jiceng.ingest.store import open_current

        snapshot = open_current(settings)
    embedder = embedder or snapshot.embedder
    for doc in snapshot.documents.values():
        prepare_document(doc.text)
    # jieba reads its dictionary on first use (~0.5 s), and the model's first call and the first dense
    # search are slow: pay them here.
    tokenize("预热")
    snapshot.dense_search(embedder.embed_queries(["预热"])[0], 1)
    stats = (
        TermStats(n_chunks=len(snapshot.chunks), df=snapshot.term_df)
        if snapshot.term_df is not None
        else TermStats.from_texts(chunk.text for chunk in snapshot.chunks)
    )
    retriever = HybridRetriever(snapshot, settings, glossary=stats.glossary, embedder=embedder)
    return Pipeline(
        snapshot=snapshot,
        settings=settings,
        retriever=retriever,
        stats=stats,
        relevance=relevance or bundled_model(),
        sentence_vectors=SentenceVectors(embedder.embed_passages, settings.answer.sentence_cache_size),
        embedder=embedder,
        answers=MemoryLru(settings.answer.cache_size),
    )
