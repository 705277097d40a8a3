"""/docs (Swagger UI) and /redoc (ReDoc) in a real headless chromium against the real server, with every
host but the loopback unresolvable: the pages must render the API from files the server itself serves."""

from __future__ import annotations

import os

import pytest

from .conftest import headless_chromium, running_api

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from jiceng.ingest.pipeline import ingest_paths
    from jiceng.settings import Settings

    root = tmp_path_factory.mktemp("apidocs")
    (root / "docs").mkdir()
    (root / "docs" / "note.txt").write_text("红白理事会抵制高价彩礼。", encoding="utf-8")
    ingest_paths([root / "docs"], Settings(data_dir=root / "data"), progress=False)
    with running_api(root, {**os.environ, "JICENG_DATA_DIR": str(root / "data")}) as base:
        yield base


@pytest.fixture(scope="module")
def offline_browser():
    # No network but the loopback: a CDN (jsdelivr, Google Fonts) does not resolve.
    with headless_chromium("--window-size=1280,1000", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1") as driver:
        driver.set_page_load_timeout(30)
        yield driver


def _code_from_elsewhere(driver, base: str) -> list[str]:
    """Scripts, stylesheets, fonts and requests the page fetched from another host (images aside: ReDoc's
    sidebar shows a "by Redocly" badge from cdn.redoc.ly, which offline is a missing picture, nothing more)."""
    entries = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.initiatorType])"
    )
    return [url for url, kind in entries if not url.startswith((base, "data:", "blob:")) and kind != "img"]


def test_swagger_ui_renders_the_operations_offline(server, offline_browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    offline_browser.get(f"{server}/docs")
    WebDriverWait(offline_browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-post [data-path='/ask']")
    )
    paths = {e.get_attribute("data-path") for e in offline_browser.find_elements(By.CSS_SELECTOR, "[data-path]")}
    assert {"/ask", "/search", "/documents", "/healthz"} <= paths
    assert _code_from_elsewhere(offline_browser, server) == []


def test_redoc_renders_the_operations_offline(server, offline_browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    offline_browser.get(f"{server}/redoc")
    WebDriverWait(offline_browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "[data-section-id='operation/ask_ask_post']")
    )
    assert "/ask" in offline_browser.find_element(By.CSS_SELECTOR, "[id='operation/ask_ask_post']").text
    assert _code_from_elsewhere(offline_browser, server) == []
