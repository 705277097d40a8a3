"""``jiceng ingest`` and ``jiceng docs …``: parse, call the pipeline, print a summary."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jiceng.settings import get_settings

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 2, 3
console = Console()
docs_app = typer.Typer(help="已入库的文档 / Documents in the index.", no_args_is_help=True)


def ingest(
    paths: list[Path] = typer.Argument(
        None, help="文件或文件夹，默认 corpus 目录 / Files or folders (default: settings.corpus_dir)."
    ),
    prune: bool = typer.Option(
        False, "--prune", help="删除本次未见到的文档 / Remove documents not seen in this run."
    ),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON 报告 / Print the report as JSON."),
    rebuild: bool = typer.Option(
        False,
        "--rebuild",
        help="从头重建：只含本次文件，全部重新切分；模型或切分设置变了则全部重新向量化；重建期间服务仍用旧版本"
        " / Build a new generation from scratch: only these files, every document re-chunked, vectors"
        " recomputed unless model and chunking are unchanged; the server answers from the old one meanwhile.",
    ),
) -> int:
    """导入文档（md、txt、docx、pdf、html），建立新的索引版本。/ Ingest documents into a new index generation.

    退出码 Exit codes: 0 成功 ok, 3 部分文件失败 some files failed, 2 错误或全部失败 error / all failed.
    """
    from jiceng.ingest.pipeline import ingest_paths

    settings = get_settings()
    report = ingest_paths(
        paths or [settings.corpus_dir], settings, prune=prune, progress=not as_json, rebuild=rebuild
    )
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        summary = Table(title="导入结果 / Ingest summary", show_header=False)
        for label, value in (
            ("文件 files", report.files),
            ("新增 added", report.added),
            ("更新 replaced", report.replaced),
            ("未变 unchanged", report.unchanged),
            ("删除 removed", report.removed),
            ("失败 failed", len(report.failed)),
            ("文档 documents", report.documents),
            ("片段 chunks", report.chunks),
            ("新向量 embedded", report.embedded),
            ("用时 seconds", f"{report.seconds:.1f}"),
            ("索引版本 generation", report.generation or "-"),
        ):
            summary.add_row(label, str(value))
        console.print(summary)
        if report.failed:
            failures = Table(title="失败的文件 / Failed files")
            failures.add_column("文件 file")
            failures.add_column("原因 reason")
            for path, zh, en in report.failed:
                failures.add_row(path, f"{zh}\n{en}")
            console.print(failures)
    if not report.failed:
        return EXIT_OK
    return EXIT_PARTIAL if len(report.failed) < report.files else EXIT_ERROR


@docs_app.command("list")
def docs_list(as_json: bool = typer.Option(False, "--json", help="输出 JSON / Print JSON.")) -> None:
    """列出当前索引中的文档 / List the documents in the current index."""
    from jiceng.ingest.store import read_current

    records = read_current(get_settings())
    documents = sorted(records.documents.values(), key=lambda d: d.doc_id) if records else []
    counts: dict[str, int] = {}
    for chunk in records.chunks if records else []:
        counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
    rows = [
        {"doc_id": d.doc_id, "title": d.title, "kind": d.kind, "chunks": counts.get(d.doc_id, 0),
         "source_path": d.source_path}
        for d in documents
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"文档 / Documents ({len(rows)})")
    for column in ("doc_id", "title", "kind", "chunks"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["doc_id"], row["title"], row["kind"], str(row["chunks"]))
    console.print(table)


@docs_app.command("remove")
def docs_remove(doc_ids: list[str] = typer.Argument(..., help="文档 id / Document ids.")) -> None:
    """从索引删除文档（建立不含它们的新版本）/ Remove documents (builds a new generation without them)."""
    from jiceng.ingest.pipeline import remove_documents

    report = remove_documents(doc_ids, get_settings())
    console.print(f"已删除 {report.removed} 篇，剩 {report.documents} 篇 / removed {report.removed}, "
                  f"{report.documents} left (generation {report.generation})")


def register_cli(app: typer.Typer) -> None:
    """Add ``jiceng ingest`` and ``jiceng docs list|remove``."""
    app.command("ingest")(ingest)
    app.add_typer(docs_app, name="docs")
