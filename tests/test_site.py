"""Case library: built from a small sample corpus and from the real corpus with real mkdocs (strict)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from jiceng.corpus import load_corpus
from jiceng.settings import Settings
from jiceng.site.build import build_site
from jiceng.site.urls import library_url, page_path
from jiceng.text import block_spans, heading_spans, normalize_for_match
from jiceng.types import Document

REPO = Path(__file__).resolve().parents[1]
JICENG = Path(sys.executable).with_name("jiceng")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")

SAMPLE = {
    "cases/linli-sample.md": """
        ---
        id: linli-sample
        title: 样例社区“邻里节”
        kind: case
        region: 北京市朝阳区
        path: [服务模式创新, 自治]
        tags: [邻里节, 居民参与]
        source: [{seed: 001_a1796aac37910657.txt, start: 2472, end: 2500}]
        key_figures:
          - {label: 社区居民参与率, before: 不足30%, after: 70%以上, quote: 社区居民参与率从不足30%提升至70%以上}
        discussion: [一次性的节庆活动如何变成常态化的治理机制？, 哪一项做法贡献最大？]
        summary: 社区居民参与率从不足30%提升至70%以上。
        ---

        ## 背景

        朝阳区社区人口结构多元,邻里关系疏离,社区认同感不强。

        ## 做法

        - 党组织发起:由社区党委牵头,共同策划“邻里节”系列活动。
        - 长效机制:将“邻里节”固化为年度品牌活动。

        ## 成效

        社区居民参与率从不足30%提升至70%以上,邻里纠纷下降40%。

        ## 启示

        党组织牵头,整合社会资源。
        """,
    "cases/gongde-sample.md": """
        ---
        id: gongde-sample
        title: 样例“功德银行”
        kind: case
        region: xx
        path: [德治]
        tags: [功德银行, 移风易俗]
        source: [{seed: 000_bb3bc088e18a3995.txt, start: 100, end: 180}]
        discussion: [积分兑换能长期激励村民吗？]
        ---

        ## 背景

        推进移风易俗,推广优良家风家训,营造社会新风尚。

        ## 做法

        1. xx多地建设“功德银行”,以户为单位建立账户。
        2. 明确志愿活动等方面评分细则。

        ## 成效

        > 村民在银行中积分可兑换生活用品。

        ## 启示

        德治要有看得见的激励。
        """,
    "policies/policy-sample.md": """
        ---
        id: policy-sample
        title: 样例政策文件
        kind: policy
        region: 全国
        path: [政治引领, 法治]
        tags: [基层治理]
        source: [{seed: 000_bb3bc088e18a3995.txt, start: 25, end: 400}]
        ---

        党的十八大以来,中央高度重视基层治理。

        ## 一、各地的经验值得总结

        近年来,各地形成了一些典型经验。
        第二行紧跟上一行，没有空行。

        ### (一)重视政治引领

        各地重视发挥基层党组织的政治引领作用。

        ## 二、存在的问题

        基层负担仍然较重。
        """,
}


def write_corpus(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    """The sample corpus built into HTML once for this module: (out_dir, corpus files, report)."""
    root = tmp_path_factory.mktemp("sample")
    corpus = write_corpus(root / "corpus", SAMPLE)
    settings = Settings(data_dir=root / "data", corpus_dir=corpus)
    report = build_site(settings, strict=True)
    return report.out_dir, load_corpus(corpus), report


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory):
    """The bundled corpus/ built into HTML once (strict)."""
    corpus = load_corpus(REPO / "corpus")
    assert sum(f.meta.kind == "case" for f in corpus) >= 2, "corpus/ should hold the case library's cases"
    settings = Settings(data_dir=tmp_path_factory.mktemp("real"), corpus_dir=REPO / "corpus")
    return build_site(settings, strict=True).out_dir, corpus


def soup_of(out: Path, kind: str, doc_id: str) -> BeautifulSoup:
    return BeautifulSoup(
        (out / page_path(kind, doc_id) / "index.html").read_text(encoding="utf-8"), "html.parser"
    )


def as_document(file) -> Document:
    return Document(doc_id=file.meta.id, title=file.meta.title, kind=file.meta.kind, text=file.body)


# --- URLs -------------------------------------------------------------------------------------------


def test_library_url_points_at_the_block_holding_the_offset():
    text = "## 背景\n\n第一段。\n\n- 第二段\n"
    case = Document(doc_id="demo-case", title="t", kind="case", text=text)
    assert library_url(case, text.index("一段")) == "/library/cases/demo-case/#p-1"
    assert library_url(case, text.index("第二段")) == "/library/cases/demo-case/#p-2"
    assert library_url(case, text.index("背景")) == "/library/cases/demo-case/#h-1"
    assert library_url(case, 0) == "/library/cases/demo-case/"  # a heading's marker is no title
    policy = case.model_copy(update={"kind": "policy", "doc_id": "demo-policy"})
    assert library_url(policy, text.index("第二段")) == "/library/policies/demo-policy/#p-2"
    with pytest.raises(ValueError):
        library_url(case.model_copy(update={"kind": "user"}), 0)


# --- anchors ----------------------------------------------------------------------------------------


def _plain_start(block: str) -> str:
    """The first characters of a block as the reader sees them (list/quote markers dropped)."""
    return normalize_for_match(re.sub(r"^(?:>\s*)*(?:(?:[-*+]|\d+[.)])\s+)?", "", block))[:12]


def assert_every_block_anchored(out: Path, corpus) -> int:
    checked = 0
    for file in corpus:
        doc = as_document(file)
        soup = soup_of(out, file.meta.kind, file.meta.id)
        for number, (start, end) in enumerate(block_spans(doc.text), start=1):
            url = urlsplit(library_url(doc, start))
            assert (out / url.path.removeprefix("/library/") / "index.html").is_file(), url
            assert url.fragment == f"p-{number}"
            anchor = soup.find(id=url.fragment)
            assert anchor is not None, f"{file.meta.id}: no #{url.fragment}"
            shown = normalize_for_match(anchor.parent.get_text())
            assert _plain_start(doc.text[start:end]) in shown, (
                f"{file.meta.id} #{url.fragment} shows other text"
            )
            checked += 1
        assert soup.find(id=f"p-{len(block_spans(doc.text)) + 1}") is None
        for number, (start, end) in enumerate(heading_spans(doc.text), start=1):
            url = urlsplit(library_url(doc, start))
            assert url.fragment == f"h-{number}"
            heading = soup.find(id=url.fragment)
            assert heading is not None and heading.name.startswith("h"), f"{file.meta.id}: no #{url.fragment}"
            assert normalize_for_match(doc.text[start:end]) in normalize_for_match(heading.get_text())
            checked += 1
    return checked


def test_every_sample_block_has_its_anchor(sample):
    out, corpus, _ = sample
    headings = sum(len(heading_spans(file.body)) for file in corpus)
    assert headings and assert_every_block_anchored(out, corpus) == 5 + 5 + 5 + headings


def test_every_corpus_block_has_its_anchor(real):
    out, corpus = real
    assert assert_every_block_anchored(out, corpus) > 100


# --- pages ------------------------------------------------------------------------------------------


def test_case_page_has_sections_figures_source_and_marked_discussion(sample):
    out, _, _ = sample
    soup = soup_of(out, "case", "linli-sample")
    assert soup.title.get_text().startswith("样例社区“邻里节”")
    assert soup.h1.get_text(strip=True).startswith("样例社区“邻里节”")
    assert [h.get_text(strip=True).rstrip("¶") for h in soup.select("article h2")][:4] == [
        "背景",
        "做法",
        "成效",
        "启示",
    ]
    table = soup.find("table")
    assert "社区居民参与率从不足30%提升至70%以上" in table.get_text() and "不足30%" in table.get_text()
    source = soup.find(id=re.compile("^出处")).find_next("ul").get_text()
    assert "001_a1796aac37910657.txt" in source and "2472–2500" in source
    discussion = soup.select_one(".admonition.question")
    assert "编写者拟定，非原文" in discussion.select_one(".admonition-title").get_text()
    assert discussion.select_one("li").get_text(strip=True) == "一次性的节庆活动如何变成常态化的治理机制？"
    region = soup.select_one(".jc-facts a[href*='regions']")["href"]
    assert region == "../../regions/#北京市朝阳区"


def test_ask_link_goes_to_the_ask_page_above_the_library_with_the_question(sample):
    out, _, _ = sample
    href = soup_of(out, "case", "linli-sample").select_one("a.jc-ask")["href"]
    assert href.startswith("../../../?q=")  # cases/<id>/ -> library root -> the ask page at /
    question = parse_qs(urlsplit(href).query)["q"][0]
    assert "样例社区“邻里节”" in question
    # Served at /library/cases/linli-sample/, the link resolves to /?q=...
    from urllib.parse import urljoin

    assert urlsplit(urljoin("http://h/library/cases/linli-sample/", href)).path == "/"


def test_every_page_has_a_tab_back_to_the_ask_page_under_one_name(sample):
    """One knowledge base: the library carries the ask page's name and a link back to it ("/") on every
    page, the 404 page included (served at any depth under /library/)."""
    from urllib.parse import urljoin

    out, _, _ = sample
    pages = {
        "/library/": out / "index.html",
        "/library/cases/linli-sample/": out / page_path("case", "linli-sample") / "index.html",
        "/library/no/such/page/": out / "404.html",
    }
    for served_at, html in pages.items():
        soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
        tabs = [a for a in soup.select("a.md-tabs__link") if a.get_text(strip=True) == "问答 / Ask"]
        assert tabs, f"no tab back to the ask page on {served_at}"
        assert urlsplit(urljoin("http://h" + served_at, tabs[0]["href"])).path == "/", (served_at, tabs[0]["href"])
        assert soup.select_one("a.md-header__button.md-logo")["title"] == "基层治理知识库"
    css = (out / "jiceng.css").read_text(encoding="utf-8")
    assert "--md-primary-fg-color: #b3261e" in css  # the ask page's --accent
    assert "--accent: #b3261e" in (REPO / "qa" / "static" / "style.css").read_text(encoding="utf-8")


def test_policy_page_keeps_heading_hierarchy(sample):
    out, _, _ = sample
    soup = soup_of(out, "policy", "policy-sample")
    headings = [(h.name, h.get_text(strip=True).rstrip("¶")) for h in soup.select("article :is(h2, h3)")]
    assert headings[:3] == [
        ("h2", "一、各地的经验值得总结"),
        ("h3", "(一)重视政治引领"),
        ("h2", "二、存在的问题"),
    ]
    # Two lines without a blank line between them are still two citable blocks.
    assert soup.find(id="p-2") and soup.find(id="p-3")


def test_home_and_index_pages(sample):
    out, _, _ = sample
    home = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    text = home.get_text()
    assert "本库收录 2 个案例、1 份政策文件" in re.sub(r"\s+", " ", text)
    assert {a["href"] for a in home.select(".grid.cards a")} >= {
        "cases/linli-sample/",
        "cases/gongde-sample/",
    }

    paths = BeautifulSoup((out / "paths" / "index.html").read_text(encoding="utf-8"), "html.parser")
    dezhi = paths.find(id="德治").find_next("ul")
    assert [a.get_text() for a in dezhi.select("a")] == ["样例“功德银行”"]

    regions = BeautifulSoup((out / "regions" / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert regions.find(id="xx").find_next("ul").a["href"] == "../cases/gongde-sample/"

    tags = BeautifulSoup((out / "tags" / "index.html").read_text(encoding="utf-8"), "html.parser")
    tag_section = tags.find(id=re.compile("功德银行"))
    assert tag_section is not None and "gongde-sample" in tag_section.find_next("ul").a["href"]

    compare = BeautifulSoup((out / "compare" / "index.html").read_text(encoding="utf-8"), "html.parser")
    rows = {tr.td.get_text(strip=True): tr.get_text(" ", strip=True) for tr in compare.select("tbody tr")}
    assert "社区居民参与率：不足30% → 70%以上" in rows["样例社区“邻里节”"]
    assert set(rows) == {"样例社区“邻里节”", "样例“功德银行”"}


def test_print_stylesheet_hides_navigation(sample):
    out, _, _ = sample
    css = (out / "jiceng.css").read_text(encoding="utf-8")
    print_rules = css[css.index("@media print") :]
    for selector in (".md-header", ".md-sidebar", ".md-search", ".jc-ask"):
        assert selector in print_rules
    assert soup_of(out, "case", "linli-sample").find("link", href=re.compile(r"jiceng\.css$"))


# --- offline and relative -----------------------------------------------------------------------------

_EXTERNAL_ASSET = re.compile(
    r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*\b(?:src|href)=\"(?:https?:)?//"
)
_ROOT_LINK = re.compile(r"\b(?:src|href)=\"/(?!/)")


def test_no_external_assets_and_no_root_links(sample):
    out, _, _ = sample
    pages = list(out.rglob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not _EXTERNAL_ASSET.search(html), f"{page}: external asset"
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html
        if page.name != "404.html":  # mkdocs' 404 page needs site_url for relative links; unused here
            assert not _ROOT_LINK.search(html), f"{page}: absolute link breaks the /library/ prefix"
    for css in out.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//|@import", css.read_text(encoding="utf-8")), css


# --- search -----------------------------------------------------------------------------------------


def _segment(query: str, vocabulary: set[str]) -> set[str]:
    """Port of mkdocs-material's in-browser Chinese query segmentation (search/query/segment)."""
    cuts = [0] * len(query)
    for i in range(len(query)):
        for j in range(i + 1, len(query)):
            if query[i:j] in vocabulary:
                cuts[i] = j - i
    segments: set[str] = set()
    stack = [0]
    while stack:
        p = stack.pop()
        for q in range(1, cuts[p]):
            if cuts[p + q] > cuts[p] - q:
                segments.add(query[p : p + q])
                stack.append(p + q)
        q = p + cuts[p]
        if q < len(query) - 1 and cuts[q]:
            stack.append(q)
        segments.add(query[p:q])
    return {query} if "" in segments else segments


