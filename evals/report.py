"""Eval reports: report.json, records.jsonl, report.md, PNG charts, and the diff of two runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from jiceng.errors import InputError

# (section, metric) rows shown in tables and compared; latency and false refusals are better lower.
METRICS: tuple[tuple[str, str], ...] = (
    ("retrieval", "hit@1"), ("retrieval", "hit@3"), ("retrieval", "hit@5"), ("retrieval", "hit@10"),
    ("retrieval", "mrr@10"), ("retrieval", "ndcg@10"),
    ("answers", "first_citation_hit"), ("answers", "citation_precision"), ("answers", "citation_recall"),
    ("answers", "key_coverage"), ("answers", "citation_validity"), ("answers", "mean_quote_chars"),
    ("abstention", "negative_rejection"), ("abstention", "false_refusal"),
    ("latency_ms", "p50"), ("latency_ms", "p95"),
)
LOWER_IS_BETTER = {"abstention.false_refusal", "latency_ms.p50", "latency_ms.p95"}
NEUTRAL = {"answers.mean_quote_chars"}  # shorter quotes are more precise, longer ones cover more: no colour


def metric(summary: Mapping[str, Any], path: str) -> float | None:
    """``metric(s, "retrieval.hit@1")``; missing -> None."""
    section, name = path.split(".", 1)
    value = summary.get(section, {}).get(name)
    return None if value is None else float(value)


def fmt(value: float | None, path: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if path.startswith("latency_ms") or path.endswith("_chars") else f"{value:.3f}"


def _paths() -> list[str]:
    return [f"{section}.{name}" for section, name in METRICS]


def write_reports(results: Sequence[Mapping[str, Any]], out_dir: Path, meta: Mapping[str, Any]) -> list[Path]:
    """Write every report file into ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"meta": dict(meta), "modes": [{k: r[k] for k in ("summary", "per_tag", "failures")} for r in results]}
    paths = [out_dir / "report.json", out_dir / "records.jsonl", out_dir / "report.md"]
    paths[0].write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    with paths[1].open("w", encoding="utf-8") as fh:
        for result in results:
            for record in result["records"]:
                fh.write(json.dumps({"mode": result["summary"]["mode"], **record}, ensure_ascii=False) + "\n")
    paths[2].write_text(markdown_report(results, meta), encoding="utf-8")
    paths += write_charts(results, out_dir)
    return paths


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table_md(summaries: Sequence[Mapping[str, Any]]) -> str:
    """Metrics as rows, modes as columns (the table docs/evaluation.md publishes)."""
    header = ["metric", *[s["mode"] for s in summaries]]
    rows = [[path, *[fmt(metric(s, path), path) for s in summaries]] for path in _paths()]
    rows.insert(0, ["n (answerable / unanswerable)", *[f"{s['n_answerable']} / {s['n_unanswerable']}" for s in summaries]])
    return _md_table(header, rows)


