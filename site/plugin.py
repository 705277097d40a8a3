"""mkdocs plugin ``jiceng-library``: the library's pages are generated from the corpus at build time.

Generated pages are virtual files (``File.generated``), so there is no copied Markdown to drift
from ``corpus/``; ``mkdocs serve`` regenerates them when a corpus file changes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.nav import Link, Navigation
from mkdocs.utils import is_error_template, normalize_url

from jiceng.corpus import load_corpus
from jiceng.errors import JicengError
from jiceng.site.pages import Library, generate_library


def _teach_search_segmenter() -> None:
    """Add the domain words to the jieba that material's search plugin uses to segment the index.

    Compounds of other entries (社区邻里节 = 社区 + 邻里节) stay out: the browser matches a query
    only against the start of indexed words, so a whole 社区邻里节 would hide it from 邻里节.
    """
    import jieba

    lines = (resources.files("jiceng") / "data" / "userdict.txt").read_text(encoding="utf-8").splitlines()
    entries = [line.split() for line in lines if line.strip()]
    words = {entry[0] for entry in entries}
    for word, *rest in entries:
        if not any(other != word and other in word for other in words):
            jieba.add_word(word, int(rest[0]) if rest else None)


ASK_TAB = "问答 / Ask"


class LibraryConfig(Config):
    corpus_dir = c.Optional(c.Type(str))  # default: settings.corpus_dir (JICENG_CORPUS_DIR)
    ask_url = c.Type(str, default="../")  # ask page, relative to the library root or absolute
    # The 404 page answers at any depth, so its links must be absolute; without site_url mkdocs roots them
    # at "/", where `jiceng serve` has the ask page, not the library (its styles would 404 in turn).
    error_page_base = c.Type(str, default="/library/")


class LibraryPlugin(BasePlugin[LibraryConfig]):
    library: Library | None = None

    def corpus_path(self) -> Path:
        if self.config.corpus_dir:
            return Path(self.config.corpus_dir)
        from jiceng.settings import get_settings

        return get_settings().corpus_dir

    # Before material's search plugin (its on_config sets up jieba).
    @event_priority(100)
    def on_config(self, config):
        corpus_dir = self.corpus_path()
        if not corpus_dir.is_dir():
            raise PluginError(f"找不到语料目录 / corpus directory not found: {corpus_dir}")
        try:
            corpus = load_corpus(corpus_dir)
        except JicengError as exc:
            raise PluginError(exc.message) from exc
        if not corpus:
            raise PluginError(f"语料目录为空 / no corpus files in {corpus_dir}")
        self.library = generate_library(corpus, ask_url=self.config.ask_url)
        config.nav = self.library.nav
        _teach_search_segmenter()
        return config

    def on_files(self, files: Files, config) -> Files:
        for page in self.library.pages:
            files.append(File.generated(config, page.uri, content=page.markdown))
        return files

    def on_nav(self, nav: Navigation, config, files: Files) -> Navigation:
        # Added after mkdocs validated the nav (a relative link outside the site is "not found" to it, an error
        # under --strict): a last tab back to the ask page, which `jiceng serve` has at "/" above /library/.
        # A relative ask_url is taken from the library root, as mkdocs' `url` filter takes nav links.
        nav.items.append(Link(ASK_TAB, self.config.ask_url))
        return nav

    def on_template_context(self, context, template_name, config):
        # `mkdocs serve` sets site_url to where it serves, and a configured site_url says where the library
        # lives: both root the 404 page's links correctly already.
        if is_error_template(template_name) and not config.site_url:
            base = self.config.error_page_base.rstrip("/") + "/"
            context["base_url"] = base
            context["extra_css"] = [normalize_url(path, None, base) for path in config.extra_css]
            context["extra_javascript"] = [normalize_url(str(js), None, base) for js in config.extra_javascript]
        return context

    def on_serve(self, server, config, builder):
        server.watch(str(self.corpus_path()))
        return server
