"""Measurements behind docs/answers.md: fusion methods compared on an eval set, llama-index's
QueryFusionRetriever overhead, and /ask latency through HTTP.

    python -m bench.qa_measure fusion  [--set SET.jsonl] [--split dev|test|all]
    python -m bench.qa_measure latency --url http://127.0.0.1:8000 [--set SET.jsonl] [--rounds 3]

``--set`` defaults to the newest blind set (``jiceng.evals.goldset.default_set_path()``).

Both read the current index of JICENG_DATA_DIR (fusion) or ask a running server (latency).
Fusion defaults to the dev split: it is for tuning, and the test split stays held out.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from pathlib import Path

import httpx
import numpy as np

from jiceng.evals.goldset import load_eval_set
from jiceng.evals.metrics import percentile, retrieval_scores
from jiceng.qa.retrieval import fuse
from jiceng.settings import get_settings
from jiceng.text import normalize_question

K = 5


def measure_fusion(set_path: Path | None, split: str) -> None:
    from jiceng.ingest.store import open_current

    settings = get_settings()
    snapshot = open_current(settings)
    items = [i for i in load_eval_set(set_path, split) if i.answerable]
    depth = settings.retrieval.candidates
    runs: list[tuple[list, list, list[str]]] = []
    for item in items:
        query = normalize_question(item.question)
        vector = np.asarray(snapshot.embedder.embed_queries([query]))[0]
        runs.append((snapshot.bm25_search(query, depth), snapshot.dense_search(vector, depth), item.gold))
    methods = {"bm25": lambda lex, den: lex, "dense": lambda lex, den: den}
    for k in (10, 60):
        methods[f"rrf k={k}"] = partial(_fused, method="rrf", rrf_k=k)
    for w in (0.3, 0.5, 0.6, 0.7, 0.8):
        methods[f"weighted bm25={w}"] = partial(_fused, method="weighted", bm25_weight=w)
    print(f"{len(items)} answerable questions, {len(snapshot.chunks)} chunks, candidates={depth}")
    print(f"{'method':<20} hit@1  hit@3  hit@5  mrr@10")
    for name, method in methods.items():
        scores = [
            retrieval_scores([snapshot.chunks[i].text for i, _ in method(lex, den)[:10]], gold)
            for lex, den, gold in runs
        ]
        mean = {key: statistics.fmean(s[key] for s in scores) for key in ("hit@1", "hit@3", "hit@5", "mrr@10")}
        print(f"{name:<20} {mean['hit@1']:.3f}  {mean['hit@3']:.3f}  {mean['hit@5']:.3f}  {mean['mrr@10']:.3f}")
    ours = _time_per_query(lambda lex, den: fuse([lex, den], "rrf")[:K], runs)
    print(f"fusion time per query: ours {ours * 1000:.3f} ms", end="")
    try:
        theirs = _time_per_query(_llama_index_fusion(snapshot), runs)
        print(f", llama-index QueryFusionRetriever {theirs * 1000:.3f} ms (same candidate lists)")
    except ImportError as exc:
        print(f" (llama-index not measured: {exc})")


def _fused(lex, den, **how):
    return fuse([lex, den], **how)


def _time_per_query(fusion, runs) -> float:
    began = time.perf_counter()
    for lex, den, _ in runs:
        fusion(lex, den)
    return (time.perf_counter() - began) / len(runs)


def _llama_index_fusion(snapshot):
    """QueryFusionRetriever (reciprocal_rerank, one query, no LLM) over the same candidate lists."""
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
    from llama_index.core.schema import NodeWithScore, TextNode

    class Fixed(BaseRetriever):
        def __init__(self) -> None:
            super().__init__()
            self.hits: list[tuple[int, float]] = []

        def _retrieve(self, query_bundle):
            return [
                NodeWithScore(node=TextNode(id_=snapshot.chunks[i].chunk_id, text=snapshot.chunks[i].text), score=s)
                for i, s in self.hits
            ]

    lexical, dense = Fixed(), Fixed()
    fusion = QueryFusionRetriever(
        [lexical, dense], llm=MockLLM(), mode="reciprocal_rerank", num_queries=1, use_async=False, similarity_top_k=K
    )

    def run(lex, den):
        lexical.hits, dense.hits = lex, den
        return fusion.retrieve("q")

    return run


def measure_latency(url: str, set_path: Path | None, rounds: int) -> None:
    """POST /ask warm, each question ``rounds`` times: wall-clock p50/p95 and the median of each stage the
    server reports (``timings_ms``), of the first round (later rounds are answered from the cache)."""
    questions = [i.question for i in load_eval_set(set_path)]
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/ask", json={"question": questions[0]}).raise_for_status()  # warm-up
        times, stages = [], {}
        for round_ in range(rounds):
            for question in questions:
                began = time.perf_counter()
                response = client.post("/ask", json={"question": question})
                response.raise_for_status()
                times.append((time.perf_counter() - began) * 1000)
                for stage, ms in response.json()["timings_ms"].items() if round_ == 0 else ():
                    stages.setdefault(stage, []).append(ms)
    print(
        f"POST /ask warm, {len(times)} requests ({len(questions)} questions x {rounds}): "
        f"p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms, max {max(times):.0f} ms"
    )
    print("first round, median ms per stage: " + ", ".join(f"{k} {percentile(v, 50):.2f}" for k, v in stages.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    fusion = sub.add_parser("fusion")
    fusion.add_argument("--set", type=Path, default=None, help="eval set JSONL (default: the newest blind set, jiceng eval's default)")
    fusion.add_argument("--split", default="dev", choices=("dev", "test", "all"), help="default dev: never tune on test")
    latency = sub.add_parser("latency")
    latency.add_argument("--url", required=True)
    latency.add_argument("--set", type=Path, default=None, help="eval set JSONL (default: the newest blind set, jiceng eval's default)")
    latency.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.what == "fusion":
        measure_fusion(args.set, args.split)
    else:
        measure_latency(args.url, args.set, args.rounds)


if __name__ == "__main__":
    main()
