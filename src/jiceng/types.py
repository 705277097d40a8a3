"""Domain types, one place: Document -> Chunk -> Passage -> Citation -> Answer.

Offsets are character offsets into ``Document.text`` (the canonical text every later stage cites
into), so ``document.text[start:end]`` always equals the quoted text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

DocKind = Literal["policy", "case", "user"]


class Document(BaseModel):
    """One source file after loading: canonical text plus metadata."""

    doc_id: str = Field(description="Stable slug: front-matter id, else derived from the file path.")
    title: str
    kind: DocKind = "user"
    text: str = Field(description="Canonical text; all offsets point into it.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Front matter / file facts.")
    source_path: str = Field("", description="File the document was loaded from.")
    content_hash: str = Field("", description="sha256 of text + metadata; drives incremental ingest.")


class Chunk(BaseModel):
    """A retrievable span of a document, with its section path."""

    chunk_id: str
    doc_id: str
    text: str = Field(description="Equals document.text[start:end].")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    section: str = Field("", description="Heading path, e.g. '一、… › (三) 德治'.")


class Passage(BaseModel):
    """A chunk as retrieved for a question."""

    rank: int = Field(ge=1)
    doc_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    score: float
    url: str
    chunk_id: str = ""


class Citation(BaseModel):
    """A verbatim quote backing one answer sentence: ``quote == document.text[start:end]``."""

    n: int = Field(ge=1, description="Marker number as it appears in the answer: [n].")
    doc_id: str
    title: str
    section: str
    quote: str
    start: int
    end: int
    url: str


class Answer(BaseModel):
    """What /ask and ``jiceng ask --json`` return."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    mode: str = "extractive"
