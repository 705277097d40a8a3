"""The case library in a real headless chromium, served under /library/ by a real HTTP server."""

from __future__ import annotations

import base64
import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from jiceng.corpus import load_corpus
from jiceng.settings import Settings
from jiceng.site.build import build_site
from jiceng.site.urls import library_url
from jiceng.text import block_spans
from jiceng.types import Document

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromium-driver are required in CI (make test installs them)")
        pytest.skip("chromium not installed: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The real corpus built into <root>/library and served from <root>, as `jiceng serve` mounts it."""
    root = tmp_path_factory.mktemp("web")
    build_site(Settings(data_dir=root / "data", corpus_dir=REPO / "corpus"), out=root / "library")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def linlijie():
    """The 邻里节 case and a citation offset in its 做法 section (far enough down that the page scrolls)."""
    case = next(f for f in load_corpus(REPO / "corpus") if f.meta.kind == "case" and "邻里节" in f.meta.title)
    doc = Document(doc_id=case.meta.id, title=case.meta.title, kind="case", text=case.body)
    start, _ = block_spans(doc.text)[-2]
    return doc, start


def test_home_page_for_trainers(browser, server):
    browser.get(f"{server}/library/")
    assert "基层治理知识库" in browser.title
    assert browser.find_element("css selector", "article h1").text.startswith("案例库")
    cards = browser.find_elements("css selector", ".grid.cards li a")
    assert len(cards) >= 3 and all("/library/cases/" in a.get_attribute("href") for a in cards)
    browser.save_screenshot(str(ARTIFACTS / "library-home.png"))


def test_citation_url_lands_on_the_cited_paragraph(browser, server, linlijie):
    doc, start = linlijie
    url = library_url(doc, start)
    browser.get(server + url)
    assert browser.title.startswith(doc.title)
    sections = [h.text.strip() for h in browser.find_elements("css selector", "article h2")]
    assert sections[:4] == ["背景", "做法", "成效", "启示"]
    anchor = url.split("#")[1]
    state = browser.execute_script(
        """const a = document.getElementById(arguments[0]); const r = a.getBoundingClientRect();
        return {target: document.querySelector(':target')?.id, top: r.top, height: innerHeight, y: scrollY,
                text: a.parentElement.textContent,
                bg: getComputedStyle(a.parentElement).backgroundColor};""",
        anchor,
    )
    assert state["target"] == anchor
    # Scrolled to, and not hidden under the sticky header.
    assert state["y"] > 0 and 0 <= state["top"] < state["height"] / 2, state
    assert doc.text[start : start + 8].lstrip("-* ") in state["text"]
    assert state["bg"] not in ("rgba(0, 0, 0, 0)", "transparent")  # the cited paragraph is highlighted
    browser.save_screenshot(str(ARTIFACTS / "library-case-cited-paragraph.png"))


def test_ask_link_opens_the_ask_page_with_the_question(browser, server, linlijie):
    doc, _ = linlijie
    browser.get(f"{server}/library/cases/{doc.doc_id}/")
    browser.find_element("css selector", "a.jc-ask").click()
    current = urlsplit(browser.current_url)
    assert current.path == "/"
    assert doc.title in parse_qs(current.query)["q"][0]


@pytest.mark.parametrize(("term", "slug_part"), [("功德银行", "gongde"), ("邻里节", "linlijie")])
def test_search_box_finds_the_case(browser, server, term, slug_part):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/library/")
    browser.find_element("css selector", "label.md-search__icon, .md-search__input").click()
    box = browser.find_element("css selector", "input.md-search__input")
    box.send_keys(term)

    def first_result(driver):
        # The result list re-renders after each keystroke: read href and text in one go, retry when stale.
        items = driver.find_elements("css selector", ".md-search-result__item > a")
        return items and (items[0].get_attribute("href"), items[0].text)

    waiting = WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,))
    try:
        href, text = waiting.until(lambda d: (r := first_result(d)) and slug_part in r[0] and r)
    except TimeoutException:
        pytest.fail(f"first search result for {term} is not the {slug_part} case: {first_result(browser)}")
    assert term in text
    browser.save_screenshot(str(ARTIFACTS / f"library-search-{slug_part}.png"))


def test_print_handout_hides_navigation(browser, server, linlijie):
    doc, _ = linlijie
    browser.get(f"{server}/library/cases/{doc.doc_id}/")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        hidden = browser.execute_script(
            "return ['.md-header', '.md-sidebar--primary', '.jc-ask'].map("
            "s => getComputedStyle(document.querySelector(s)).display);"
        )
        assert hidden == ["none", "none", "none"]
        assert browser.find_element("css selector", ".admonition.question").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = base64.b64decode(browser.print_page())
    assert pdf.startswith(b"%PDF")
    (ARTIFACTS / "library-case-handout.pdf").write_bytes(pdf)
