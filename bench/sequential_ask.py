"""One client, one request at a time: /ask latency and the server's own embed time, for comparison with
``jiceng bench``'s load driver.

    python bench/sequential_ask.py http://127.0.0.1:8765 [N]

Questions come from the gold set (never repeated, so no cache helps); the first five warm the server.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import httpx

GOLD = Path(__file__).resolve().parents[1] / "evals" / "sets" / "gold.jsonl"


def main(base: str, n: int = 55) -> None:
    questions = [json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines() if line]
    with httpx.Client(timeout=30) as client:
        for question in questions[:5]:
            client.post(f"{base}/ask", json={"question": question + "？"})
        latency, embed = [], []
        for question in questions[5 : 5 + n]:
            began = time.perf_counter()
            response = client.post(f"{base}/ask", json={"question": question})
            latency.append((time.perf_counter() - began) * 1000)
            embed.append(response.json()["timings_ms"].get("embed", 0.0))
    latency.sort()
    print(
        f"n={len(latency)} /ask p50 {statistics.median(latency):.1f} ms, "
        f"p95 {latency[int(0.95 * (len(latency) - 1))]:.1f} ms, server embed p50 {statistics.median(embed):.1f} ms"
    )


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
