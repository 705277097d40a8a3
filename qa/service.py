"""The question-answering service the API and CLI share: validate, retrieve, answer, time each stage.

It holds one loaded index generation at a time and swaps it whole when ``jiceng ingest`` switches in
a new one, so a request never mixes documents of one generation with chunks of another.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jiceng.errors import InputError, NotFoundError
from jiceng.qa.pipeline import Pipeline, build_pipeline
from jiceng.qa.retrieval import RetrievalSources, Snapshot, check_sources, parse_filters
from jiceng.settings import Settings, get_settings
from jiceng.types import Answer, Document, Passage

log = logging.getLogger(__name__)

MAX_TOP_K = 50
ANSWER_MODES = ("extractive", "llm")


@dataclass(frozen=True)
class _AskRequest:
    """A checked question and its options; ``key`` identifies its extractive answer in the cache."""

    question: str
    top_k: int
    mode: str
    key: tuple
    began: float

    def cached(self, pipeline: Pipeline) -> Answer | None:
        """The cached extractive answer of this generation, timed as a cache hit."""
        if self.mode != "extractive" or (answer := pipeline.answers.get(self.key)) is None:
            return None
        return answer.model_copy(update={"timings_ms": {"cache": _ms(self.began), "total": _ms(self.began)}})


class QAService:
    """``ask`` and ``search`` over the current index generation (or a pipeline's snapshot handed in).

    Synchronous: the HTTP edge runs it on a worker thread, so there is one code path for every caller."""

    def __init__(
        self, settings: Settings | None = None, snapshot: Snapshot | None = None, *, embedder: Any | None = None
    ) -> None:
        self.settings = settings or get_settings()
        self._embedder = embedder
        # A snapshot handed in is pinned: tests and benchmarks ask exactly that index.
        self._pinned = snapshot is not None
        self._pipeline: Pipeline | None = (
            build_pipeline(self.settings, snapshot=snapshot, embedder=embedder) if snapshot is not None else None
        )
        self._lock = threading.Lock()

    def current(self) -> Pipeline:
        """The pipeline over the current generation, rebuilt when the store's pointer names a newer one."""
        if (pipeline := self._up_to_date()) is not None:
            return pipeline
        from jiceng.ingest.store import current_generation, open_current

        with self._lock:
            generation = current_generation(self.settings)
            if self._pipeline is None or self._pipeline.snapshot.generation != generation:
                began = time.perf_counter()
                fresh = build_pipeline(self.settings, snapshot=open_current(self.settings), embedder=self._embedder)
                log.info(
                    "loaded index generation %s (%d chunks; dense search %s) in %.2f s",
                    fresh.snapshot.generation, len(fresh.snapshot.chunks),
                    "in memory" if fresh.snapshot.dense_in_memory else "by Chroma", time.perf_counter() - began,
                )
                self._pipeline = fresh
            return self._pipeline

    def _up_to_date(self) -> Pipeline | None:
        """The pipeline if its generation is still the current one (a cheap pointer read), else None."""
        from jiceng.ingest.store import current_generation

        pipeline = self._pipeline
        if pipeline is not None and (self._pinned or pipeline.snapshot.generation == current_generation(self.settings)):
            return pipeline
        return None

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
        pipeline = self.current()  # one generation for the whole request
        if (cached := request.cached(pipeline)) is not None:
            return cached
        timings: dict[str, float] = {}
        answer = pipeline.answer(request.question, request.top_k, filters, timings, retrieval)
        pipeline.answers.put(request.key, answer)
        if request.mode == "llm":
            answer = self._llm(request.question, answer.passages, answer, pipeline.snapshot.documents)
            timings.update({k: v for k, v in answer.timings_ms.items() if k not in timings})
        timings["total"] = _ms(request.began)
        return answer.model_copy(update={"timings_ms": timings})

    def _check_ask(
        self, question: Any, top_k: Any, filters: Mapping[str, Any] | None, mode: str | None, retrieval: Any
    ) -> _AskRequest:
        began = time.perf_counter()
        question = self._check_question(question)
        top_k = _check_k(top_k, "top_k")
        retrieval = check_sources(retrieval)
        mode = mode or self.settings.answer.mode
        if mode not in ANSWER_MODES:
            raise InputError(
                f"不支持的回答模式：{mode}（可用：extractive、llm）",
                f"unknown mode {mode!r}; use extractive or llm",
                code="bad_mode",
            )
        key = (question, top_k, tuple(sorted(parse_filters(filters).items())), retrieval)
        return _AskRequest(question, top_k, mode, key, began)

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
