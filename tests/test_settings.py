"""Settings: env prefix JICENG_, nested sections with one underscore, TOML file, unknown keys rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jiceng.settings import Settings


def test_env_sets_top_level_and_nested_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JICENG_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("JICENG_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("JICENG_RETRIEVAL_TOP_K", "7")
    monkeypatch.setenv("JICENG_API_KEY", "secret")
    settings = Settings()
    assert settings.data_dir == tmp_path / "state"
    assert settings.llm.base_url == "http://127.0.0.1:9/v1"
    assert settings.retrieval.top_k == 7
    assert settings.api_key == "secret"


def test_defaults_are_offline_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JICENG_DATA_DIR")
    settings = Settings()
    assert settings.data_dir == Path(".jiceng")
    assert settings.embedding.backend == "onnx" and settings.embedding.quantize == "fp32"
    assert settings.chroma_url is None and settings.llm.base_url is None and settings.api_key is None
    assert settings.server.cors_origins == []


def test_toml_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('chroma_url = "http://127.0.0.1:8001"\n[retrieval]\ntop_k = 9\n[answer]\nmax_sentences = 2\n')
    monkeypatch.setenv("JICENG_CONFIG", str(config))
    monkeypatch.setenv("JICENG_ANSWER_MAX_SENTENCES", "4")
    settings = Settings()
    assert settings.chroma_url == "http://127.0.0.1:8001"
    assert settings.retrieval.top_k == 9
    assert settings.answer.max_sentences == 4


def test_unknown_and_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[retrieval]\ntop_kk = 3\n")
    monkeypatch.setenv("JICENG_CONFIG", str(config))
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("JICENG_CONFIG")
    monkeypatch.setenv("JICENG_RETRIEVAL_TOP_K", "0")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("JICENG_RETRIEVAL_TOP_K")
    monkeypatch.setenv("JICENG_EMBEDDING_BACKEND", "onxx")  # a typo names no registered backend
    with pytest.raises(ValidationError, match="unknown embedding backend 'onxx'"):
        Settings()
