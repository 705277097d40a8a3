"""Dense search cost by collection size: a Chroma query (the on-disk store jiceng uses) against the
in-memory HNSW index (faiss) ``IndexSnapshot.dense_search`` uses up to ``retrieval.memory_index_max``
chunks, and a full exact scan (one matrix product, numpy's default BLAS threads) for reference.
Random unit vectors of the bundled model's width (384), 40 results as the retriever asks, ef_search 100
as jiceng's default, 300 timed queries after 50 warm-up; the in-memory index's build time too.

    python bench/memory_search.py [SIZE ...]         # default: 100 1000 10000 20000 50000 100000
    python bench/memory_search.py --recall DATA_DIR  # recall@40 on a real index (e.g. bench/out/10k/jiceng-data)

Random vectors are HNSW's hardest case and say little about recall on real embeddings; ``--recall``
embeds 300 of the benchmark's questions and compares the in-memory index and a Chroma query with the
exact scan on that index.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import chromadb
import numpy as np

from jiceng.ingest.store import _build_memory_index, _faiss, _memory_top

WIDTH, K, EF_SEARCH, WARM, TIMED = 384, 40, 100, 50, 300


def p50_ms(run: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    for query in queries[:WARM]:
        run(query)
    times = []
    for query in queries[WARM:]:
        began = time.perf_counter()
        run(query)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return top[np.argsort(-scores[top])].tolist()


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def measure(size: int, rng: np.random.Generator) -> str:
    vectors = unit(rng.standard_normal((size, WIDTH)))
    queries = unit(rng.standard_normal((WARM + TIMED, WIDTH)))
    k = min(K, size)
    with tempfile.TemporaryDirectory() as folder:
        collection = chromadb.PersistentClient(path=folder).create_collection(
            "bench", embedding_function=None, configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}}
        )
        for start in range(0, size, 5000):
            ids = [str(i) for i in range(start, min(size, start + 5000))]
            collection.add(ids=ids, embeddings=vectors[start : start + 5000])

        def chroma(query: np.ndarray) -> list[str]:
            return collection.query(query_embeddings=query.reshape(1, -1), n_results=k, include=[])["ids"][0]

        chroma_ms = p50_ms(chroma, queries)
    began = time.perf_counter()
    index = _build_memory_index(vectors, EF_SEARCH)
    build_s = time.perf_counter() - began
    memory_ms = p50_ms(lambda query: _memory_top(index, query.reshape(1, -1), k), queries)
    scan_ms = p50_ms(lambda query: exact_top(vectors, query, k), queries)
    return (
        f"{size:>7} chunks: Chroma query p50 {chroma_ms:.3f} ms, in-memory HNSW p50 {memory_ms:.3f} ms "
        f"(built in {build_s:.2f} s), exact scan p50 {scan_ms:.3f} ms"
    )


def recall(data_dir: str, n_questions: int = 300) -> str:
    """Recall@K of the in-memory index and of a Chroma query against the exact scan, on a real index."""
    os.environ["JICENG_DATA_DIR"] = data_dir
    from jiceng.bench.synthetic import questions
    from jiceng.ingest.store import _stored_rows, open_current
    from jiceng.settings import get_settings

    settings = get_settings()
    snapshot = open_current(
        settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"memory_index_max": 0})})
    )
    vectors = unit(_stored_rows(snapshot._collection, snapshot.chunks))
    began = time.perf_counter()
    index = _build_memory_index(vectors, EF_SEARCH)
    build_s = time.perf_counter() - began
    memory_hits, chroma_hits = [], []
    for query in snapshot.embedder.embed_queries(questions(n_questions, seed=7)):
        query = np.asarray(query, dtype=np.float32)
        exact = set(exact_top(vectors, query, K))
        memory_hits.append(len(exact & {i for i, _ in _memory_top(index, query.reshape(1, -1), K)}) / K)
        chroma_hits.append(len(exact & {i for i, _ in snapshot.dense_search(query, K)}) / K)
    return (
        f"{len(vectors)} chunks (in-memory HNSW built in {build_s:.2f} s), {n_questions} questions: recall@{K} "
        f"against the exact scan — in-memory HNSW mean {statistics.mean(memory_hits):.4f} "
        f"(min {min(memory_hits):.3f}), Chroma query mean "
        f"{statistics.mean(chroma_hits):.4f} (min {min(chroma_hits):.3f})"
    )


def main(args: list[str]) -> None:
    _faiss()  # its import is not part of the first build's time
    if args[:1] == ["--recall"] and len(args) == 2:
        print(recall(args[1]))
        return
    rng = np.random.default_rng(0)
    for size in [int(a) for a in args] or [100, 1000, 10_000, 20_000, 50_000, 100_000]:
        print(measure(size, rng), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
