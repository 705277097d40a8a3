"""One client, one request at a time: /ask latency, the server's own total and embed time, and the gap
between them (HTTP + uvicorn + FastAPI + the client), for A/B runs of the request path.

    python bench/sequential_ask.py http://127.0.0.1:8765 [N] [--synthetic]

Questions come from the gold set, or with ``--synthetic`` from the benchmark's generator (for a server
on a ``jiceng bench`` corpus); none is repeated, so no cache helps. The first five warm the server.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import httpx

GOLD = Path(__file__).resolve().parents[1] / "evals" / "sets" / "gold.jsonl"


def questions(synthetic: bool) -> list[str]:
    if synthetic:
        from jiceng.bench.synthetic import questions as generated

        return generated(1000, seed=1)
    return [json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines() if line]


def main(base: str, n: int = 55, synthetic: bool = False) -> None:
    asked = questions(synthetic)
    with httpx.Client(timeout=30) as client:
        for question in asked[:5]:
            client.post(f"{base}/ask", json={"question": question + "？"})
        latency, total, embed = [], [], []
        for question in asked[5 : 5 + n]:
            began = time.perf_counter()
            response = client.post(f"{base}/ask", json={"question": question})
            latency.append((time.perf_counter() - began) * 1000)
            timings = response.json()["timings_ms"]
            total.append(timings["total"])
            embed.append(timings.get("embed", 0.0))
    gap = [client_ms - server_ms for client_ms, server_ms in zip(latency, total)]
    print(
        f"n={len(latency)} /ask p50 {statistics.median(latency):.2f} ms, "
        f"p95 {sorted(latency)[int(0.95 * (len(latency) - 1))]:.2f} ms, "
        f"server total p50 {statistics.median(total):.2f} ms, server embed p50 {statistics.median(embed):.2f} ms, "
        f"HTTP + framework p50 {statistics.median(gap):.2f} ms"
    )


if __name__ == "__main__":
    flags = {a for a in sys.argv[2:] if a.startswith("--")}
    numbers = [int(a) for a in sys.argv[2:] if not a.startswith("--")]
    main(sys.argv[1], *numbers[:1], synthetic="--synthetic" in flags)
