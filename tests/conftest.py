"""Shared fixtures: every test's state goes to a tmp dir; small real parts, no mocks of what users meet."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO.parent / "shared" / "seeds"
CORPUS_DIR = REPO / "corpus"


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
