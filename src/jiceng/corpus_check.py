"""Integrity check of the bundled corpus against the seed texts, and the ``jiceng corpus`` commands.

The rules, in the order the check applies them (all comparisons after ``normalize_for_match``):

* **sourced** – every body sentence outside Markdown headings (a leading list marker ``- `` dropped)
  is a contiguous part of a seed. So are the front-matter fields that claim to quote: ``summary``
  and each ``key_figures[].quote``. Headings, title, tags and discussion questions are editorial.
* **spans** – every ``source`` span names a seed and is a range ``0 <= start < end <= len(seed)``;
  every sourced text of the document lies inside one of its spans, and every span holds at least
  one of them (a span that sources nothing is a false claim).
* **coverage** – a seed sentence (``sentence_spans`` of the seed) is covered when every letter and
  digit of it is covered by corpus text aligned to that place; punctuation and list markers do not
  count. Body sentences cover the place they were matched at (inside the document's spans, in
  reading order). A heading – and the front-matter ``title``/``date`` before the first line – covers
  seed text only where it stands in the seed directly before the text that follows it in the
  document: a heading lifted from an inline seed heading ("(一)重视…作用各地在推进…") counts, an
  editorial one ("## 做法") never does.
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple

import typer
from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from jiceng.corpus import CorpusFile, SourceSpan, corpus_paths, load_corpus_file
from jiceng.errors import InputError
from jiceng.settings import get_settings
from jiceng.text import normalize_for_match, sentence_spans

_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")

ProblemKind = Literal["front_matter", "unsourced", "span", "uncovered", "duplicate_id"]


class Problem(BaseModel):
    """One thing the check found wrong, with where to fix it."""

    kind: ProblemKind
    file: str = Field(description="Corpus file, or seed file for 'uncovered'.")
    line: int | None = Field(None, description="1-based line in that file (None: front matter / whole file).")
    text: str = Field("", description="The offending sentence or span.")
    detail: str = ""


class SeedCoverage(BaseModel):
    seed: str
    sentences: int
    covered_sentences: int
    chars: int = Field(description="Letters and digits in the seed (normalised).")
    covered_chars: int


class CorpusReport(BaseModel):
    """Result of ``check_corpus``; ``ok`` is what the exit code reports."""

    documents: int
    policies: int
    cases: int
    body_sentences: int
    sourced_sentences: int
    seeds: list[SeedCoverage]
    problems: list[Problem]

    @property
    def seed_sentences(self) -> int:
        return sum(s.sentences for s in self.seeds)

    @property
    def covered_sentences(self) -> int:
        return sum(s.covered_sentences for s in self.seeds)

    @property
    def coverage(self) -> float:
        return self.covered_sentences / self.seed_sentences if self.seed_sentences else 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.documents > 0

    def to_json(self) -> str:
        data = self.model_dump()
        data.update(
            ok=self.ok,
            seed_sentences=self.seed_sentences,
            covered_sentences=self.covered_sentences,
            coverage=round(self.coverage, 4),
        )
        return json.dumps(data, ensure_ascii=False, indent=2)


@dataclass
class Seed:
    """A seed text with its normalised form and a map from normalised to raw offsets."""

    name: str
    text: str
    norm: str = ""
    raw_at: list[int] = field(default_factory=list)
    covered: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        # Normalise char by char so every normalised char knows its raw offset (spans are raw offsets).
        parts: list[str] = []
        for i, ch in enumerate(self.text):
            folded = normalize_for_match(ch)
            parts.append(folded)
            self.raw_at.extend([i] * len(folded))
        self.norm = "".join(parts)
        self.covered = bytearray(len(self.norm))

    def norm_offset(self, raw: int) -> int:
        """First normalised offset at or after raw offset ``raw``."""
        return bisect.bisect_left(self.raw_at, raw)


@dataclass
class _Item:
    """One piece of a document in reading order: a heading or a body sentence."""

    heading: bool
    text: str
    line: int | None
    norm: str = ""
    match: tuple[Seed, int, int] | None = None

    def __post_init__(self) -> None:
        self.norm = normalize_for_match(self.text)


def default_seeds_dir() -> Path:
    """The seed texts shipped inside the package."""
    return Path(str(resources.files("jiceng") / "data" / "seeds"))


def load_seeds(seeds_dir: Path) -> dict[str, Seed]:
    files = sorted(seeds_dir.glob("*.txt"))
    if not files:
        raise InputError(
            f"种子文本目录 {seeds_dir} 中没有 .txt 文件",
            f"no .txt seed files in {seeds_dir}",
            code="no_seeds",
        )
    return {p.name: Seed(p.name, p.read_text(encoding="utf-8")) for p in files}


def _is_counted(ch: str) -> bool:
    """Letters and digits count for coverage; punctuation, symbols and list markers do not."""
    return unicodedata.category(ch)[0] in "LN"


def _document_items(doc: CorpusFile, body_line: int) -> list[_Item]:
    """Title/date, headings and body sentences of a document, in reading order."""
    items = [_Item(True, doc.meta.title, None)]
    if doc.meta.date:
        items.append(_Item(True, doc.meta.date, None))
    for number, line in enumerate(doc.body.splitlines(), start=body_line):
        heading = _HEADING.match(line)
        if heading:
            items.append(_Item(True, heading.group(2), number))
            continue
        content = _LIST_MARKER.sub("", line, count=1)
        items.extend(_Item(False, content[a:b], number) for a, b in sentence_spans(content))
    return [item for item in items if item.norm]


class _Region(NamedTuple):
    """A valid source span, in normalised offsets of its seed."""

    span: SourceSpan
    seed: Seed
    start: int
    end: int

    def holds(self, match: tuple[Seed, int, int]) -> bool:
        return match[0] is self.seed and self.start <= match[1] and match[2] <= self.end


def _find(norm: str, regions: list[_Region], cursor: tuple[Seed, int] | None) -> tuple[Seed, int, int] | None:
    """Where ``norm`` sits: after ``cursor`` in its region (reading order), else first in any region."""
    if cursor:
        seed, after = cursor
        for r in regions:
            if (
                r.seed is seed
                and r.start <= after <= r.end
                and (hit := seed.norm.find(norm, after, r.end)) >= 0
            ):
                return seed, hit, hit + len(norm)
    for r in regions:
        if (hit := r.seed.norm.find(norm, r.start, r.end)) >= 0:
            return r.seed, hit, hit + len(norm)
    return None


def _heading_fits(seed: Seed, heading: str, before: int) -> int | None:
    """Start of ``heading`` if it ends in the seed right before ``before`` (punctuation may sit between)."""
    while True:
        start = before - len(heading)
        if start >= 0 and seed.norm[start:before] == heading:
            return start
        if before == 0 or _is_counted(seed.norm[before - 1]):
            return None
        before -= 1


class _Checker:
    def __init__(self, seeds: dict[str, Seed]) -> None:
        self.seeds = seeds
        self.problems: list[Problem] = []
        self.body_sentences = 0
        self.sourced_sentences = 0

    def problem(self, kind: ProblemKind, file: Path | str, line: int | None, text: str, detail: str) -> None:
        self.problems.append(Problem(kind=kind, file=str(file), line=line, text=text, detail=detail))

    def regions(self, doc: CorpusFile) -> list[_Region]:
        """The document's valid source spans; invalid ones are reported."""
        regions = []
        for span in doc.meta.source:
            seed = self.seeds.get(span.seed)
            if seed is None:
                self.problem(
                    "span", doc.path, None, _span_text(span), f"unknown seed; have {sorted(self.seeds)}"
                )
            elif not 0 <= span.start < span.end <= len(seed.text):
                self.problem("span", doc.path, None, _span_text(span), f"range outside 0..{len(seed.text)}")
            else:
                regions.append(_Region(span, seed, seed.norm_offset(span.start), seed.norm_offset(span.end)))
        return regions

    def locate(
        self,
        doc: CorpusFile,
        text: str,
        line: int | None,
        regions: list[_Region],
        cursor: tuple[Seed, int] | None = None,
        where: str = "body",
    ) -> tuple[Seed, int, int] | None:
        """Match one sourced text to its seed place; report it when unsourced or outside the spans."""
        norm = normalize_for_match(text)
        hit = _find(norm, regions, cursor)
        if hit is None:
            if any(norm in seed.norm for seed in self.seeds.values()):
                self.problem(
                    "span", doc.path, line, text, f"{where}: verbatim in a seed but outside the source spans"
                )
            else:
                self.problem("unsourced", doc.path, line, text, f"{where}: not verbatim in any seed")
        return hit

    def check_document(self, doc: CorpusFile, body_line: int) -> None:
        regions = self.regions(doc)
        items = _document_items(doc, body_line)
        matches = []
        cursor = None
        for item in items:
            if item.heading:
                continue
            self.body_sentences += 1
            item.match = self.locate(doc, item.text, item.line, regions, cursor)
            if item.match:
                self.sourced_sentences += 1
                matches.append(item.match)
                seed, start, end = item.match
                seed.covered[start:end] = b"\x01" * (end - start)
                cursor = (seed, end)
        self._cover_headings(items)
        quoted = [("summary", doc.meta.summary)] if doc.meta.summary else []
        quoted += [(f"key_figures {f.label}", f.quote) for f in doc.meta.key_figures]
        for where, text in quoted:
            hit = self.locate(doc, text, None, regions, where=f"front matter {where}")
            if hit:
                matches.append(hit)
        for region in regions:
            if not any(region.holds(m) for m in matches):
                self.problem(
                    "span", doc.path, None, _span_text(region.span), "span holds none of the document's text"
                )

    @staticmethod
    def _cover_headings(items: list[_Item]) -> None:
        """Mark headings that stand in the seed right before the sentence following them."""
        for n, item in enumerate(items):
            if item.heading or not item.match:
                continue
            seed, before, _ = item.match
            k = n - 1
            while k >= 0 and items[k].heading:
                start = _heading_fits(seed, items[k].norm, before)
                if start is None:
                    break
                seed.covered[start:before] = b"\x01" * (before - start)
                before, k = start, k - 1

    def coverage(self) -> list[SeedCoverage]:
        result = []
        for seed in self.seeds.values():
            covered_sentences = 0
            for a, b in sentence_spans(seed.text):
                start, end = seed.norm_offset(a), seed.norm_offset(b)
                missing = [i for i in range(start, end) if _is_counted(seed.norm[i]) and not seed.covered[i]]
                if missing:
                    line = seed.text.count("\n", 0, a) + 1
                    self.problem(
                        "uncovered", seed.name, line, seed.text[a:b], f"chars {a}-{b}: in no corpus document"
                    )
                else:
                    covered_sentences += 1
            counted = [i for i, ch in enumerate(seed.norm) if _is_counted(ch)]
            result.append(
                SeedCoverage(
                    seed=seed.name,
                    sentences=len(sentence_spans(seed.text)),
                    covered_sentences=covered_sentences,
                    chars=len(counted),
                    covered_chars=sum(1 for i in counted if seed.covered[i]),
                )
            )
        return result


