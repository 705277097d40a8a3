"""Shared fixtures: every test's state goes to a tmp dir; small real parts, no mocks of what users meet."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.load import free_port
from jiceng.settings import Settings

from . import fakes  # noqa: F401  (registers the test-only embedding backend for every test)

REPO = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO.parent / "shared" / "seeds"
CORPUS_DIR = REPO / "corpus"


@pytest.fixture(scope="session", autouse=True)
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder of built embedding graphs for the whole session (``JICENG_EMBEDDING_MODELS_DIR``, set
    before any other fixture runs, server processes included): the onnx backend builds its graph once, not
    once per test's data dir. A graph is a build of the bundled model, no state a test could leak."""
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as session_env:
        session_env.setenv("JICENG_EMBEDDING_MODELS_DIR", str(folder))
        yield folder


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Send JICENG_DATA_DIR to a fresh tmp dir for every test, so no test touches a real index."""
    data_dir = tmp_path / "jiceng-data"
    monkeypatch.setenv("JICENG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from jiceng.settings import get_settings

    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of an index of the whole bundled corpus (real Chroma, the real bundled model), built once per session:
    answers depend on every document's word statistics, so some behaviour shows only on all of it."""
    from jiceng.ingest.pipeline import ingest_paths

    settings = Settings(data_dir=tmp_path_factory.mktemp("corpus-index") / "data", corpus_dir=CORPUS_DIR)
    ingest_paths([CORPUS_DIR], settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def session_embedder(corpus_settings: Settings):
    """The bundled model behind the session's one embedding cache, that of the corpus index: tests that
    answer without an index read the vectors of the corpus's chunks and sentences from it, not anew."""
    from jiceng.ingest.embedding import get_embedder

    return get_embedder(corpus_settings)


@pytest.fixture(scope="session")
def llm_stub_url():
    """Base URL (``…/v1``) of the scripted OpenAI-compatible server (tests/llm_stub_server.py), a real process."""
    import subprocess
    import sys

    script = REPO / "tests" / "llm_stub_server.py"
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{line.split()[1]}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def asking_chroma(settings: Settings) -> Settings:
    """``settings`` with dense search asking Chroma every time, as beyond ``retrieval.memory_index_max``."""
    return settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"memory_index_max": 0})})


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    """A real ``chroma run`` server on ``port`` storing in ``path``, returned once it accepts connections."""
    import socket

    proc = subprocess.Popen(
        [Path(sys.executable).parent / "chroma", "run", "--path", str(path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chroma did not start")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
_CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)


@contextlib.contextmanager
def headless_chromium(*flags: str) -> Iterator:
    """A real headless Debian chromium driven by selenium, with ``flags`` beside the usual ones; a skip
    without it, and a failure in CI, where `make browser` installs it."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (make browser)")
        pytest.skip("chromium not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*_CHROMIUM_FLAGS, *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def running_api(root: Path, env: dict[str, str]) -> Iterator[str]:
    """A real API server process (uvicorn, ``create_app`` factory) on a free loopback port; yields its base URL
    once /healthz answers, stops it afterwards. Its stderr goes to ``root / "serve.log"``."""
    port = free_port()
    with open(root / "serve.log", "w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "jiceng.qa.api:create_app", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (root / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the API server did not come up:\n" + (root / "serve.log").read_text())
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
