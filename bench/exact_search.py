"""Dense search cost by collection size: a Chroma query (the on-disk store jiceng uses) against the exact
scan ``IndexSnapshot.dense_search`` does up to ``retrieval.exact_search_max`` chunks. Random unit vectors
of the bundled model's width (384), 40 results as the retriever asks, 300 timed queries after 50 warm-up.

    python bench/exact_search.py [SIZE ...]        # default: 100 1000 10000 20000 50000 100000

Prints one line per size: p50 of each, in ms. Random vectors say nothing about HNSW's recall on real
embeddings, so none is reported (``tests/test_qa_service.py`` checks both find the same passages).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import chromadb
import numpy as np

from jiceng.ingest.store import _exact_top

WIDTH, K, WARM, TIMED = 384, 40, 50, 300


def p50_ms(run, queries: np.ndarray) -> float:
    for query in queries[:WARM]:
        run(query)
    times = []
    for query in queries[WARM:]:
        began = time.perf_counter()
        run(query)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def measure(size: int, rng: np.random.Generator) -> str:
    vectors = rng.standard_normal((size, WIDTH)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((WARM + TIMED, WIDTH)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as folder:
        collection = chromadb.PersistentClient(path=folder).create_collection(
            "bench", embedding_function=None, configuration={"hnsw": {"space": "cosine", "ef_search": 100}}
        )
        for start in range(0, size, 5000):
            ids = [str(i) for i in range(start, min(size, start + 5000))]
            collection.add(ids=ids, embeddings=vectors[start : start + 5000])
        k = min(K, size)

        def chroma(query: np.ndarray) -> list[str]:
            return collection.query(query_embeddings=query.reshape(1, -1), n_results=k, include=[])["ids"][0]

        chroma_ms = p50_ms(chroma, queries)
        scan_ms = p50_ms(lambda query: _exact_top(vectors, query, k), queries)
    return f"{size:>7} chunks: Chroma query p50 {chroma_ms:.3f} ms, exact scan p50 {scan_ms:.3f} ms"


def main(sizes: list[int]) -> None:
    rng = np.random.default_rng(0)
    for size in sizes:
        print(measure(size, rng), flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10_000, 20_000, 50_000, 100_000])