def search(index: dict, query: str) -> list[str]:
    """Pages the browser search lists for ``query``, best first, emulating lunr as material sets it up.

    Index text was segmented by jieba at build time and is split on the configured separator; the
    query is segmented against the index vocabulary and every term gets a trailing wildcard. Scores
    keep lunr's field boosts (tags > title > text), which decide the order here.
    """
    separator = re.compile(index["config"]["separator"])
    boosts = {name: spec.get("boost", 1) for name, spec in index["config"]["fields"].items()}

    def tokens(doc: dict, field: str) -> list[str]:
        value = doc.get(field) or ""
        value = " ".join(value) if isinstance(value, list) else value
        return [t.lower() for t in separator.split(BeautifulSoup(value, "html.parser").get_text()) if t]

    vocabulary = {t for doc in index["docs"] for f in boosts for t in tokens(doc, f)}
    terms = _segment(query, vocabulary)
    scores: dict[str, float] = {}
    for doc in index["docs"]:
        score = sum(
            boosts[f] * sum(any(t.startswith(term) for term in terms) for t in tokens(doc, f)) for f in boosts
        )
        if score:
            page = doc["location"].split("#")[0]
            scores[page] = scores.get(page, 0) + score
    return sorted(scores, key=lambda page: -scores[page])


@pytest.mark.parametrize("term", ["邻里节", "功德银行"])
def test_search_index_finds_the_case_for_a_chinese_term(real, term):
    out, corpus = real
    index = json.loads((out / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert index["config"]["lang"] == ["zh"]
    results = search(index, term)
    dedicated = [f for f in corpus if term in f.meta.title or term in f.meta.tags]
    assert dedicated, f"the corpus should have a case about {term}"
    assert results[0] in {page_path(f.meta.kind, f.meta.id) for f in dedicated}
    assert all(re.fullmatch(r"(cases|policies)/[a-z0-9-]+/", page) for page in results), results
    mentioning = {page_path(f.meta.kind, f.meta.id) for f in corpus if term in f.body}
    assert mentioning <= set(results), f"pages mentioning {term} missing from the results"
    assert any(term in doc["text"].replace("\u200b", "") for doc in index["docs"])


# --- CLI --------------------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(JICENG), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_cli_builds_strict_and_reports(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus", SAMPLE)
    out = tmp_path / "html"
    result = run_cli(
        "site",
        "build",
        "--out",
        str(out),
        "--src",
        str(tmp_path / "src"),
        env={"JICENG_CORPUS_DIR": str(corpus)},
    )
    assert result.returncode == 0, result.stderr
    assert "library built" in result.stdout and "页" in result.stdout
    assert (out / "cases" / "linli-sample" / "index.html").is_file()
    assert (tmp_path / "src" / "cases" / "linli-sample.md").read_text(encoding="utf-8").count(
        'class="jc-p"'
    ) == 5


def test_cli_bad_corpus_gives_bilingual_error_not_traceback(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus", {"cases/bad.md": "---\nid: Bad Id\ntitle: x\n---\n\n正文。\n"})
    result = run_cli("site", "build", "--out", str(tmp_path / "html"), env={"JICENG_CORPUS_DIR": str(corpus)})
    assert result.returncode == 2
    assert "front matter 不合规" in result.stderr and "invalid front matter" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    precious = tmp_path / "home"
    (precious / "notes.txt").parent.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    refused = run_cli(
        "site", "build", "--out", str(precious), env={"JICENG_CORPUS_DIR": str(REPO / "corpus")}
    )
    assert refused.returncode == 2 and "refusing to empty it" in refused.stderr
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"
    missing = run_cli("site", "build", env={"JICENG_CORPUS_DIR": str(tmp_path / "nope")})
    assert missing.returncode == 2 and "corpus directory" in missing.stderr and "语料目录" in missing.stderr


def test_cli_serve_previews_the_library(tmp_path: Path):
    import socket
    import time
    import urllib.request

    corpus = write_corpus(tmp_path / "corpus", SAMPLE)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "JICENG_CORPUS_DIR": str(corpus)}
    server = subprocess.Popen(
        [str(JICENG), "site", "serve", "--dev-addr", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/cases/gongde-sample/", timeout=5
                ) as page:
                    html = page.read().decode("utf-8")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    "jiceng site serve did not come up"
                )
                time.sleep(0.3)
        assert "样例“功德银行”" in html and 'id="p-1"' in html
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_plain_mkdocs_build_strict_uses_the_top_level_config(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus", SAMPLE)
    out = tmp_path / "html"
    result = subprocess.run(
        [
            str(JICENG.with_name("mkdocs")),
            "build",
            "--strict",
            "-f",
            str(REPO / "mkdocs.yml"),
            "-d",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "JICENG_CORPUS_DIR": str(corpus), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert 'id="p-5"' in (out / "cases" / "gongde-sample" / "index.html").read_text(encoding="utf-8")
