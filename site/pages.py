"""Corpus -> the library's Markdown pages and nav, in memory (the mkdocs plugin serves them as files).

Only document pages are searchable: the home and listing pages repeat their text.

Every body block (``jiceng.text.block_spans``) gets ``<a id="p-N">`` and every heading the id ``h-N``, so
the site and the answers' citation URLs agree by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

import jinja2
import yaml
from pymdownx.slugs import slugify

from jiceng.corpus import GOVERNANCE_EXPERIENCES, PARTY_PATHS, CorpusFile
from jiceng.site.urls import page_path
from jiceng.text import block_spans, heading_spans

# Same slugify as the toc extension in mkdocs.yml, so links to region/path headings resolve.
heading_slug = slugify(case="lower")
# List and quote markers stay in front of the anchor so lists and quotes still render as such.
_BLOCK_MARKERS = re.compile(r"(?:>\s*)*(?:(?:[-*+]|\d{1,9}[.)])\s+)?")
FEATURED_CASES = 6


@dataclass(frozen=True)
class LibraryPage:
    uri: str
    title: str
    markdown: str


@dataclass(frozen=True)
class Library:
    pages: list[LibraryPage]
    nav: list


def _as_text(markdown: str) -> str:
    """Corpus text is text, not HTML: Markdown would pass a planted ``<script>`` through to the page."""
    return markdown.replace("&", "&amp;").replace("<", "&lt;")


def anchor_blocks(body: str) -> str:
    """``body`` with an anchor ``<a id="p-N">`` at the start of its N-th block (after list/quote markers)
    and the id ``h-N`` on its N-th heading (attr_list's ``{#h-N}``), the ids ``block_anchor`` links to."""
    marks = [
        (_BLOCK_MARKERS.match(body, start).end(), f'<a class="jc-p" id="p-{n}" href="#p-{n}" data-n="{n}"></a>')
        for n, (start, _end) in enumerate(block_spans(body), start=1)
    ]
    marks += [(end, f" {{#h-{n}}}") for n, (_start, end) in enumerate(heading_spans(body), start=1)]
    pieces: list[str] = []
    cursor = 0
    for at, mark in sorted(marks):
        pieces += [_as_text(body[cursor:at]), mark]
        cursor = at
    return "".join(pieces) + _as_text(body[cursor:])


def ask_question(meta) -> str:
    """The question the "ask about this case" link prefills on the ask page."""
    if meta.kind == "case":
        return f"{meta.title}是怎么做的，取得了哪些成效？"
    return f"{meta.title}有哪些主要内容？"


def ask_href(meta, ask_url: str) -> str:
    """Link from a document page to the ask page with the question prefilled.

    A relative ``ask_url`` is taken from the library root (``../`` = the page that serves the
    library at ``/library/``), so the link works under any prefix without knowing the host.
    """
    base = ask_url
    if not (urlsplit(ask_url).scheme or ask_url.startswith("/")):
        base = "../" * page_path(meta.kind, meta.id).count("/") + ask_url
    return f"{base}?q={quote(ask_question(meta))}"


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _figure(figure) -> str:
    if figure.before or figure.after:
        return f"{figure.label}：{figure.before or '—'} → {figure.after or '—'}"
    return f"{figure.label}：{figure.value or ''}"


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jiceng.site", "templates"),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        cell=_cell,
        figure=_figure,
        slug=lambda text: heading_slug(text, "-"),
        front_matter=lambda data: yaml.safe_dump(data, allow_unicode=True, sort_keys=False).strip(),
        indent4=lambda text: text.replace("\n", "\n    "),
    )
    return env


def _render(template: str, **context) -> str:
    return _templates().get_template(template).render(**context)


def _doc_uri(meta) -> str:
    return page_path(meta.kind, meta.id).rstrip("/") + ".md"


def _grouped(files: list[CorpusFile], keys) -> dict[str, list[CorpusFile]]:
    groups: dict[str, list[CorpusFile]] = {}
    for file in files:
        for key in keys(file.meta):
            groups.setdefault(key, []).append(file)
    return groups


def generate_library(corpus: list[CorpusFile], ask_url: str = "../") -> Library:
    """All pages of the library and its nav, from the parsed corpus."""
    cases = [f for f in corpus if f.meta.kind == "case"]
    policies = [f for f in corpus if f.meta.kind == "policy"]
    by_path = _grouped(corpus, lambda m: m.path)
    by_region = _grouped(corpus, lambda m: [m.region])
    featured = sorted(cases, key=lambda f: (-len(f.meta.key_figures), f.meta.id))[:FEATURED_CASES]
    common = {"cases": cases, "policies": policies, "uri": _doc_uri}

    pages = [
        LibraryPage(
            _doc_uri(f.meta),
            f.meta.title,
            _render("document.md.j2", m=f.meta, body=anchor_blocks(f.body), ask=ask_href(f.meta, ask_url)),
        )
        for f in corpus
    ]
    pages += [
        LibraryPage(
            "index.md", "首页", _render("home.md.j2", featured=featured, regions=by_region, **common)
        ),
        LibraryPage("cases/index.md", "案例", _render("cases.md.j2", **common)),
        LibraryPage(
            "paths.md",
            "按路径",
            _render(
                "paths.md.j2",
                groups=[("党建引领的四条路径", PARTY_PATHS), ("基层治理的五种经验", GOVERNANCE_EXPERIENCES)],
                by_path=by_path,
                **common,
            ),
        ),
        LibraryPage("regions.md", "按地区", _render("regions.md.j2", by_region=by_region, **common)),
        LibraryPage("tags.md", "按标签", _render("tags.md.j2")),
        LibraryPage("compare.md", "案例对比", _render("compare.md.j2", **common)),
    ]
    if policies:
        pages.append(LibraryPage("policies/index.md", "政策文件", _render("policies.md.j2", **common)))

    nav: list = [
        {"首页": "index.md"},
        {"案例 / Cases": ["cases/index.md", *({f.meta.title: _doc_uri(f.meta)} for f in cases)]},
    ]
    if policies:
        nav.append(
            {
                "政策文件 / Policies": [
                    "policies/index.md",
                    *({f.meta.title: _doc_uri(f.meta)} for f in policies),
                ]
            }
        )
    nav.append(
        {
            "索引 / Indexes": [
                {"按路径与经验 / By path": "paths.md"},
                {"按地区 / By region": "regions.md"},
                {"按标签 / By tag": "tags.md"},
                {"案例对比 / Compare cases": "compare.md"},
            ]
        }
    )
    return Library(pages=pages, nav=nav)
