"""``jiceng serve`` always serves the case library: a real ``jiceng serve`` process on a data dir where
``jiceng site build`` never ran; the library's 404 page is styled under /library/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from bench.load import free_port

from .conftest import CORPUS_DIR

pytestmark = pytest.mark.slow
JICENG = Path(sys.executable).parent / "jiceng"


@contextmanager
def jiceng_serve(data_dir: Path, corpus_dir: Path, log: Path) -> Iterator[str]:
    """The real ``jiceng serve`` on a free loopback port; yields its base URL once it answers. Its stderr
    (the log lines saying what it did with the library) goes to ``log``."""
    port = free_port()
    env = {**os.environ, "JICENG_DATA_DIR": str(data_dir), "JICENG_CORPUS_DIR": str(corpus_dir)}
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [JICENG, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("jiceng serve did not come up:\n" + log.read_text())
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_builds_the_missing_library_and_rebuilds_it_only_when_the_corpus_changed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    data, log = tmp_path / "data", tmp_path / "serve.log"

    with jiceng_serve(data, corpus, log) as base:  # no `jiceng site build` before
        home = httpx.get(f"{base}/library/", timeout=30)
        assert home.status_code == 200 and "基层治理知识库" in home.text
        assert httpx.get(f"{base}/library/cases/chaoyang-shequ-linlijie/", timeout=30).status_code == 200
    assert "building the case library (not built yet)" in log.read_text()
    assert "case library built" in log.read_text()

    with jiceng_serve(data, corpus, log):
        pass
    assert "case library up to date" in log.read_text() and "building" not in log.read_text()

    case = corpus / "cases" / "chaoyang-shequ-linlijie.md"
    case.write_text(case.read_text(encoding="utf-8").replace("邻里节", "邻里文化节"), encoding="utf-8")
    with jiceng_serve(data, corpus, log) as base:
        page = httpx.get(f"{base}/library/cases/chaoyang-shequ-linlijie/", timeout=30)
        assert "邻里文化节" in page.text
    assert "building the case library (corpus changed" in log.read_text()


def test_library_404_page_is_styled_under_library(tmp_path: Path) -> None:
    with jiceng_serve(tmp_path / "data", CORPUS_DIR, tmp_path / "serve.log") as base:
        missing = httpx.get(f"{base}/library/cases/no-such-case/", timeout=30)
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        stylesheets = re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', missing.text)
        stylesheets += re.findall(r'<link[^>]+href="([^"]+)"[^>]+rel="stylesheet"', missing.text)
        assert any("main" in s for s in stylesheets) and any("jiceng.css" in s for s in stylesheets), stylesheets
        for href in stylesheets:
            assert href.startswith("/library/"), href
            css = httpx.get(base + href, timeout=30)
            assert css.status_code == 200 and "text/css" in css.headers["content-type"], href
        script = re.search(r'<script src="([^"]+bundle[^"]+)"', missing.text).group(1)
        assert httpx.get(base + script, timeout=30).status_code == 200
        # The header's home link, resolved as a browser does ("/library/." is the library's home).
        home = re.search(r'<a href="([^"]+)" title="基层治理知识库"', missing.text).group(1)
        assert home.startswith("/library/")
        assert httpx.get(urljoin(str(missing.url), home), timeout=30).status_code == 200


def test_serve_without_a_corpus_still_starts_and_says_why_there_is_no_library(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with jiceng_serve(tmp_path / "data", tmp_path / "no-corpus", log) as base:
        library = httpx.get(f"{base}/library/", timeout=30)
        assert library.status_code == 404 and library.json()["error"]["code"] == "http_404"
    assert "case library not built" in log.read_text()
