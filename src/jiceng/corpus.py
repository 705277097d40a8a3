"""The bundled corpus: Markdown files with validated YAML front matter, and its integrity check.

Integrity means two things, both checked against the seed texts: every sentence of a corpus body
(outside headings; discussion questions live in front matter) is verbatim from a seed, and every
seed sentence lands in at least one corpus document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import frontmatter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jiceng.errors import InputError

PARTY_PATHS = ("组织体系创新", "工作方法创新", "服务模式创新", "队伍能力创新")
GOVERNANCE_EXPERIENCES = ("政治引领", "法治", "德治", "自治", "智治")


class SourceSpan(BaseModel):
    """Where in which seed file a document's text comes from."""

    model_config = ConfigDict(extra="forbid")
    seed: str = Field(description="Seed file name, e.g. 001_a1796aac37910657.txt")
    start: int = Field(ge=0, description="Character offset of the first sourced character.")
    end: int = Field(ge=0, description="Character offset just past the last sourced character.")


class KeyFigure(BaseModel):
    """A number the source gives, as data (e.g. participation 30% -> 70%)."""

    model_config = ConfigDict(extra="forbid")
    label: str
    before: str | None = None
    after: str | None = None
    value: str | None = None
    quote: str = Field(description="Verbatim source text stating the figure.")


class FrontMatter(BaseModel):
    """Schema of every corpus file's YAML front matter."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,80}$", description="Stable slug; also the URL path.")
    title: str = Field(min_length=2)
    kind: Literal["policy", "case"]
    date: str | None = Field(None, description="Date as the source prints it, placeholders kept (2024/X/XX).")
    region: str = Field(description="Place as the source names it (anonymised 'xx' kept as 'xx').")
    path: list[str] = Field(
        default_factory=list,
        description="Party-building paths / governance experiences it illustrates.",
    )
    tags: list[str] = Field(default_factory=list)
    source: list[SourceSpan] = Field(min_length=1)
    key_figures: list[KeyFigure] = Field(default_factory=list)
    discussion: list[str] = Field(default_factory=list, description="讨论题 for training (authored).")
    discussion_authored: bool = Field(
        True, description="Discussion questions are written by the editors, not quoted from sources."
    )
    summary: str | None = Field(None, description="One-line teaser, verbatim from the source.")

    @field_validator("path")
    @classmethod
    def _known_paths(cls, value: list[str]) -> list[str]:
        known = set(PARTY_PATHS) | set(GOVERNANCE_EXPERIENCES)
        unknown = [p for p in value if p not in known]
        if unknown:
            raise ValueError(f"unknown path {unknown}; use {sorted(known)}")
        return value


class CorpusFile(BaseModel):
    """A parsed corpus file."""

    path: Path
    meta: FrontMatter
    body: str


def load_corpus_file(path: Path) -> CorpusFile:
    """Parse and validate one corpus Markdown file; bad front matter raises ``InputError``."""
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
        meta = FrontMatter.model_validate(post.metadata)
    except ValidationError as exc:
        raise InputError(
            f"{path} 的 front matter 不合规：{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}",
            f"{path}: invalid front matter: {exc}",
            code="bad_front_matter",
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path} 无法解析：{exc}", f"{path}: cannot parse: {exc}", code="bad_file") from exc
    return CorpusFile(path=path, meta=meta, body=post.content)


def corpus_paths(corpus_dir: Path) -> list[Path]:
    """Corpus Markdown files under ``corpus_dir`` (README.md files excluded), sorted."""
    return [p for p in sorted(corpus_dir.rglob("*.md")) if p.name != "README.md"]


def load_corpus(corpus_dir: Path) -> list[CorpusFile]:
    """All corpus files under ``corpus_dir``, sorted by path."""
    return [load_corpus_file(p) for p in corpus_paths(corpus_dir)]


def register_cli(app) -> None:  # noqa: ANN001 - typer app
    """Add ``jiceng corpus …`` commands (the check lives in jiceng.corpus_check)."""
    from jiceng.corpus_check import corpus_app

    app.add_typer(corpus_app, name="corpus")
