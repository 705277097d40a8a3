"""Readers' feedback on answers (👍 / 👎 and a correction note), kept in SQLite, exported as an eval set.

What is stored is what the reader sent and nothing about the reader: the question, the rating, the note,
the answer's citations, the index generation when the client knows it, and the time. No IP address, no
user agent: the rate limiter of ``routes_feedback`` keeps client addresses in memory only.

The database is ``data_dir/feedback.sqlite3`` in WAL mode (readers never wait for a writer, a crash never
leaves half a row), created on first use; one short connection per call, so threads and server workers
share it safely.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jiceng.errors import InputError
from jiceng.settings import Settings

FEEDBACK_DB = "feedback.sqlite3"
Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    note TEXT,
    citations TEXT NOT NULL DEFAULT '[]',
    generation TEXT
)
"""


class FeedbackCitation(BaseModel):
    """One citation of the answer the feedback is about, as the answer carried it."""

    model_config = ConfigDict(extra="ignore")  # the page sends whole citations (n, title, url…): kept out
    doc_id: str = Field(min_length=1, max_length=128)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    quote: str = Field(max_length=5000)

    @model_validator(mode="after")
    def _ordered(self) -> FeedbackCitation:
        if self.end < self.start:
            raise ValueError("end must not be smaller than start")
        return self


