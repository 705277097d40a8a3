"""One benchmark run: jiceng, a naive llama-index pipeline and bm25s-only, side by side on one machine.

Every heavy step runs in a child process (``bench.worker``) or a real server process, so peak
RSS is per system and nothing one system loads warms the next. Results: ``<out>/<size>/results.json``,
``results.md`` and ``latency.png``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
from rich.console import Console

from jiceng import progress
from bench import module_argv, synthetic
from bench.baselines import BASELINES
from bench.load import (
    ENDPOINTS,
    Server,
    drive,
    drive_with_floor,
    free_port,
    stop_signals_held,
    wait_or_kill,
)
from bench.synthetic import BUNDLED
from jiceng.corpus import corpus_paths
from jiceng.errors import InputError, JicengError
from jiceng.settings import get_settings

console = Console(stderr=True)
GIB = 1024**3
# Issue #8 targets; the /ask-vs-embedding ratio relaxes to 2x at 100k chunks.
TARGETS = {"ask_vs_embed": 1.5, "ask_vs_embed_100k": 2.0, "p95_vs_p50": 2.0, "cached_ms": 5.0,
           "ingest_vs_embed": 0.8, "reingest_share": 0.05, "peak_rss_bytes": 2 * GIB}
FLOOR_BLOCK = 20  # questions per turn of the bare model and of jiceng's /ask c=1 requests


@dataclass
class BenchConfig:
    size: str = "1k"
    chunks: int | None = None  # overrides the size's chunk count (tests use a tiny corpus)
    out_dir: Path = Path("bench/out")
    requests_c1: int = 100
    requests_c8: int = 200
    time_limit_s: float = 90.0
    embed_sample: int = 300  # a seeded sample is enough for a rate, and embedding is the costly part
    profile_questions: int = 30
    baselines: tuple[str, ...] = BASELINES
    reuse_embeddings: bool = False
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """CI-sized: 1k chunks, a few dozen requests per measurement."""
        values = {"size": "1k", "requests_c1": 20, "requests_c8": 40, "time_limit_s": 30.0,
                  "embed_sample": 200, "profile_questions": 10, **overrides}
        return cls(**values)


def dir_size(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


class BenchJobStopped(JicengError):
    """A worker job ended by a signal from outside the bench (``kill``, the OOM killer)."""

    code = "interrupted"


def worker_argv(name: str, args: dict[str, Any]) -> list[str]:
    """The command line of worker job ``name`` (``bench.worker``) with its JSON arguments."""
    return module_argv("bench.worker", name, json.dumps(args, ensure_ascii=False))


def _job(name: str, args: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one worker job in a fresh interpreter; its last stdout line is the JSON result.

    The job's progress lines (``jiceng.progress``) are shown as they come; the rest of its stderr is
    kept for the error message should it fail.
    """
    stderr_tail: deque[str] = deque(maxlen=100)

    def relay_stderr(job: subprocess.Popen) -> None:
        for line in job.stderr:
            if line.startswith(progress.MARK):
                console.print(f"  {line.rstrip()}", markup=False, highlight=False, soft_wrap=True)
            else:
                stderr_tail.append(line)

    job = None
    try:
        with stop_signals_held():  # a stop held until `job` is set is raised here, inside the try
            job = subprocess.Popen(
                worker_argv(name, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                encoding="utf-8", env={**os.environ, **(env or {})},
            )
        relay = threading.Thread(target=relay_stderr, args=(job,), daemon=True)
        relay.start()
        stdout = job.stdout.read()
        job.wait()
        relay.join()
    except BaseException:  # Ctrl-C or SIGTERM to the bench: a 100k ingest job must not run on for hours
        if job is not None:
            job.kill()
            job.wait()
        raise
    if job.returncode < 0:
        stopped_by = signal.Signals(-job.returncode).name
        raise BenchJobStopped(
            f"基准任务 {name} 被外部信号 {stopped_by} 终止；嵌入缓存保留已算好的向量，加 --reuse-embeddings 重跑即可接着算",
            f"bench job {name} was stopped by {stopped_by} from outside the bench; the embedding cache keeps "
            "the vectors already computed, and a run with --reuse-embeddings carries on from them",
        )
    if job.returncode != 0:
        raise RuntimeError(f"bench job {name} failed:\n{''.join(stderr_tail)[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


class BareQueryFloor:
    """The bare model in a process of its own (worker job ``embed-queries``), timing the questions it is
    sent: the floor jiceng's ``/ask`` is set against, measured between its blocks of requests."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.latencies_ms: list[float] = []
        with stop_signals_held():
            self._proc = subprocess.Popen(
                worker_argv("embed-queries", {"data_dir": str(data_dir)}), env={**os.environ, **env},
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                encoding="utf-8",
            )
        try:  # not yet under a ``with``: a failed start or a Ctrl-C while the model loads ends the job here
            if self._proc.stdout.readline().strip() != "ready":
                raise RuntimeError("bench job embed-queries did not start")
        except BaseException:
            self.close()
            raise

    def __call__(self, questions: list[str]) -> None:
        """Time ``questions``, one call each; their latencies join ``latencies_ms``."""
        self._proc.stdin.write(json.dumps(questions, ensure_ascii=False) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("bench job embed-queries stopped")
        self.latencies_ms += json.loads(line)

    def close(self) -> None:
        self._proc.stdin.close()  # the job ends at the end of its input
        wait_or_kill(self._proc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _summary(latencies: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(np.asarray(latencies), [50, 95, 99])
    return {"n": len(latencies), "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


def _fresh_data_dir(data_dir: Path, keep_cache: bool) -> None:
    """Empty ``data_dir``; with ``keep_cache`` the embedding cache survives (see docs/benchmarks.md)."""
    cache = data_dir / "cache"
    parked = data_dir.parent / "cache.parked"
    if keep_cache and cache.exists():
        shutil.rmtree(parked, ignore_errors=True)
        cache.rename(parked)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    if keep_cache and parked.exists():
        parked.rename(cache)


def _http_load(
    server: Server, questions: list[str], config: BenchConfig, floor: BareQueryFloor | None
) -> dict[str, Any]:
    """/search and /ask at concurrency 1 and 8, each with its own unseen questions; with a ``floor``,
    /ask at concurrency 1 alternates with it in blocks of ``FLOOR_BLOCK`` questions."""
    results: dict[str, Any] = {}
    offset = 0
    for endpoint, send in ENDPOINTS.items():
        for concurrency, count in ((1, config.requests_c1), (8, config.requests_c8)):
            batch = questions[offset : offset + count]
            offset += count
            if floor is not None and (endpoint, concurrency) == ("ask", 1):
                load = drive_with_floor(server.url, send, batch, floor, FLOOR_BLOCK, config.time_limit_s)
            else:
                load = drive(server.url, send, batch, concurrency, config.time_limit_s)
            results[f"{endpoint}_c{concurrency}"] = load.summary() | {"statuses": load.statuses}
    return results


def _warm_and_measure(
    server: Server, questions: list[str], config: BenchConfig, floor: BareQueryFloor | None = None
) -> dict[str, Any]:
    """Warm up (models, jieba, caches of the first request), run the load, then repeat one question.

    The repeat shows what a cache buys: the first call of that question is not counted.
    """
    drive(server.url, ENDPOINTS["ask"], ["预热：如何推进接诉即办？"] * 3, 1, 120)
    drive(server.url, ENDPOINTS["search"], ["预热：如何推进接诉即办？"] * 3, 1, 120)
    results = _http_load(server, questions, config, floor)
    repeat = drive(server.url, ENDPOINTS["ask"], [questions[-1]] * 21, 1, 30.0)
    results["cached_repeat"] = _summary(repeat.latencies_ms[1:])
    results["server_peak_rss"] = server.peak_rss()
    results["server_ready_s"] = server.ready_s
    return results


def _bundled_corpus() -> Path:
    """The corpus ``jiceng ingest`` reads by default (``settings.corpus_dir``), which must exist."""
    corpus_dir = get_settings().corpus_dir.resolve()
    if not corpus_dir.is_dir():
        raise InputError(f"找不到自带语料目录 {corpus_dir}（JICENG_CORPUS_DIR）",
                         f"the bundled corpus folder {corpus_dir} does not exist (JICENG_CORPUS_DIR)")
    return corpus_dir


def run_benchmark(config: BenchConfig) -> dict[str, Any]:
    """Run everything for ``config.size``; write results.json, results.md, latency.png; return the results."""
    sizes = [*synthetic.SIZES, BUNDLED]
    if config.size not in sizes:
        raise InputError(f"未知规模 {config.size}，可选 {', '.join(sizes)}",
                         f"unknown size {config.size}; choose {', '.join(sizes)}")
    if config.size == BUNDLED:
        label = BUNDLED
        root = (config.out_dir / label).resolve()
        corpus_dir, data_dir = _bundled_corpus(), root / "jiceng-data"
        console.print(f"[bold]自带语料 / bundled corpus[/] {corpus_dir}")
        files = corpus_paths(corpus_dir)
        manifest = {"params": {"source": str(corpus_dir)}, "files": len(files),
                    "chars": sum(len(p.read_text(encoding="utf-8")) for p in files)}
    else:
        n_chunks = config.chunks or synthetic.SIZES[config.size]
        label = config.size if config.chunks is None else f"{n_chunks}-chunks"
        root = (config.out_dir / label).resolve()
        corpus_dir, data_dir = root / "corpus", root / "jiceng-data"
        console.print(f"[bold]合成语料 / synthetic corpus[/] -> {corpus_dir}")
        manifest = synthetic.generate(corpus_dir, n_chunks, seed=config.seed)
    n_load = 2 * (config.requests_c1 + config.requests_c8) + 2
    questions = synthetic.questions(n_load + config.profile_questions + 100, seed=config.seed)
    load_questions, profile_questions = questions[:n_load], questions[n_load : n_load + config.profile_questions]
    env = {"JICENG_DATA_DIR": str(data_dir), "JICENG_ANSWER_MODE": "extractive",
           # Built embedding graphs outlive a run's data dir: a build is no part of any timed figure.
           "JICENG_EMBEDDING_MODELS_DIR": os.environ.get("JICENG_EMBEDDING_MODELS_DIR",
                                                         str((config.out_dir / "models").resolve()))}
    results: dict[str, Any] = {
        "size": label, "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    # Other work on the same cores shifts every wall-clock figure: keep the evidence.
                    "loadavg_1min": {"start": os.getloadavg()[0]}},
        # Settings the caller changed through the environment (an A/B such as JICENG_RETRIEVAL_MEMORY_INDEX_MAX=0).
        "env_settings": {k: v for k, v in sorted(os.environ.items()) if k.startswith("JICENG_") and k not in env},
        "corpus": manifest, "systems": {},
    }

    _fresh_data_dir(data_dir, keep_cache=config.reuse_embeddings)
    results["embedding_model"] = _job("load-model", {"data_dir": str(data_dir)}, env)["model_id"]
    console.print(f"[bold]jiceng ingest[/] (首次 / first), {results['embedding_model']}")
    first = _job("ingest", {"data_dir": str(data_dir), "source": str(corpus_dir)}, env)
    console.print("[bold]jiceng ingest[/] (未改动重跑 / unchanged re-run)")
    again = _job("ingest", {"data_dir": str(data_dir), "source": str(corpus_dir)}, env)
    ours: dict[str, Any] = {
        "chunks": first["chunks"],
        "ingest": first | {"chunks_per_s": first["chunks"] / first["seconds"],
                           "chunks_per_cpu_s": first["chunks"] / first["cpu_s"],
                           "texts_per_s": first["texts_embedded"] / first["seconds"],
                           "texts_per_cpu_s": first["texts_embedded"] / first["cpu_s"]},
        "reingest": again | {"share_of_first": again["seconds"] / first["seconds"]},
        "index_bytes": dir_size(data_dir) - dir_size(data_dir / "cache"),
    }
    results["corpus"]["chunks"] = first["chunks"]

    console.print("[bold]bare embedding model[/] passages")
    results["bare"] = {
        "passages": _job("embed-passages", {"data_dir": str(data_dir), "sample": config.embed_sample}, env)
    }

    console.print("[bold]profile[/] QAService.ask in-process (cProfile)")
    profile = _job("profile-ask", {"data_dir": str(data_dir), "questions": profile_questions,
                                   "profile_out": str(root / "ask.prof")}, env)
    results["profile"] = {
        "ask_in_process": _summary(profile["latencies_ms"]),
        "stages_p50_ms": {k: float(np.median(v)) for k, v in profile["stages_ms"].items()},
        "top_own_time": profile["top_own_time"],
    }

    # The floor is timed in blocks between blocks of jiceng's /ask c=1 requests, on the same questions:
    # a shared machine's speed drifts by a tenth within minutes and by half within the hour, and
    # a floor timed right before and right after the load (until then) still let the same code's ratio
    # swing by 0.3 between runs.
    console.print("[bold]jiceng serve[/] HTTP load, bare model queries between its /ask c=1 requests")
    port = free_port()
    argv = [sys.executable, "-m", "jiceng.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with Server(argv, port, env, root / "serve-jiceng.log") as server, BareQueryFloor(data_dir, env) as floor:
        server.start()
        ours |= _warm_and_measure(server, load_questions, config, floor)
    results["systems"]["jiceng"] = ours
    results["bare"]["query"] = _summary(floor.latencies_ms) | {"block": FLOOR_BLOCK}
    _save(results, root)

    for kind in config.baselines:
        index_dir = root / f"{kind}-index"
        shutil.rmtree(index_dir, ignore_errors=True)
        console.print(f"[bold]baseline {kind}[/]: build")
        built = _job("build-baseline", {"kind": kind, "source": str(corpus_dir), "index_dir": str(index_dir),
                                        "data_dir": str(root / f"{kind}-data"),
                                        "cache_passages": config.reuse_embeddings}, env)
        rates = {"chunks_per_s": built["chunks"] / built["seconds"], "chunks_per_cpu_s": built["chunks"] / built["cpu_s"]}
        # A baseline embeds each of its chunks once (bm25s embeds nothing): its texts are its chunks.
        rates |= {"texts_per_s": rates["chunks_per_s"], "texts_per_cpu_s": rates["chunks_per_cpu_s"]}
        system = {"chunks": built["chunks"], "ingest": built | rates,
                  "index_bytes": dir_size(index_dir)}
        port = free_port()
        argv = worker_argv("serve-baseline", {"kind": kind, "index_dir": str(index_dir), "port": port,
                                              "data_dir": str(root / f"{kind}-data")})
        console.print(f"[bold]baseline {kind}[/]: HTTP load")
        with Server(argv, port, env, root / f"serve-{kind}.log") as server:
            server.start()
            system |= _warm_and_measure(server, load_questions, config)
        results["systems"][kind] = system
        _save(results, root)
    return results


def _save(results: dict[str, Any], root: Path) -> None:
    """Write the reports of what is measured so far: a baseline's build takes hours at 100k, and a run
    stopped during it keeps jiceng's figures and the baselines' already measured."""
    results["machine"]["loadavg_1min"]["end"] = os.getloadavg()[0]
    results["targets"] = check_targets(results)
    write_reports(results, root)


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #8's targets against this run's numbers: name, measured, limit, ok."""
    ours = results["systems"]["jiceng"]
    embed_p50 = results["bare"]["query"]["p50_ms"]
    ratio_limit = TARGETS["ask_vs_embed_100k" if results["size"] == "100k" else "ask_vs_embed"]
    peak = max(ours["ingest"]["peak_rss"], ours["server_peak_rss"])
    # Ingest throughput is an embedding figure, and this run's ingest the "first ingest" a re-ingest is set
    # against, only when it embedded its passages: with --reuse-embeddings it mostly read them from the
    # cache (repeated texts are embedded once, hence 0.9).
    embedding_ingest = ours["ingest"].get("embedded", 0) >= 0.9 * ours["chunks"]
    rows = [
        ("/ask p50 (c=1) ÷ bare query-embedding p50", ours["ask_c1"]["p50_ms"] / embed_p50, "<=", ratio_limit),
        ("/ask p95 ÷ p50 (c=1)", ours["ask_c1"]["p95_ms"] / ours["ask_c1"]["p50_ms"], "<=", TARGETS["p95_vs_p50"]),
        ("repeated question p50 over HTTP, ms", ours["cached_repeat"]["p50_ms"], "<", TARGETS["cached_ms"]),
        # Per CPU-second: wall-clock rates swing with whatever else shares the two cores.
        ("ingest ÷ bare embedding, texts embedded per CPU-second",
         ours["ingest"]["texts_per_cpu_s"] / results["bare"]["passages"]["texts_per_cpu_s"]
         if embedding_ingest else None, ">=", TARGETS["ingest_vs_embed"]),
        ("unchanged re-ingest ÷ first ingest", ours["reingest"]["share_of_first"] if embedding_ingest else None,
         "<=", TARGETS["reingest_share"]),
        ("peak RSS (ingest or server), GiB", peak / GIB, "<=", TARGETS["peak_rss_bytes"] / GIB),
    ]
    if "naive" in results["systems"]:
        rows.append(("/ask p50 (c=1) ÷ naive llama-index /ask p50", ours["ask_c1"]["p50_ms"]
                     / results["systems"]["naive"]["ask_c1"]["p50_ms"], "<=", 1.0))
    checks = {"<=": lambda v, t: v <= t, "<": lambda v, t: v < t, ">=": lambda v, t: v >= t}
    # measured and ok are None for a target this run could not measure.
    return [{"target": name, "measured": None if value is None else round(value, 3), "limit": f"{op} {limit}",
             "ok": None if value is None else bool(checks[op](value, limit))} for name, value, op, limit in rows]


def write_reports(results: dict[str, Any], root: Path) -> None:
    from bench.report import markdown_report, plot

    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    (root / "results.md").write_text(markdown_report(results), encoding="utf-8")
    plot(results, root / "latency.png")

