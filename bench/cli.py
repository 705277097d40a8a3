"""``jiceng bench``: parse options, run the benchmark, print the Markdown summary."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from bench.baselines import BASELINES
from bench.synthetic import BUNDLED, SIZES


def bench(
    size: str = typer.Option(
        "1k", "--size",
        help=f"合成语料规模，或 {BUNDLED} 即自带语料 / synthetic corpus size: {', '.join(SIZES)}; or {BUNDLED}, the "
        "bundled corpus itself.",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="CI 规模：1k、少量请求 / CI-sized: 1k chunks, a few dozen requests."
    ),
    out: Path = typer.Option(Path("bench/out"), "--out", help="输出目录 / output folder (results in OUT/SIZE/)."),
    requests: int | None = typer.Option(
        None, "--requests", min=4, help="每项并发=1 的请求数（并发=8 时加倍）/ requests per c=1 run (c=8: twice)."
    ),
    baseline: list[str] = typer.Option(
        list(BASELINES), "--baseline", help="对照系统 / baselines to run (repeat): naive, bm25."
    ),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="只测 jiceng / measure jiceng only."),
    reuse_embeddings: bool = typer.Option(
        False, "--reuse-embeddings",
        help="保留上次运行的嵌入缓存（首次入库不再冷启动）/ keep the previous run's embedding cache "
        "(first ingest is then not cold; for 100k).",
    ),
) -> None:
    """测量入库吞吐、索引大小、内存与 HTTP 延迟，并与朴素 llama-index 和纯 BM25 对照。

    Measure ingest throughput, index size, peak RSS and /search, /ask latency over HTTP (concurrency 1
    and 8) on a synthetic corpus (or the bundled one), side by side with a naive llama-index pipeline and
    bm25s only.
    Writes OUT/SIZE/results.json, results.md and latency.png.
    """
    from rich.console import Console
    from rich.markdown import Markdown

    from bench.runner import BenchConfig, run_benchmark
    from jiceng.errors import InputError

    unknown = [b for b in baseline if b not in BASELINES]
    if unknown:
        raise InputError(f"未知对照系统：{unknown}", f"unknown baseline(s): {unknown}; use {', '.join(BASELINES)}")
    options = {"out_dir": out, "baselines": () if no_baselines else tuple(baseline),
               "reuse_embeddings": reuse_embeddings}
    if requests:
        options |= {"requests_c1": requests, "requests_c8": 2 * requests}
    config = BenchConfig.quick(**options) if quick else BenchConfig(size=size, **options)
    # Killed with SIGTERM (`kill`, a CI timeout), stop the servers and workers it started, as Ctrl-C does:
    # left running, they hold their ports and cores and skew whatever is measured next.
    signal.signal(signal.SIGTERM, _interrupt)
    results = run_benchmark(config)
    from bench.report import markdown_report

    Console().print(Markdown(markdown_report(results)))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register_cli(app: typer.Typer) -> None:
    app.command("bench")(bench)