def _span_text(span: SourceSpan) -> str:
    return f"{span.seed}[{span.start}:{span.end}]"


def _body_first_line(path: Path, body: str) -> int:
    """1-based line of the file where the body starts (front matter parsing strips it off)."""
    raw = path.read_text(encoding="utf-8")
    return raw.count("\n", 0, raw.rfind(body)) + 1 if body else 1


def corpus_files(corpus_dir: Path) -> list[Path]:
    """``corpus_paths``, but a missing directory is an error here rather than an empty corpus."""
    if not corpus_dir.is_dir():
        raise InputError(
            f"语料目录不存在：{corpus_dir}", f"corpus directory not found: {corpus_dir}", code="no_corpus"
        )
    return corpus_paths(corpus_dir)


def check_corpus(corpus_dir: Path, seeds_dir: Path | None = None) -> CorpusReport:
    """Check every corpus document against the seeds (rules in the module docstring)."""
    checker = _Checker(load_seeds(seeds_dir or default_seeds_dir()))
    docs: list[CorpusFile] = []
    seen: dict[str, Path] = {}
    for path in corpus_files(corpus_dir):
        try:
            doc = load_corpus_file(path)
        except InputError as exc:
            checker.problem("front_matter", path, None, "", exc.message_en)
            continue
        if doc.meta.id in seen:
            checker.problem(
                "duplicate_id", path, None, doc.meta.id, f"id already used by {seen[doc.meta.id]}"
            )
        seen[doc.meta.id] = path
        docs.append(doc)
        checker.check_document(doc, _body_first_line(path, doc.body))
    seeds = checker.coverage()
    return CorpusReport(
        documents=len(docs),
        policies=sum(d.meta.kind == "policy" for d in docs),
        cases=sum(d.meta.kind == "case" for d in docs),
        body_sentences=checker.body_sentences,
        sourced_sentences=checker.sourced_sentences,
        seeds=seeds,
        problems=checker.problems,
    )