def markdown_report(results: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    summaries = [r["summary"] for r in results]
    parts = [
        "# jiceng eval report",
        "",
        "\n".join(f"- **{k}**: {v}" for k, v in meta.items()),
        "",
        "## Summary",
        "",
        summary_table_md(summaries),
        "",
        "![summary](summary.png)",
    ]
    tag_paths = ("retrieval.hit@5", "answers.first_citation_hit", "abstention.negative_rejection",
                 "abstention.false_refusal")
    for result in results:
        mode = result["summary"]["mode"]
        rows = [
            [tag, f"{s['n_answerable']} / {s['n_unanswerable']}", *[fmt(metric(s, p), p) for p in tag_paths]]
            for tag, s in result["per_tag"].items()
        ]
        parts += ["", f"## Per tag: {mode}", "", _md_table(["tag", "n (ans / unans)", *tag_paths], rows)]
        failed = result["failures"]
        parts += ["", f"## Failures: {mode} ({len(failed)})", ""]
        for f in failed:
            returned = (f["first_quote"] or f["answer"] or "").replace("\n", " ")[:160]
            parts.append(f"- `{f['id']}` {f['question']} — **{'; '.join(f['reasons'])}** — returned: {returned}")
    if any("judge" in s for s in summaries):
        parts += ["", "## LLM judge", ""]
        parts += [f"- {s['mode']}: {json.dumps(s.get('judge'), ensure_ascii=False)}" for s in summaries]
    return "\n".join(parts) + "\n"


def write_charts(results: Sequence[Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """summary.png (grouped bars per metric group) and per_tag.png (hit@5 per tag and mode).

    Labels stay ASCII: a CJK font may be missing and matplotlib would draw boxes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    summaries = [r["summary"] for r in results]
    groups = {
        "retrieval": ["retrieval.hit@1", "retrieval.hit@5", "retrieval.mrr@10", "retrieval.ndcg@10"],
        "answers": ["answers.first_citation_hit", "answers.citation_precision", "answers.citation_recall",
                    "answers.key_coverage", "answers.citation_validity"],
        "abstention": ["abstention.negative_rejection", "abstention.false_refusal"],
        "latency (ms)": ["latency_ms.p50", "latency_ms.p95"],
    }
    fig, axes = plt.subplots(1, len(groups), figsize=(18, 4.5))
    width = 0.8 / max(1, len(summaries))
    for ax, (title, paths) in zip(axes, groups.items(), strict=True):
        x = np.arange(len(paths))
        for i, s in enumerate(summaries):
            ax.bar(x + i * width, [metric(s, p) or 0.0 for p in paths], width, label=s["mode"])
        ax.set_xticks(x + width * (len(summaries) - 1) / 2, [p.split(".", 1)[1] for p in paths], rotation=30,
                      ha="right")
        ax.set_title(title)
        if not title.startswith("latency"):
            ax.set_ylim(0, 1.05)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    summary_png = out_dir / "summary.png"
    fig.savefig(summary_png, dpi=110)
    plt.close(fig)

    tags = sorted({t for r in results for t, s in r["per_tag"].items() if s["n_answerable"]})
    fig, ax = plt.subplots(figsize=(max(8, len(tags) * 0.5), 4.5))
    x = np.arange(len(tags))
    for i, r in enumerate(results):
        values = [metric(r["per_tag"].get(t, {}), "retrieval.hit@5") or 0.0 for t in tags]
        ax.bar(x + i * width, values, width, label=r["summary"]["mode"])
    ax.set_xticks(x + width * (len(results) - 1) / 2, tags, rotation=60, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title("hit@5 per tag (answerable items)")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    tag_png = out_dir / "per_tag.png"
    fig.savefig(tag_png, dpi=110)
    plt.close(fig)
    return [summary_png, tag_png]


def load_summaries(path: Path) -> list[dict[str, Any]]:
    """Summaries from a ``--json`` output (object or list) or a report.json."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"无法读取评估结果 {path}：{exc}", f"cannot read eval results {path}: {exc}",
                         code="bad_eval_report") from exc
    if isinstance(data, dict) and "modes" in data:
        data = [m["summary"] for m in data["modes"]]
    data = [data] if isinstance(data, dict) else data
    if not all(isinstance(s, dict) and "mode" in s for s in data):
        raise InputError(f"{path} 不是 jiceng eval 的结果", f"{path} is not jiceng eval output", code="bad_eval_report")
    return data


def compare_table(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], a_name: str, b_name: str) -> Table:
    """Metrics of modes present in both runs, B minus A, green when B is better and red when worse."""
    by_mode_b = {s["mode"]: s for s in b}
    table = Table(title=f"{a_name} → {b_name}")
    for column in ("mode", "metric", "A", "B", "Δ (B−A)"):
        table.add_column(column, justify="left" if column in ("mode", "metric") else "right")
    for sa in a:
        sb = by_mode_b.get(sa["mode"])
        if sb is None:
            continue
        for path in _paths():
            va, vb = metric(sa, path), metric(sb, path)
            delta = "-" if va is None or vb is None else f"{vb - va:+.3f}"
            style = ""
            if delta != "-" and path not in NEUTRAL and abs(vb - va) > 1e-9:
                better = (vb < va) if path in LOWER_IS_BETTER else (vb > va)
                style = "green" if better else "red"
            table.add_row(sa["mode"], path, fmt(va, path), fmt(vb, path), f"[{style}]{delta}[/]" if style else delta)
    return table
