"""Run an eval set against one or more modes and score every answer.

A *target* answers questions one way and exposes the documents its citations point into:

- ``hybrid``: the real pipeline, ``QAService`` in-process or ``POST /ask`` on a running server (``--url``);
- ``bm25`` / ``dense``: the same ``QAService`` (answerer, abstention) fed by one retriever alone
  (``retrieval="bm25"`` / ``"dense"``), in-process only: the HTTP API serves hybrid retrieval;
- ``naive``: a default llama-index ``VectorStoreIndex`` (default ``SentenceSplitter``) over the same
  documents with the same embedding model, top chunk as the answer.

The naive baseline never abstains and quotes whole chunks: that is what such systems do, and the
report shows it (``mean_quote_chars``, negative rejection 0).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from jiceng.errors import BackendUnavailableError, InputError
from jiceng.evals import metrics
from jiceng.evals.goldset import EvalItem
from jiceng.progress import progress_display, stage
from jiceng.settings import Settings
from jiceng.types import Answer, Citation, Passage

MODES = ("hybrid", "bm25", "dense", "naive")
SERVICE_MODES = ("hybrid", "bm25", "dense")  # QAService with this retrieval
RANKING_DEPTH = 10
WARM_UP_QUESTION = "基层治理"


class Target(Protocol):
    """One way of answering: a cited answer, a ranked passage list, and the cited documents' texts."""

    def ask(self, question: str) -> Answer: ...
    def search(self, question: str, k: int) -> list[Passage]: ...
    def document_text(self, doc_id: str) -> str | None: ...


def top_chunk_answer(question: str, passages: Sequence[Passage]) -> Answer:
    """The naive baseline's answer: the first passage, quoted whole."""
    if not passages:
        return Answer(question=question, answer="", abstained=True, mode="top-chunk")
    top = passages[0]
    citation = Citation(
        n=1, doc_id=top.doc_id, title=top.title, section=top.section, quote=top.text,
        start=top.start, end=top.end, url=top.url,
    )
    return Answer(
        question=question, answer=f"{top.text}[1]", abstained=False, citations=[citation],
        passages=list(passages), mode="top-chunk",
    )


class ServiceTarget:
    """``QAService`` in-process with one retrieval (hybrid, bm25, dense): ``ask`` answers, ``search`` ranks."""

    def __init__(self, service: Any, retrieval: str) -> None:
        self.service = service
        self.retrieval = retrieval

    def ask(self, question: str) -> Answer:
        return self.service.ask(question, retrieval=self.retrieval)

    def search(self, question: str, k: int) -> list[Passage]:
        return self.service.search(question, k=k, retrieval=self.retrieval)

    def document_text(self, doc_id: str) -> str | None:
        doc = self.service.documents.get(doc_id)
        return doc.text if doc else None


class NaiveTarget:
    """llama-index defaults over the snapshot's canonical texts, so its offsets are checkable too."""

    def __init__(self, settings: Settings, snapshot: Any) -> None:
        from llama_index.core import Document as LlamaDocument
        from llama_index.core import VectorStoreIndex

        from jiceng.evals.naive import llama_embed_model, llama_settings_offline

        # llama-index announces its MockLLM on stdout, which must stay clean for --json.
        with contextlib.redirect_stdout(sys.stderr):
            llama_settings_offline()
        self.snapshot = snapshot
        documents = [
            LlamaDocument(text=doc.text, id_=doc.doc_id, metadata={"doc_id": doc.doc_id, "title": doc.title})
            for doc in snapshot.documents.values()
        ]
        index = VectorStoreIndex.from_documents(documents, embed_model=llama_embed_model(settings))
        self.retriever = index.as_retriever(similarity_top_k=RANKING_DEPTH)

    def search(self, question: str, k: int) -> list[Passage]:
        passages = []
        for rank, hit in enumerate(self.retriever.retrieve(question)[:k], start=1):
            node = hit.node
            passages.append(
                Passage(
                    rank=rank, doc_id=node.metadata["doc_id"], title=node.metadata["title"], section="",
                    text=node.get_content(), start=node.start_char_idx or 0, end=node.end_char_idx or 0,
                    score=float(hit.score or 0.0), url="",
                )
            )
        return passages

    def ask(self, question: str) -> Answer:
        return top_chunk_answer(question, self.search(question, RANKING_DEPTH))

    def document_text(self, doc_id: str) -> str | None:
        doc = self.snapshot.documents.get(doc_id)
        return doc.text if doc else None