# ---------------------------------------------------------------- CLI

corpus_app = typer.Typer(
    help="语料库：校验与列表。\n\nThe bundled corpus: integrity check and listing.",
    no_args_is_help=True,
)
_console = Console()

_SEEDS_OPT = typer.Option(
    None, "--seeds", help="种子文本目录（默认：包内自带）/ seed texts dir (default: bundled)."
)
_CORPUS_OPT = typer.Option(
    None, "--corpus", help="语料目录（默认：settings.corpus_dir）/ corpus dir (default: settings)."
)
_JSON_OPT = typer.Option(False, "--json", help="输出 JSON / print JSON.")


@corpus_app.command("check")
def check_command(
    json_out: bool = _JSON_OPT,
    seeds: Path | None = _SEEDS_OPT,
    corpus: Path | None = _CORPUS_OPT,
) -> None:
    """校验语料：正文出自种子、种子全收录、区间真实；有问题退出码 1。

    Check the corpus: body verbatim from seeds, every seed sentence kept, true spans; exit 1 on problems.
    """
    report = check_corpus(corpus or get_settings().corpus_dir, seeds)
    if json_out:
        print(report.to_json())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: CorpusReport) -> None:
    table = Table(title="种子覆盖 / seed coverage")
    for column in ("seed", "句子 sentences", "已覆盖 covered", "%", "字 chars %"):
        table.add_column(column, justify="right", min_width=len(column))
    table.columns[0].justify, table.columns[0].no_wrap = "left", True
    for s in report.seeds:
        table.add_row(
            s.seed,
            str(s.sentences),
            str(s.covered_sentences),
            f"{100 * s.covered_sentences / max(s.sentences, 1):.1f}",
            f"{100 * s.covered_chars / max(s.chars, 1):.1f}",
        )
    _console.print(table)
    for p in report.problems:
        where = f"{p.file}:{p.line}" if p.line else p.file
        _console.print(f"[red]{p.kind}[/] {where}  {p.text}\n    [dim]{p.detail}[/]", highlight=False)
    colour = "green" if report.ok else "red"
    _console.print(
        f"[{colour}]{report.documents} 篇文档 documents ({report.policies} policy, {report.cases} case); "
        f"正文句子 body sentences sourced {report.sourced_sentences}/{report.body_sentences}; "
        f"种子句子覆盖 seed sentences covered {report.covered_sentences}/{report.seed_sentences} "
        f"({100 * report.coverage:.1f}%); 问题 problems: {len(report.problems)}[/]"
    )


@corpus_app.command("list")
def list_command(
    json_out: bool = _JSON_OPT,
    corpus: Path | None = _CORPUS_OPT,
) -> None:
    """列出语料文档（编号、类型、标题、地区、标签）。

    List corpus documents (id, kind, title, region, tags).
    """
    docs = [load_corpus_file(p) for p in corpus_files(corpus or get_settings().corpus_dir)]
    docs.sort(key=lambda d: (d.meta.kind != "policy", d.meta.id))
    if json_out:
        rows = [d.meta.model_dump(include={"id", "kind", "title", "region", "tags", "path"}) for d in docs]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"语料 / corpus ({len(docs)})")
    for column in ("id", "kind", "title", "region", "tags"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "kind"))
    for d in docs:
        table.add_row(d.meta.id, d.meta.kind, d.meta.title, d.meta.region, "、".join(d.meta.tags))
    _console.print(table)
