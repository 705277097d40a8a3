"""Build and preview the case library with mkdocs, configured by the top-level ``mkdocs.yml``."""

from __future__ import annotations

import time
from pathlib import Path

from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import Abort, ConfigurationError
from pydantic import BaseModel, Field

from jiceng.corpus import load_corpus
from jiceng.errors import InputError, JicengError, NotFoundError
from jiceng.settings import Settings, get_settings

MKDOCS_YML = Path(__file__).resolve().parents[1] / "mkdocs.yml"
PLUGIN = "jiceng-library"


class SiteReport(BaseModel):
    """What a build produced, for the CLI and for docs/site.md."""

    out_dir: Path
    pages: int = Field(description="Generated Markdown pages (documents, indexes, home).")
    seconds: float
    search_index_bytes: int


def load_site_config(
    settings: Settings, *, site_dir: Path | None = None, strict: bool = True
) -> MkDocsConfig:
    """mkdocs config from ``mkdocs.yml`` with this settings' corpus and output dir."""
    if not MKDOCS_YML.is_file():
        raise NotFoundError(f"找不到 {MKDOCS_YML}", f"{MKDOCS_YML} not found", code="mkdocs_yml_missing")
    corpus_dir = settings.corpus_dir.resolve()
    if not corpus_dir.is_dir():
        raise NotFoundError(
            f"找不到语料目录 {corpus_dir}（可设置 JICENG_CORPUS_DIR）",
            f"corpus directory {corpus_dir} not found (set JICENG_CORPUS_DIR)",
            code="corpus_missing",
        )
    load_corpus(corpus_dir)  # bad front matter fails here with a clear message, not inside mkdocs' log
    try:
        config = load_config(str(MKDOCS_YML), site_dir=str(site_dir) if site_dir else None, strict=strict)
    except (Abort, ConfigurationError) as exc:
        raise JicengError(
            f"mkdocs.yml 配置有误：{exc}", f"invalid mkdocs.yml: {exc}", code="mkdocs_config"
        ) from exc
    config.plugins[PLUGIN].config.corpus_dir = str(corpus_dir)
    return config


def build_site(
    settings: Settings | None = None, *, out: Path | None = None, strict: bool = True
) -> SiteReport:
    """Generate the library from the corpus and build static HTML into ``out`` (default data_dir/site).

    mkdocs empties ``out`` first, so ``out`` must be empty, missing or a previous build.
    """
    settings = settings or get_settings()
    out = (out or settings.data_dir / "site").resolve()
    if out.is_dir() and any(out.iterdir()) and not (out / "sitemap.xml").exists():
        # mkdocs empties the output dir; only let it do that to a previous build.
        raise InputError(
            f"输出目录 {out} 不是空目录，也不是以前构建的案例库，不会清空它",
            f"output dir {out} is neither empty nor a previous library build; refusing to empty it",
            code="site_out_not_empty",
        )
    config = load_site_config(settings, site_dir=out, strict=strict)
    started = time.perf_counter()
    try:
        build(config)
    except Abort as exc:
        raise JicengError(
            f"案例库构建失败：{exc}（详见上方 mkdocs 日志）",
            f"case library build failed: {exc} (see the mkdocs log above)",
            code="site_build_failed",
        ) from exc
    index = out / "search" / "search_index.json"
    return SiteReport(
        out_dir=out,
        pages=len(config.plugins[PLUGIN].library.pages),
        seconds=round(time.perf_counter() - started, 2),
        search_index_bytes=index.stat().st_size if index.exists() else 0,
    )


def stale_reason(settings: Settings, out: Path | None = None) -> str | None:
    """Why the built library at ``out`` (default data_dir/site) needs a build, or None when it is current.

    Its pages come from the corpus folder, mkdocs.yml and this package's templates and styles only (the
    index does not feed it), so it is stale when any of those changed after the last build; a deleted
    corpus file shows as a newer folder.
    """
    out = out or settings.data_dir / "site"
    marker = out / "sitemap.xml"  # written by every build, as build_site's "previous build" test assumes
    if not marker.is_file():
        return "not built yet"
    built = marker.stat().st_mtime
    corpus_dir = settings.corpus_dir.resolve()
    for label, root in (("corpus", corpus_dir), ("library templates", Path(__file__).resolve().parent)):
        if not root.is_dir():
            continue
        for path in (root, *root.rglob("*")):
            if "__pycache__" not in path.parts and path.stat().st_mtime > built:  # bytecode is no source
                return f"{label} changed: {path}"
    if MKDOCS_YML.is_file() and MKDOCS_YML.stat().st_mtime > built:
        return f"{MKDOCS_YML} changed"
    return None


def write_sources(settings: Settings | None, dest: Path) -> int:
    """Write the generated Markdown pages to ``dest`` for inspection; returns the page count."""
    from jiceng.site.pages import generate_library

    settings = settings or get_settings()
    config = load_site_config(settings)
    library = generate_library(load_corpus(settings.corpus_dir), config.plugins[PLUGIN].config.ask_url)
    for page in library.pages:
        target = dest / page.uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.markdown, encoding="utf-8")
    return len(library.pages)


def serve_site(dev_addr: str = "127.0.0.1:8001") -> None:
    """Live preview (``mkdocs serve``); pages regenerate when a corpus file changes.

    Reads the corpus from the process settings (``JICENG_CORPUS_DIR``): mkdocs reloads the config
    on every change, so there is no config object to hand a corpus to.
    """
    from mkdocs.commands.serve import serve

    serve(str(MKDOCS_YML), dev_addr=dev_addr)
