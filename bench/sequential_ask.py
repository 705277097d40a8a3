"""One client, one request at a time: /ask latency, the server's own total and embed time, and the gap
between them (HTTP + uvicorn + FastAPI + the client), for A/B runs of the request path.

    python -m bench.sequential_ask http://127.0.0.1:8765 [N] [--synthetic | --set SET.jsonl]

Questions come from an eval set (default: the newest blind set), or with ``--synthetic`` from the
benchmark's generator (for a server on a ``jiceng bench`` corpus); none is repeated, so no cache helps.
The first five warm the server.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx

from jiceng.evals.goldset import load_eval_set


def questions(synthetic: bool, set_path: Path | None = None) -> list[str]:
    if synthetic:
        from bench.synthetic import questions as generated

        return generated(1000, seed=1)
    return [item.question for item in load_eval_set(set_path)]


def main(base: str, n: int = 55, synthetic: bool = False, set_path: Path | None = None) -> None:
    asked = questions(synthetic, set_path)
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("n", type=int, nargs="?", default=55)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--set", type=Path, default=None, help="eval set JSONL (default: the newest blind set, jiceng eval's default)")
    args = parser.parse_args()
    main(args.url, args.n, synthetic=args.synthetic, set_path=args.set)
