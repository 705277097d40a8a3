"""``jiceng eval``: run an eval set, print or save the reports, compare two runs, gate on thresholds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jiceng.errors import InputError
from jiceng.evals.goldset import bundled_set_path, default_set_path

console = Console()
err_console = Console(stderr=True)
DEFAULT_SET = default_set_path().stem  # named in --help, so the help follows the held-out set


def eval_command(
    set_path: Path = typer.Option(
        None, "--set",
        help=f"评估集 JSONL（默认内置 {DEFAULT_SET} 集）/ eval set JSONL (default: the bundled {DEFAULT_SET} set, "
             "written blind).",
    ),
    split: str = typer.Option(
        "dev", "--split", help="dev（默认，可调参）| test（留出，只在收尾时看一次）| all / dev (default) | test (held out) | all"
    ),
    modes: list[str] = typer.Option(
        None, "--mode", "-m",
        help="hybrid（默认流程）| bm25 | dense | naive | all；可重复 / repeatable (default hybrid).",
    ),
    url: str = typer.Option(
        None, "--url", help="评估运行中的服务器 / evaluate a running server, e.g. http://127.0.0.1:8000"
    ),
    json_out: bool = typer.Option(
        False, "--json", help="输出 JSON（每个模式一个对象）/ print one JSON object per mode."
    ),
    out: Path = typer.Option(
        None, "--out", help="报告目录：report.json/.md、PNG 图 / write reports and charts here."
    ),
    judge: bool = typer.Option(
        False, "--judge", help="用已配置的 LLM 评审忠实度 / LLM faithfulness judge (needs JICENG_LLM_BASE_URL)."
    ),
    compare: tuple[Path, Path] | None = typer.Option(
        None, "--compare", help="比较两次结果 A.json B.json / diff two results (--json output or report.json)."
    ),
    gate: bool = typer.Option(
        False, "--gate",
        help="在回归集上检查内置阈值，不达标则非零退出 / fail when a metric of the regression set drops below "
        "evals/thresholds.json.",
    ),
    thresholds_path: Path = typer.Option(
        None, "--check-thresholds", help="同 --gate，但用指定阈值文件 / --gate with this thresholds file."
    ),
) -> None:
    """评估答案质量：检索命中、引文精确率/召回率、拒答、延迟。Evaluate answer quality: retrieval, citations, abstention, latency."""
    from jiceng.evals import gate as gate_mod
    from jiceng.evals import report

    if compare:
        a, b = report.load_summaries(compare[0]), report.load_summaries(compare[1])
        console.print(report.compare_table(a, b, compare[0].name, compare[1].name))
        return
    thresholds = None
    if gate or thresholds_path:
        thresholds = gate_mod.load_thresholds(thresholds_path)
        split, modes = thresholds.get("split", "all"), list(thresholds["modes"])
        if set_path is None and "set" in thresholds:
            set_path = bundled_set_path(thresholds["set"])
    results = _run(set_path, split, modes, url, judge)
    summaries = [r["summary"] for r in results]
    if out:
        meta = {
            "set": str(set_path or default_set_path()),
            "split": split,
            "modes": ", ".join(s["mode"] for s in summaries),
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "target": url or "in-process",
        }
        written = report.write_reports(results, out, meta)
        err_console.print("报告 / reports: " + ", ".join(str(p) for p in written))
    if json_out:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, ensure_ascii=False, indent=2))
    else:
        _print_summary(summaries, results)
    if thresholds is not None:
        violations = gate_mod.check_thresholds(summaries, thresholds)
        if violations:
            err_console.print("[bold red]未达阈值 / below thresholds:[/]\n  " + "\n  ".join(violations))
            raise typer.Exit(1)
        err_console.print(f"[green]阈值检查通过 / thresholds met[/] ({split} split)")


def _run(set_path: Path | None, split: str, modes: list[str] | None, url: str | None, judge: bool) -> list[dict]:
    from jiceng.evals.goldset import load_eval_set
    from jiceng.evals.judge import faithfulness
    from jiceng.evals.runner import MODES, run_eval
    from jiceng.settings import get_settings

    if split not in ("dev", "test", "all"):
        raise InputError(f"--split 只能是 dev、test 或 all（收到 {split}）", f"--split must be dev, test or all, not {split!r}",
                         code="bad_split")
    modes = list(MODES) if modes and "all" in modes else list(dict.fromkeys(modes or ["hybrid"]))
    settings = get_settings()
    items = load_eval_set(set_path, split)  # type: ignore[arg-type]
    results = run_eval(items, modes, settings, url=url)
    if judge:
        for result in results:
            result["summary"]["judge"] = faithfulness(result["records"], settings)
        if results[0]["summary"]["judge"]["status"] == "skipped":
            err_console.print(f"[yellow]LLM 评审已跳过 / LLM judge skipped[/]: {results[0]['summary']['judge']['reason']}")
    return results


def _print_summary(summaries: list[dict], results: list[dict]) -> None:
    from jiceng.evals.report import METRICS, fmt, metric

    table = Table(title=f"jiceng eval · n = {summaries[0]['n']}")
    table.add_column("metric")
    for s in summaries:
        table.add_column(s["mode"], justify="right")
    for section, name in METRICS:
        path = f"{section}.{name}"
        table.add_row(path, *[fmt(metric(s, path), path) for s in summaries])
    console.print(table)
    for result in results:
        console.print(f"{result['summary']['mode']}: {len(result['failures'])} failures (details: --out DIR → report.md)")


def register_cli(app: typer.Typer) -> None:
    """Add ``jiceng eval``."""
    app.command("eval", no_args_is_help=False)(eval_command)
