"""The question-answering service the API and CLI share: validate, retrieve, answer, time each stage.

It holds one loaded index generation at a time and swaps it whole when ``jiceng ingest`` switches in
a new one, so a request never mixes documents of one generation with chunks of another.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jiceng.errors import InputError, NotFoundError
from jiceng.ingest.cache import MemoryLru
from jiceng.qa.answer import TermStats, answer_extractive, prepare_document
from jiceng.qa.retrieval import HybridRetriever, RetrievalSources, Snapshot, check_sources, parse_filters
from jiceng.settings import Settings, get_settings
from jiceng.text import tokenize
from jiceng.types import Answer, Document, Passage

log = logging.getLogger(__name__)

MAX_TOP_K = 50
MODES = ("extractive", "llm")


@dataclass(frozen=True)
class Loaded:
    """One generation and everything derived from it; replaced as a whole, never patched."""

    snapshot: Snapshot
    retriever: HybridRetriever
    stats: TermStats
    # Extractive answers are a pure function of the question, the options and this generation, so a
    # repeated question is served from here; the cache goes when the generation is replaced.
    answers: MemoryLru

    @classmethod
    def of(cls, snapshot: Snapshot, settings: Settings) -> Loaded:
        for doc in snapshot.documents.values():
            prepare_document(doc.text)
        # jieba reads its dictionary on first use (~0.5 s), and the model's first call (~50 ms) and the first
        # dense search (7-14 ms in a fresh server) are slow: pay them here, not in the first user's request.
        tokenize("预热")
        snapshot.dense_search(snapshot.embedder.embed_queries(["预热"])[0], 1)
        stats = (
            TermStats(n_chunks=len(snapshot.chunks), df=snapshot.term_df)
            if snapshot.term_df is not None
            else TermStats.from_texts(chunk.text for chunk in snapshot.chunks)
        )
        return cls(
            snapshot=snapshot,
            retriever=HybridRetriever(snapshot, settings, glossary=stats.glossary),
            stats=stats,
            answers=MemoryLru(settings.answer.cache_size),
        )


@dataclass(frozen=True)
class _AskRequest:
    """A checked question and its options; ``key`` identifies its extractive answer in the cache."""

    question: str
    top_k: int
    mode: str
    key: tuple
    began: float

    def cached(self, loaded: Loaded) -> Answer | None:
        """The cached extractive answer of this generation, timed as a cache hit."""
        if self.mode != "extractive" or (answer := loaded.answers.get(self.key)) is None:
            return None
        return answer.model_copy(update={"timings_ms": {"cache": _ms(self.began), "total": _ms(self.began)}})


class QAService:
    """``ask`` and ``search`` over the current index generation (or a snapshot handed in)."""

    def __init__(self, settings: Settings | None = None, snapshot: Snapshot | None = None) -> None:
        self.settings = settings or get_settings()
        # A snapshot handed in is pinned: tests and benchmarks ask exactly that index.
        self._pinned = snapshot is not None
        self._loaded: Loaded | None = Loaded.of(snapshot, self.settings) if snapshot is not None else None
        self._lock = threading.Lock()

    def current(self) -> Loaded:
        """The loaded generation, reopened when the store's pointer names a newer one."""
        if (loaded := self._up_to_date()) is not None:
            return loaded
        from jiceng.ingest.store import current_generation, open_current

        with self._lock:
            generation = current_generation(self.settings)
            if self._loaded is None or self._loaded.snapshot.generation != generation:
                began = time.perf_counter()
                fresh = Loaded.of(open_current(self.settings), self.settings)
                log.info(
                    "loaded index generation %s (%d chunks; dense search %s) in %.2f s",
                    fresh.snapshot.generation, len(fresh.snapshot.chunks),
                    "in memory" if fresh.snapshot.dense_in_memory else "by Chroma", time.perf_counter() - began,
                )
                self._loaded = fresh
            return self._loaded

    def _up_to_date(self) -> Loaded | None:
        """The loaded generation if it is still the current one (a cheap pointer read), else None."""
        from jiceng.ingest.store import current_generation

        loaded = self._loaded
        if loaded is not None and (self._pinned or loaded.snapshot.generation == current_generation(self.settings)):
            return loaded
        return None

    async def _current_async(self) -> Loaded:
        # Opening a generation takes seconds at 100k chunks: not on the event loop.
        return self._up_to_date() or await asyncio.to_thread(self.current)

    @property
    def documents(self) -> dict[str, Document]:
        return self.current().snapshot.documents

    def document(self, doc_id: str) -> Document:
        doc = self.documents.get(doc_id)
        if doc is None:
            raise NotFoundError(f"没有编号为 {doc_id} 的文档", f"no document with id {doc_id!r}")
        return doc

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Mapping[str, Any] | None = None,
        *,
        retrieval: RetrievalSources = "hybrid",
    ) -> list[Passage]:
        """Ranked passages for ``query`` (no answer composed); ``retrieval`` = hybrid, bm25 or dense."""
        query, k = self._check_question(query), _check_k(k, "k")
        return self.current().retriever.retrieve(query, k, filters, sources=check_sources(retrieval))

    async def search_async(self, query: str, k: int = 10, filters: Mapping[str, Any] | None = None) -> list[Passage]:
        """``search`` for the API's event loop (see ``ask_async``)."""
        query, k = self._check_question(query), _check_k(k, "k")
        loaded = await self._current_async()
        return await loaded.retriever.retrieve_async(query, k, filters)

    def ask(
        self,
        question: str,
        top_k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: str | None = None,
        *,
        retrieval: RetrievalSources = "hybrid",
    ) -> Answer:
        """Answer ``question`` with citations, or abstain; ``timings_ms`` has one entry per stage.

        ``retrieval`` = bm25 or dense feeds the same answerer from one retriever alone (eval baselines).
        """
        request = self._check_ask(question, top_k, filters, mode, retrieval)
        loaded = self.current()  # one generation for the whole request
        if (cached := request.cached(loaded)) is not None:
            return cached
        timings: dict[str, float] = {}
        passages = loaded.retriever.retrieve(request.question, request.top_k, filters, timings, sources=retrieval)
        return self._compose(request, loaded, passages, timings)

    async def ask_async(
        self, question: str, top_k: int = 5, filters: Mapping[str, Any] | None = None, mode: str | None = None
    ) -> Answer:
        """``ask`` for the API's event loop. No thread waits while the question is embedded (the model
        has its own thread), which saves two thread hand-offs per request (docs/benchmarks.md). The
        searches after it (2-4 ms; with ``chroma run``, one round trip to it) run on the loop; work that
        blocks for long, opening a new generation or calling an LLM, goes to a worker thread."""
        request = self._check_ask(question, top_k, filters, mode, "hybrid")
        loaded = await self._current_async()
        if (cached := request.cached(loaded)) is not None:
            return cached
        timings: dict[str, float] = {}
        passages = await loaded.retriever.retrieve_async(request.question, request.top_k, filters, timings)
        if request.mode == "llm":
            return await asyncio.to_thread(self._compose, request, loaded, passages, timings)
        return self._compose(request, loaded, passages, timings)

    def _check_ask(
        self, question: Any, top_k: Any, filters: Mapping[str, Any] | None, mode: str | None, retrieval: Any
    ) -> _AskRequest:
        began = time.perf_counter()
        question = self._check_question(question)
        top_k = _check_k(top_k, "top_k")
        retrieval = check_sources(retrieval)
        mode = mode or self.settings.answer.mode
        if mode not in MODES:
            raise InputError(
                f"不支持的回答模式：{mode}（可用：extractive、llm）",
                f"unknown mode {mode!r}; use extractive or llm",
                code="bad_mode",
            )
        key = (question, top_k, tuple(sorted(parse_filters(filters).items())), retrieval)
        return _AskRequest(question, top_k, mode, key, began)

    def _compose(
        self, request: _AskRequest, loaded: Loaded, passages: list[Passage], timings: dict[str, float]
    ) -> Answer:
        """The answer from retrieved passages: extractive (cached), then rewritten in LLM mode."""
        clock = time.perf_counter()
        answer = answer_extractive(request.question, passages, loaded.snapshot.documents, loaded.stats, self.settings)
        timings["answer"] = _ms(clock)
        loaded.answers.put(request.key, answer)
        if request.mode == "llm":
            answer = self._llm(request.question, passages, answer, loaded.snapshot.documents)
            timings.update({k: v for k, v in answer.timings_ms.items() if k not in timings})
        timings["total"] = _ms(request.began)
        return answer.model_copy(update={"timings_ms": timings})

    def _llm(self, question: str, passages: list[Passage], extractive: Answer, documents) -> Answer:
        """Delegate to the optional LLM writer; without it (or without an endpoint) keep the extractive answer."""
        try:
            from jiceng.qa.llm import write_llm_answer
        except ImportError:
            log.info("LLM mode asked but jiceng.qa.llm is not available; answering extractively")
            return extractive
        return write_llm_answer(question, passages, extractive, self.settings, documents=documents)

    def _check_question(self, question: Any) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InputError("问题不能为空", "the question is empty", code="empty_question")
        limit = self.settings.answer.max_question_chars
        if len(question) > limit:
            raise InputError(
                f"问题太长（{len(question)} 字），最多 {limit} 字",
                f"the question is too long ({len(question)} characters; at most {limit})",
                code="question_too_long",
            )
        # Cs = lone surrogates (a JSON "\\ud800" escape): they cannot be encoded and crashed opencc.
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch not in "\t\n\r" for ch in question):
            raise InputError(
                "问题中含有控制字符，请删除后重试", "the question contains control characters", code="bad_question"
            )
        if "\ufffd" in question:  # what a decoder leaves of bytes that were not valid UTF-8
            raise InputError(
                "问题中含有无法识别的字符，请使用 UTF-8 编码", "the question is not valid UTF-8", code="bad_encoding"
            )
        return question.strip()


def _check_k(k: Any, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_TOP_K:
        raise InputError(
            f"{name} 必须是 1 到 {MAX_TOP_K} 之间的整数", f"{name} must be an integer from 1 to {MAX_TOP_K}",
            code="bad_top_k",
        )
    return k


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
