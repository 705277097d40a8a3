"""Ingest: files -> documents -> chunks -> vectors -> a new index generation, incrementally by content hash."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from jiceng.errors import InputError, NotFoundError
from jiceng.ingest import store
from jiceng.ingest.chunking import chunk_document, chunk_sentence_texts, chunking_signature, index_text
from jiceng.ingest.embedding import get_embedder
from jiceng.ingest.loaders import load_document
from jiceng.progress import ProgressBar, progress_display, stage
from jiceng.settings import Settings
from jiceng.types import Chunk, Document

log = logging.getLogger(__name__)


class IngestReport(BaseModel):
    """What one ingest did; ``jiceng ingest --json`` prints it."""

    files: int = Field(0, description="Files looked at.")
    documents: int = Field(0, description="Documents in the index afterwards.")
    chunks: int = Field(0, description="Chunks in the index afterwards.")
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str, str]] = Field(default_factory=list, description="(path, reason_zh, reason_en)")
    embedded: int = Field(0, description="Chunks actually embedded (cache misses).")
    seconds: float = 0.0
    generation: str | None = None


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files to ingest: given files as they are, folders walked (hidden entries and README.md skipped)."""
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(path).parts
                if file.is_file() and not any(p.startswith(".") for p in relative) and file.name != "README.md":
                    yield file
        else:
            yield path


def ingest_paths(
    paths: Iterable[Path | str],
    settings: Settings,
    *,
    prune: bool = False,
    progress: bool = True,
    rebuild: bool = False,
) -> IngestReport:
    """Ingest files and folders into a new index generation and switch to it.

    Unchanged documents (same content hash, same chunking and model) reuse their chunks and cached
    vectors. Documents from earlier ingests that are not seen now are kept, unless ``prune``: then the
    index holds exactly the documents loaded now (plus old versions of files that failed to load now).
    When nothing changed, no new generation is built, unless the current one lacks the in-memory graph
    the settings call for (``store.lacks_saved_graph``). With ``progress``, each stage reports to stderr
    (``jiceng.progress``: a live bar on a terminal, plain lines in a log).

    ``rebuild`` builds a new generation from scratch (``_rebuild``) and ignores ``prune``.
    """
    began = time.perf_counter()
    report = IngestReport()
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise InputError(f"路径不存在：{path}", f"No such file or folder: {path}", code="path_missing")
    with store.ingest_lock(settings), progress_display(progress) as bar:
        store.remove_stale_generations(settings)
        if rebuild:
            return _rebuild(list(_files(paths)), settings, report, bar, began)
        previous = store.read_current(settings)
        # Old chunks are reusable only if they were cut and embedded the way this run would.
        reusable = previous is not None and previous.manifest["model_id"] == get_embedder(settings).model_id and (
            previous.manifest["chunking"] == chunking_signature(settings)
        )
        old_docs = previous.documents if previous else {}
        old_chunks = _by_doc(previous.chunks) if previous else {}
        loaded, failed_sources = _load_files(list(_files(paths)), settings, report, bar)

        documents: dict[str, Document] = {}
        chunks: dict[str, list[Chunk]] = {}
        for doc_id, doc in loaded.items():
            old = old_docs.get(doc_id)
            unchanged = old is not None and old.content_hash == doc.content_hash
            report.unchanged += unchanged
            report.replaced += old is not None and not unchanged
            report.added += old is None
            documents[doc_id] = doc
            chunks[doc_id] = old_chunks.get(doc_id, []) if unchanged and reusable else chunk_document(doc, settings)
        for doc_id, old in old_docs.items():
            if doc_id in documents:
                continue
            if prune and old.source_path not in failed_sources:
                report.removed += 1
                continue
            documents[doc_id] = old
            chunks[doc_id] = old_chunks.get(doc_id, []) if reusable else chunk_document(old, settings)

        keep = previous is not None and reusable and not (report.added or report.replaced or report.removed)
        if keep and store.lacks_saved_graph(settings, previous):
            log.info("nothing changed, but index generation %s has no saved in-memory graph: writing a new "
                     "generation with one", previous.generation)
            keep = False
        if keep:
            report.generation = previous.generation
        else:
            report.generation, report.embedded = _build(settings, documents, chunks, bar)
        _embed_sentences(settings, documents, chunks, bar)
        report.documents = len(documents)
        report.chunks = sum(len(c) for c in chunks.values())
        report.seconds = round(time.perf_counter() - began, 3)
        return report


