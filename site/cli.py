"""``jiceng site build|serve``: the case library for trainers."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

from jiceng.errors import JicengError
from jiceng.settings import Settings, get_settings

site_app = typer.Typer(
    help="培训案例库（mkdocs 静态网站） / The case library for trainers (a static mkdocs site).",
    no_args_is_help=True,
)
console = Console()
log = logging.getLogger(__name__)


def _quiet_logs(mkdocs_level: int) -> None:
    """Keep mkdocs' warnings; drop jieba's dictionary-loading lines (material's search imports jieba)."""
    import jieba

    logging.getLogger("mkdocs").setLevel(mkdocs_level)
    jieba.setLogLevel(logging.WARNING)


@site_app.command("build")
def build_command(
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="输出目录，默认 数据目录/site（须为空或旧的构建，会先清空） / output dir, default data_dir/site (must be empty or a previous build; emptied first).",
    ),
    strict: bool = typer.Option(
        True, "--strict/--no-strict", help="有警告即失败（默认） / fail on any mkdocs warning (default)."
    ),
    src: Path = typer.Option(
        None, "--src", help="另把生成的 Markdown 写到此目录以便查看 / also write the generated Markdown here."
    ),
) -> None:
    """从 corpus/ 生成并构建案例库 / Generate the case library from corpus/ and build the HTML."""
    from jiceng.site.build import build_site, write_sources

    _quiet_logs(mkdocs_level=logging.WARNING)
    settings = get_settings()
    if src:
        console.print(
            f"已写出 {write_sources(settings, src)} 个 Markdown 页面 / Markdown pages written to {src}"
        )
    report = build_site(settings, out=out, strict=strict)
    console.print(
        f"[green]案例库已构建[/] / library built: {report.pages} 页 pages, {report.seconds} s, "
        f"搜索索引 search index {report.search_index_bytes / 1024:.0f} KiB → {report.out_dir}"
    )


@site_app.command("serve")
def serve_command(
    dev_addr: str = typer.Option(
        "127.0.0.1:8001", "--dev-addr", "-a", help="监听地址 / host:port to listen on."
    ),
) -> None:
    """本地预览，语料改动后自动重建 / Live preview; rebuilds when the corpus changes."""
    from jiceng.site.build import serve_site

    _quiet_logs(mkdocs_level=logging.INFO)  # serve's INFO lines say where it listens and what it rebuilt
    serve_site(dev_addr)


def ensure_library(settings: Settings) -> None:
    """Build the library ``jiceng serve`` mounts at /library/ when it is missing or older than its sources,
    so a fresh ``jiceng ingest && jiceng serve`` has one. A failed build is logged and the server still
    starts (the library then answers 404); the build is lenient, a warning should not cost the whole site."""
    from jiceng.site.build import build_site, stale_reason

    reason = stale_reason(settings)
    if reason is None:
        log.info("案例库已是最新 / case library up to date: %s", settings.data_dir / "site")
        return
    _quiet_logs(mkdocs_level=logging.WARNING)
    log.info("构建案例库 / building the case library (%s)", reason)
    try:
        report = build_site(settings, strict=False)
    except JicengError as exc:
        log.warning("案例库未构建：%s / case library not built: %s", exc.message_zh, exc.message_en)
        return
    log.info(
        "案例库已构建 / case library built: %d pages in %.1f s → %s", report.pages, report.seconds, report.out_dir
    )


def register_cli(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")