class RemoteTarget:
    """A running jiceng server: ``POST /ask``, ``GET /search``, ``GET /documents/{id}`` over HTTP."""

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._texts: dict[str, str | None] = {}
        self._request("GET", "/healthz")

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """JSON body of a call; 4xx -> ``InputError`` (the server refused), else ``BackendUnavailableError``."""
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(
                f"无法连接评估目标 {self.url}：{exc}", f"cannot reach {self.url}: {exc}", code="eval_target_down"
            ) from exc
        if 400 <= response.status_code < 500:
            message = response.text[:300]
            raise InputError(message, message, code="rejected")
        if response.status_code >= 500:
            raise BackendUnavailableError(
                f"服务器 {path} 返回 {response.status_code}", f"{path} answered {response.status_code}: "
                f"{response.text[:300]}", code="eval_target_error",
            )
        return response.json()

    def ask(self, question: str) -> Answer:
        return Answer.model_validate(self._request("POST", "/ask", json={"question": question}))

    def search(self, question: str, k: int) -> list[Passage]:
        body = self._request("GET", "/search", params={"q": question, "k": k})
        return [Passage.model_validate(p) for p in body["results"]]

    def document_text(self, doc_id: str) -> str | None:
        if doc_id not in self._texts:
            try:
                self._texts[doc_id] = self._request("GET", f"/documents/{doc_id}")["text"]
            except InputError:
                self._texts[doc_id] = None
        return self._texts[doc_id]


def build_targets(modes: Sequence[str], settings: Settings, url: str | None) -> dict[str, Target]:
    """One target per mode; in-process modes share one index snapshot."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InputError(
            f"未知的评估模式：{'、'.join(unknown)}（可用：{'、'.join(MODES)}）",
            f"unknown eval mode(s) {', '.join(unknown)}; use {', '.join(MODES)}",
            code="bad_eval_mode",
        )
    if url:
        others = [m for m in modes if m != "hybrid"]
        if others:
            raise InputError(
                f"--url 只能评估服务器上的 hybrid 流程：服务器 API 不提供 {'、'.join(others)}；"
                "请去掉 --url 在本机运行这些模式",
                f"--url evaluates the server's hybrid pipeline only: its API offers no {', '.join(others)}; "
                "run those modes in-process (without --url)",
                code="bad_eval_mode",
            )
        return {"hybrid": RemoteTarget(url)}
    from jiceng.ingest.store import open_current
    from jiceng.qa.service import QAService

    snapshot = open_current(settings)
    # Past the query LRU: every mode asks the same questions, and a cached vector would hide the
    # embedding cost from all modes but the first.
    cold = dataclasses.replace(snapshot, embedder=getattr(snapshot.embedder, "backend", snapshot.embedder))
    service = QAService(settings, snapshot=cold)  # one index, one answerer for every service mode
    return {
        mode: ServiceTarget(service, mode) if mode in SERVICE_MODES else NaiveTarget(settings, snapshot)
        for mode in modes
    }


def evaluate_target(
    target: Target, items: Sequence[EvalItem], on_progress: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """Score every item: latency is the ask call alone; the ranking comes from a separate depth-10 search."""
    target.ask(WARM_UP_QUESTION)  # load models and caches first: latency is reported warm
    records = []
    for item in items:
        started = time.perf_counter()
        try:
            answer = target.ask(item.question)
        except InputError as exc:
            # A question the system rejects as bad input is a refusal, not a crash of the eval.
            answer = Answer(question=item.question, answer=exc.message, abstained=True)
        latency_ms = (time.perf_counter() - started) * 1000
        ranking = target.search(item.question, RANKING_DEPTH)
        cited = {c.doc_id for c in answer.citations}
        documents = {doc_id: text for doc_id in cited if (text := target.document_text(doc_id)) is not None}
        scored = answer.model_copy(update={"passages": ranking})
        records.append(metrics.score_item(item, scored, latency_ms, documents))
        if on_progress:
            on_progress(1)
    return records


def run_eval(
    items: Sequence[EvalItem],
    modes: Sequence[str],
    settings: Settings,
    url: str | None = None,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate each mode; returns per mode ``{"summary", "per_tag", "failures", "records"}``.

    Progress goes to stderr: a live bar on a terminal, a line every 30 s in a log (``jiceng.progress``).
    """
    targets = build_targets(modes, settings, url)
    results = []
    with progress_display(show_progress) as bar:
        for mode, target in targets.items():
            records = evaluate_target(target, items, on_progress=stage(bar, f"评估 eval {mode}", len(items)))
            results.append(
                {
                    "summary": metrics.summarize(records, mode),
                    "per_tag": metrics.per_tag(records, mode),
                    "failures": metrics.failures(records),
                    "records": records,
                }
            )
    return results
