"""Benchmark jobs, each run in its own child process: ``python -m bench.worker JOB '{json args}'``.

A fresh process per job gives each measurement its own peak RSS (``ru_maxrss``) and keeps models
and indexes of one system from warming caches for the next. The job prints one JSON line.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from jiceng.settings import Settings


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _cpu_s() -> float:
    """CPU seconds of this process: steadier than wall time when other work shares the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _settings(args: dict[str, Any]) -> Settings:
    return Settings(data_dir=Path(args["data_dir"]))


def ingest(args: dict[str, Any]) -> dict[str, Any]:
    """jiceng's ingest of ``source`` into ``data_dir``; timed around ``ingest_paths`` only (the model is
    loaded before the clock starts). ``texts_embedded`` counts every text the model embedded: chunks and
    the sentences the answerer scores."""
    from jiceng.ingest.embedding import get_embedder
    from jiceng.ingest.pipeline import ingest_paths
    from jiceng.ingest.store import open_current

    settings = _settings(args)
    embedder = get_embedder(settings)
    computed = embedder.computed
    started, cpu = time.perf_counter(), _cpu_s()
    # Progress lines go to stderr, which the runner forwards: a 100k ingest embeds for hours.
    report = ingest_paths([Path(args["source"])], settings, progress=True)
    seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu
    return {"seconds": seconds, "cpu_s": cpu, "chunks": len(open_current(settings).chunks),
            "embedded": report.embedded, "texts_embedded": embedder.computed - computed, "peak_rss": _peak_rss()}


def build_baseline(args: dict[str, Any]) -> dict[str, Any]:
    from bench.baselines import build_baseline as build
    from jiceng.ingest.embedding import get_embedder

    settings, cache_passages = _settings(args), args.get("cache_passages", False)
    started, cpu = time.perf_counter(), _cpu_s()
    # The naive build embeds every node, through jiceng's passage cache only with --reuse-embeddings.
    cached = get_embedder(settings) if args["kind"] == "naive" and cache_passages else None
    before = cached.computed if cached else 0
    chunks = build(args["kind"], Path(args["source"]), Path(args["index_dir"]), settings,
                   cache_passages=cache_passages, progress=True)
    if cached:
        embedded = cached.computed - before
    elif args["kind"] == "naive":
        embedded = chunks  # no cache: every node was embedded
    else:
        embedded = None  # bm25s embeds nothing
    return {"seconds": time.perf_counter() - started, "cpu_s": _cpu_s() - cpu, "chunks": chunks,
            "embedded": embedded, "peak_rss": _peak_rss()}


def _bare_backend(settings: Settings):
    """The configured embedding backend alone: no cache, no LRU, no pipeline around it."""
    from jiceng.ingest.embedding import get_embedder

    return get_embedder(settings).backend


def load_model(args: dict[str, Any]) -> dict[str, Any]:
    """Load the configured embedding backend once (the onnx backend builds its graph on first use), so no
    timed job pays for that; returns the model's id."""
    return {"model_id": _bare_backend(_settings(args)).model_id}


def embed_passages(args: dict[str, Any]) -> dict[str, Any]:
    """Bare passage throughput of the configured embedding backend on (a seeded sample of) the very texts
    jiceng's ingest embedded, chunks and sentences alike, fed in the batches the ingest feeds it."""
    from jiceng.ingest.chunking import chunk_sentence_texts, index_text
    from jiceng.ingest.store import open_current

    settings = _settings(args)
    snapshot = open_current(settings)
    chunks_of: dict[str, list] = {}
    for chunk in snapshot.chunks:
        chunks_of.setdefault(chunk.doc_id, []).append(chunk)
    chunk_texts = [index_text(snapshot.documents[c.doc_id], c) for c in snapshot.chunks]
    sentences = [t for doc_id, chunks in chunks_of.items() for t in chunk_sentence_texts(snapshot.documents[doc_id], chunks)]
    texts = list(dict.fromkeys(chunk_texts + sentences))  # the ingest embeds a repeated text once
    sentence_share = len(sentences) / max(len(chunk_texts) + len(sentences), 1)
    if len(texts) > args["sample"]:
        texts = random.Random(0).sample(texts, args["sample"])
    model = _bare_backend(settings)
    batch = settings.embedding.batch_size
    model.embed_passages(texts[:2])  # warm up
    started, cpu = time.perf_counter(), _cpu_s()
    for i in range(0, len(texts), batch):
        model.embed_passages(texts[i : i + batch])
    seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu
    return {"seconds": seconds, "cpu_s": cpu, "texts": len(texts), "texts_per_s": len(texts) / seconds,
            "texts_per_cpu_s": len(texts) / cpu, "sentence_share": sentence_share, "batch": batch}


def embed_queries(args: dict[str, Any]) -> dict[str, Any]:
    """Bare query latency of the configured embedding backend, one question per call (what a request pays),
    on demand: prints "ready" once the model is warm, then answers each stdin line (a JSON list of
    questions) with one line of their latencies in ms, until stdin closes. The runner times blocks of
    questions between blocks of requests."""
    model = _bare_backend(_settings(args))
    model.embed_queries(["预热"])
    print("ready", flush=True)
    for line in sys.stdin:
        latencies = []
        for question in json.loads(line):
            started = time.perf_counter()
            model.embed_queries([question])
            latencies.append((time.perf_counter() - started) * 1000)
        print(json.dumps(latencies), flush=True)
    return {}


def profile_ask(args: dict[str, Any]) -> dict[str, Any]:
    """``QAService.ask`` in-process: latency and the service's stage timers on one set of questions,
    then cProfile on another (profiling slows calls, so it is kept out of the timings)."""
    from jiceng.qa.service import QAService

    service = QAService(settings=_settings(args))
    service.ask("预热问题：如何推进接诉即办？")
    timed, profiled = args["questions"][::2], args["questions"][1::2]
    latencies, stages = [], {}
    for question in timed:
        started = time.perf_counter()
        answer = service.ask(question)
        latencies.append((time.perf_counter() - started) * 1000)
        for stage, ms in answer.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    profiler = cProfile.Profile()
    profiler.enable()
    for question in profiled:
        service.ask(question)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.dump_stats(args["profile_out"])
    return {"latencies_ms": latencies, "stages_ms": stages, "top_own_time": _top_own_time(stats, len(profiled))}


def _top_own_time(stats: pstats.Stats, n: int, limit: int = 10) -> list[dict[str, Any]]:
    """Functions that spend the most time in their own code, per request."""
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:limit]  # type: ignore[attr-defined]
    return [{"function": f"{Path(file).parent.name}/{Path(file).name}:{func}", "ms": own * 1000 / n,
             "calls": calls / n} for (file, _, func), (_, calls, own, _, _) in rows]


def serve_baseline(args: dict[str, Any]) -> dict[str, Any]:
    import uvicorn

    from bench.baselines import create_baseline_app, load_baseline

    baseline = load_baseline(args["kind"], Path(args["index_dir"]), _settings(args))
    # uvicorn's defaults, as `jiceng serve` runs with: both log every request (access log), so neither
    # system's latency is spared a cost the other pays.
    uvicorn.run(create_baseline_app(baseline), host="127.0.0.1", port=args["port"])
    return {}


JOBS = {f.__name__.replace("_", "-"): f for f in (
    ingest, build_baseline, load_model, embed_passages, embed_queries, profile_ask, serve_baseline)}


if __name__ == "__main__":
    print(json.dumps(JOBS[sys.argv[1]](json.loads(sys.argv[2]))), flush=True)
