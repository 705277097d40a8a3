"""HTTP request and response bodies of the API (kept apart from the domain types they carry)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jiceng.types import Answer, Citation, DocKind, Passage


class AskRequest(BaseModel):
    # Unknown fields are refused, so a misspelt "topk" is an error rather than silently ignored.
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="问题 / the question, e.g. 朝阳区邻里节让居民参与率提高了多少？")
    top_k: int = Field(5, ge=1, le=50, strict=True, description="Passages to retrieve and return.")
    filters: dict[str, Any] | None = Field(
        None, description='Metadata filters: kind, region, path, tags, e.g. {"kind": "case", "tags": ["养老"]}.'
    )
    mode: Literal["extractive", "llm"] | None = Field(None, description="null = the configured default.")


class PassageOut(BaseModel):
    rank: int
    doc_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    score: float
    url: str

    @classmethod
    def of(cls, passage: Passage) -> PassageOut:
        return cls.model_validate(passage.model_dump(include=set(cls.model_fields)))


# What a Passage holds that the API does not send.
_PASSAGE_INTERNAL = frozenset(Passage.model_fields) - frozenset(PassageOut.model_fields)


class AskResponse(BaseModel):
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    passages: list[PassageOut]
    timings_ms: dict[str, float]
    mode: str = Field(description="extractive, llm, or llm-fallback when the model's answer was not used.")

    @classmethod
    def of(cls, answer: Answer) -> AskResponse:
        return cls.model_validate(answer.model_dump() | {"passages": [PassageOut.of(p) for p in answer.passages]})

    @staticmethod
    def json_of(answer: Answer) -> str:
        """``AskResponse.of(answer)``'s JSON, written by the answer's own serialiser in one pass without
        building the response model, which costs several times as much per answer."""
        return answer.model_dump_json(exclude={"passages": {"__all__": _PASSAGE_INTERNAL}})


class SearchResponse(BaseModel):
    results: list[PassageOut]

    @classmethod
    def of(cls, passages: list[Passage]) -> SearchResponse:
        return cls(results=[PassageOut.of(p) for p in passages])


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    kind: DocKind
    metadata: dict[str, Any]


class DocumentOut(DocumentSummary):
    text: str = Field(description="Canonical text: every citation's quote equals text[start:end].")


class Health(BaseModel):
    status: Literal["ok"]
    documents: int
    chunks: int
    generation: str
    llm: dict[str, Any] | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str = Field(description="中文说明（English explanation）")


class ErrorBody(BaseModel):
    error: ErrorDetail
