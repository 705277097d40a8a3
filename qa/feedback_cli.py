"""``jiceng feedback export``: readers' 👍 / 👎 as an eval set that ``jiceng eval --set`` runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

err_console = Console(stderr=True)

feedback_app = typer.Typer(
    help="读者反馈（问答页的 👍 / 👎 / 纠错）/ Readers' feedback from the ask page (👍 / 👎 / corrections).",
    no_args_is_help=True,
)


def register_cli(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", "-o", help="输出的评估集 JSONL 文件 / eval-set JSONL file to write."),
) -> None:
    """导出反馈为评估集（供 jiceng eval --set 使用）。👍 为可回答题，所引原文作为候选 gold（请人工核对）；
    没有引文的 👍 跳过并计数。👎 只说明答案不对、没说什么是对的，导出为 answerable=false、
    标签 feedback + down、保留纠错说明，待人工补全。

    Export feedback as an eval set for `jiceng eval --set FILE`. 👍 becomes an answerable item whose gold
    is the cited quotes (candidates: review them); a 👍 without citations is skipped and counted. 👎 says
    the answer was wrong, not what is right: it becomes answerable=false with tags feedback + down and the
    reader's note, for a reviewer to complete. Items are oldest first, ids fb-<id>."""
    from jiceng.qa.feedback import db_path, export_eval_set
    from jiceng.settings import get_settings

    settings = get_settings()
    written, skipped = export_eval_set(settings, out)
    err_console.print(
        f"已导出 {written} 条到 {out}（跳过 {skipped} 条没有引文的 👍）/ "
        f"exported {written} items to {out} ({skipped} thumbs-up without citations skipped); "
        f"source {db_path(settings)}"
    )