def _rebuild(
    files: list[Path], settings: Settings, report: IngestReport, bar: ProgressBar | None, began: float
) -> IngestReport:
    """A new generation from scratch: the documents loaded now and nothing else, every one chunked anew,
    always written. The current generation is read for its manifest only (it may be what is broken): its
    vectors' cache is trusted only when it was built with this model and this chunking; otherwise every
    chunk is embedded again. Readers answer from the current generation until the pointer switches.
    Nothing loaded: the index is left as it is."""
    manifest = store.current_manifest(settings)
    embedder = get_embedder(settings)
    reuse = manifest is not None and (
        manifest.get("model_id") == embedder.model_id and manifest.get("chunking") == chunking_signature(settings)
    )
    loaded, _failed = _load_files(files, settings, report, bar)
    if not loaded:
        raise InputError(
            "没有读到任何文档，未重建，现有索引不变",
            "No document could be loaded; nothing was rebuilt and the current index is unchanged",
            code="rebuild_empty",
        )
    old_hashes = (manifest or {}).get("content_hashes", {})
    for doc_id, doc in loaded.items():
        report.added += doc_id not in old_hashes
        report.unchanged += old_hashes.get(doc_id) == doc.content_hash
        report.replaced += doc_id in old_hashes and old_hashes[doc_id] != doc.content_hash
    report.removed = len(old_hashes.keys() - loaded.keys())
    log.info(
        "rebuilding the index from %d documents; embedding cache %s",
        len(loaded),
        "reused (same model and chunking)" if reuse else "ignored (model or chunking changed, or no readable index)",
    )
    chunks = {doc_id: chunk_document(doc, settings) for doc_id, doc in loaded.items()}
    report.generation, report.embedded = _build(settings, loaded, chunks, bar, reuse_vectors=reuse)
    _embed_sentences(settings, loaded, chunks, bar)
    report.documents = len(loaded)
    report.chunks = sum(len(c) for c in chunks.values())
    report.seconds = round(time.perf_counter() - began, 3)
    return report


def _by_doc(chunks: Iterable[Chunk]) -> dict[str, list[Chunk]]:
    grouped: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        grouped.setdefault(chunk.doc_id, []).append(chunk)
    return grouped


def _load_files(
    files: list[Path], settings: Settings, report: IngestReport, bar: ProgressBar | None
) -> tuple[dict[str, Document], set[str]]:
    """Load every file; failures go into ``report`` with their reason. Returns (documents by id, failed paths)."""
    report.files = len(files)
    loaded: dict[str, Document] = {}
    failed_sources: set[str] = set()
    loading = stage(bar, "读取文件 / loading", len(files))
    for file in files:
        try:
            doc = load_document(file, settings)
            if doc.doc_id in loaded:
                first = loaded[doc.doc_id].source_path
                raise InputError(
                    f"{file.name}：文档 id {doc.doc_id} 与 {first} 重复",
                    f"{file.name}: document id {doc.doc_id} duplicates {first}",
                    code="duplicate_id",
                )
            loaded[doc.doc_id] = doc
        except InputError as exc:
            report.failed.append((str(file), exc.message_zh, exc.message_en))
            failed_sources.add(str(file.resolve()))
        if loading:
            loading(1)
    return loaded, failed_sources


def _embed_sentences(
    settings: Settings, documents: dict[str, Document], chunks: dict[str, list[Chunk]], bar: ProgressBar | None
) -> None:
    """Put the vector of every chunk sentence in the embedding cache (those already there are read, not
    recomputed): the answerer scores the sentences of retrieved chunks by them, and a request should
    find them there rather than embed them."""
    sentences = [t for doc_id in sorted(documents) for t in chunk_sentence_texts(documents[doc_id], chunks[doc_id])]
    get_embedder(settings).embed_passages(sentences, on_progress=stage(bar, "句子向量 / sentence vectors", len(sentences)))


def _build(
    settings: Settings,
    documents: dict[str, Document],
    chunks: dict[str, list[Chunk]],
    bar: ProgressBar | None,
    *,
    reuse_vectors: bool = True,
) -> tuple[str, int]:
    """Embed (through the cache, read unless ``reuse_vectors`` is false) and write a new generation;
    returns (generation, chunks embedded)."""
    embedder = get_embedder(settings)
    ordered_docs = sorted(documents.values(), key=lambda d: d.doc_id)
    all_chunks = [c for d in ordered_docs for c in chunks[d.doc_id]]
    texts = [index_text(documents[c.doc_id], c) for c in all_chunks]
    before = embedder.computed
    vectors = embedder.embed_passages(
        texts, on_progress=stage(bar, "向量化 / embedding", len(texts)), reuse=reuse_vectors
    )
    embedded = embedder.computed - before
    passes = 3 if store.uses_memory_index(settings, len(all_chunks)) else 2  # see build_generation
    indexing = stage(bar, "写入索引 / indexing", passes * len(all_chunks))
    generation = store.build_generation(
        settings,
        ordered_docs,
        all_chunks,
        vectors if len(all_chunks) else np.empty((0, embedder.dim), np.float32),
        embedder,
        on_progress=indexing,
    )
    store.remove_stale_generations(settings)
    return generation, embedded


def remove_documents(doc_ids: list[str], settings: Settings, *, progress: bool = True) -> IngestReport:
    """Build a new generation without the given documents (``jiceng docs remove``)."""
    began = time.perf_counter()
    with store.ingest_lock(settings), progress_display(progress) as bar:
        previous = store.read_current(settings)
        missing = [d for d in doc_ids if previous is None or d not in previous.documents]
        if missing:
            raise NotFoundError(f"没有这些文档：{', '.join(missing)}", f"No such documents: {', '.join(missing)}")
        documents = {k: v for k, v in previous.documents.items() if k not in doc_ids}
        old_chunks = _by_doc(previous.chunks)
        chunks = {k: old_chunks.get(k, []) for k in documents}
        generation, embedded = _build(settings, documents, chunks, bar)
    return IngestReport(
        documents=len(documents),
        chunks=sum(len(c) for c in chunks.values()),
        removed=len(doc_ids),
        embedded=embedded,
        seconds=round(time.perf_counter() - began, 3),
        generation=generation,
    )