class FeedbackIn(BaseModel):
    """``POST /feedback`` body. Lengths that depend on settings are checked by ``check_feedback``."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="提问原文 / the question as asked")
    rating: Rating = Field(description="up = 有用 / helpful, down = 有误或无用 / wrong or unhelpful")
    note: str | None = Field(None, description="纠错说明 / a short correction note")
    citations: list[FeedbackCitation] = Field(default_factory=list, description="the answer's citations")
    generation: str | None = Field(None, max_length=64, description="index generation of the answer, if known")


class FeedbackOut(BaseModel):
    id: int
    created_at: str
    question: str
    rating: Rating
    note: str | None
    citations: list[FeedbackCitation]
    generation: str | None


class FeedbackPage(BaseModel):
    total: int
    items: list[FeedbackOut]


class FeedbackCreated(BaseModel):
    id: int


def _check_text(name_zh: str, name_en: str, text: str, *, lines: bool) -> None:
    """No lone surrogates (a JSON "\\ud800" escape: SQLite cannot store them) and no control characters."""
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        raise InputError(
            f"{name_zh}中含有无法识别的字符，请使用 UTF-8 编码", f"the {name_en} is not valid UTF-8", code="bad_encoding"
        )
    allowed = "\t\n\r" if lines else ""
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text):
        raise InputError(
            f"{name_zh}中含有控制字符，请删除后重试", f"the {name_en} contains control characters", code="bad_input"
        )


def check_feedback(body: FeedbackIn, settings: Settings) -> FeedbackIn:
    """Bounds from the settings, in Chinese and English; the question and the note are stored stripped."""
    _check_text("问题", "question", body.question, lines=True)
    _check_text("纠错说明", "note", body.note or "", lines=True)
    for citation in body.citations:
        # Quotes are document text, which may hold any character but a lone surrogate.
        _check_text("引文", "citation", citation.doc_id, lines=False)
        if any(unicodedata.category(ch) == "Cs" for ch in citation.quote):
            raise InputError("引文中含有无法识别的字符", "a citation quote is not valid UTF-8", code="bad_encoding")
    if body.generation is not None:
        _check_text("索引版本", "generation", body.generation, lines=False)
    question = body.question.strip()
    if not question:
        raise InputError("问题不能为空", "the question is empty", code="empty_question")
    limit = settings.answer.max_question_chars
    if len(question) > limit:
        raise InputError(
            f"问题太长（{len(question)} 字），最多 {limit} 字",
            f"the question is too long ({len(question)} characters; at most {limit})",
            code="question_too_long",
        )
    note = (body.note or "").strip() or None
    note_limit = settings.feedback.note_max_chars
    if note is not None and len(note) > note_limit:
        raise InputError(
            f"纠错说明太长（{len(note)} 字），最多 {note_limit} 字",
            f"the note is too long ({len(note)} characters; at most {note_limit})",
            code="note_too_long",
        )
    most = settings.feedback.max_citations
    if len(body.citations) > most:
        raise InputError(
            f"引文太多（{len(body.citations)} 条），最多 {most} 条",
            f"too many citations ({len(body.citations)}; at most {most})",
            code="too_many_citations",
        )
    return body.model_copy(update={"question": question, "note": note})


def db_path(settings: Settings) -> Path:
    return settings.data_dir / FEEDBACK_DB


@contextlib.contextmanager
def _connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    path = db_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        with conn:  # one transaction: committed on success, rolled back on an error
            yield conn
    finally:
        conn.close()


def add_feedback(body: FeedbackIn, settings: Settings) -> int:
    """Store one checked entry; its id."""
    citations = json.dumps([c.model_dump() for c in body.citations], ensure_ascii=False)
    with _connect(settings) as conn:
        cursor = conn.execute(
            "INSERT INTO feedback (created_at, question, rating, note, citations, generation) VALUES (?, ?, ?, ?, ?, ?)",
            (
                datetime.now(UTC).isoformat(timespec="seconds"),
                body.question,
                body.rating,
                body.note,
                citations,
                body.generation,
            ),
        )
        return int(cursor.lastrowid)


def _row(row: sqlite3.Row) -> FeedbackOut:
    return FeedbackOut(
        id=row["id"],
        created_at=row["created_at"],
        question=row["question"],
        rating=row["rating"],
        note=row["note"],
        citations=json.loads(row["citations"] or "[]"),
        generation=row["generation"],
    )


def list_feedback(settings: Settings, limit: int | None = 50, offset: int = 0) -> FeedbackPage:
    """Entries newest first; ``limit=None`` = all of them (the export)."""
    with _connect(settings) as conn:
        conn.row_factory = sqlite3.Row
        total = conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
        rows = conn.execute(
            "SELECT * FROM feedback ORDER BY id DESC LIMIT ? OFFSET ?", (-1 if limit is None else limit, offset)
        ).fetchall()
    return FeedbackPage(total=total, items=[_row(r) for r in rows])


def eval_item(entry: FeedbackOut) -> dict | None:
    """One eval-set item (evals/README.md) of a feedback entry, or None for a 👍 without citations.

    👍: answerable, the cited quotes are the candidate gold (a reviewer may trim them), no keys.
    👎: the reader says the answer was wrong or missing, not what is right, so there is no gold to give:
    the item is written as ``answerable: false`` (the only valid shape without gold) with tags
    ``feedback`` + ``down`` and the reader's note, for a reviewer to turn into a real item.
    """
    base = {"id": f"fb-{entry.id}", "question": entry.question}
    extra = {"note": entry.note, "created_at": entry.created_at, "generation": entry.generation}
    extra = {k: v for k, v in extra.items() if v is not None}
    if entry.rating == "up":
        gold = list(dict.fromkeys(c.quote.strip() for c in entry.citations if c.quote.strip()))
        if not gold:
            return None
        return base | {"answerable": True, "gold": gold, "keys": [], "tags": ["feedback", "up"]} | extra
    return base | {"answerable": False, "gold": [], "keys": [], "tags": ["feedback", "down"]} | extra


def export_eval_set(settings: Settings, out: Path) -> tuple[int, int]:
    """Write every entry (oldest first) as eval-set JSONL to ``out``; (items written, 👍 skipped for lack of
    citations). The file is written beside ``out`` and renamed, so a reader never sees half of it."""
    from jiceng.evals.goldset import EvalItem

    written = skipped = 0
    lines = []
    for entry in reversed(list_feedback(settings, limit=None).items):
        item = eval_item(entry)
        if item is None:
            skipped += 1
            continue
        EvalItem.model_validate(item)  # what `jiceng eval --set` will check, before anything is written
        lines.append(json.dumps(item, ensure_ascii=False))
        written += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(out)
    return written, skipped
