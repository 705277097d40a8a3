"""Structure-aware chunking of Chinese documents with exact offsets.

Written by hand because no library splitter both understands Chinese inline headings and keeps exact
character offsets (llama-index's splitters return strings). Sentences come from
``jiceng.text.sentence_spans`` so chunks and citations agree on sentence edges.

Headings: Markdown ``#`` lines, and Chinese numbered headings ``第一章`` ``第一节`` ``一、`` ``(一)``/``（一）``
``1.``/``1、`` ``(1)``/``（1）`` at a line start or right after a sentence end. Official texts often run a heading
straight into its body without punctuation ("(三)充分发挥德治的教化作用德治是基层治理的长效手段。"), so
the heading end is guessed, see ``_inline_heading_end``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from collections.abc import Iterable
from itertools import pairwise

from jiceng.settings import Settings
from jiceng.text import ORDINAL_LABEL, answer_spans, plain_heading_end, sentence_spans, to_simplified
from jiceng.types import Chunk, Document

SECTION_SEPARATOR = " › "
MAX_HEADING_CHARS = 40
# The version of the rules that cut a text into sections and chunks, kept in each index's manifest: an
# index cut by other rules is re-cut on the next ingest, not reused. 2: a plain text's labelled lines head
# sections (``jiceng.text.plain_heading_end``).
CHUNKING_RULES = 2

_MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_CN_NUM = "一二三四五六七八九十百零〇"
# Rank after Markdown levels 1-6: the usual order of Chinese official documents.
_MARKERS = (
    (8, rf"第[{_CN_NUM}]+[章编]"),  # regulations: 第一章 总则 (第X条 are articles: body, not headings)
    (9, rf"第[{_CN_NUM}]+节"),
    (10, rf"[{_CN_NUM}]+、"),
    (11, rf"[（(][{_CN_NUM}]+[）)]"),
    (12, r"\d{1,2}[.．、](?![\d.．])"),
    (13, r"[（(]\d{1,2}[）)]"),
)
# After 。！？ but not after ；: "…；2.加强队伍建设" is an inline list, not a heading.
_MARKER_ALTERNATIVES = "|".join(f"(?P<m{rank}>{pattern})" for rank, pattern in _MARKERS)
_MARKER = re.compile(
    r"(?:(?<=^)|(?<=\n)|(?<=[。！？!?])|(?<=[。！？!?][”’」』）)]))[ \t\u3000]*"
    r"(?P<marker>" + _MARKER_ALTERNATIVES + r")[ \t\u3000]*"
)
# A heading may run straight into the next one: "二、主要任务（一）健全社区组织体系社区党组织要…".
_MARKER_HERE = re.compile(r"[ \t\u3000]*(?P<marker>" + _MARKER_ALTERNATIVES + r")[ \t\u3000]*")
_NESTED_MARKER = re.compile(r"[（(][一二三四五六七八九十]+[）)]|[（(]\d{1,2}[）)]")
_CLAUSE_END = re.compile(r"[，,。；;！？!?：:\n]")
_SENTENCE_PUNCT = "。；;！？!?"

# Heading-end heuristic lexicons (see ``_inline_heading_end``). Words headings of policy texts end with:
_HEADING_FINAL = frozenset(
    "作用 机制 建设 路径 难题 问题 建议 对策 经验 总结 体系 能力 水平 活力 提升 破解 形成 释放 叠加 之中 "
    "模式 方向 保障 引领 格局 工作 服务 治理 管理 发展 改革 创新 优势 效能 基础 短板 合力 举措 措施 意见 "
    "原则 目标 任务 要求 意义 现状 成效 挑战 展望 必然性 实践 做法 启示 思路 重点 体制 制度 平台 载体 "
    "队伍 责任 落实 新路径 结合 融合 参与 共治 自治 法治 德治 智治 减负 "
    "福祉 民生 共享 协商 需求 全覆盖 常态化 规范化 现代化 专业化 职业化 精细化".split()
)
# Words a body sentence typically opens with:
_BODY_INITIAL = frozenset(
    "近年来 近年 各地 我国 当前 目前 如 例如 比如 为 为了 随着 在 通过 要 须 必须 应 应当 一是 首先 同时 "
    "此外 另外 这 该 其 大量 理顺 推进 加快 加强 认真 增进 积极 强化 坚持 建立 健全 完善 推动 充分 着力 "
    "鼓励 支持 探索 实践 党的 党中央 各级 一些 部分 许多 由于 针对 面对 围绕 按照 根据 依托 从".split()
)
# A heading never stops right before these: they continue the phrase ("有待形成", "于…之中", "的").
_CONTINUATION = frozenset(
    "的 地 得 于 之 和 与 及 以及 等 中 上 下 里 化 性 有待 尚待 亟待 亟需 未 不断 进一步 方面 过程 工作 问题".split()
)


@dataclass(frozen=True)
class Heading:
    start: int  # first character of the heading (its marker)
    end: int  # just past the heading text; the section body starts here
    rank: int
    title: str


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.Tokenizer()


def _inline_heading_end(text: str, start: int) -> int | None:
    """Where a heading that starts at ``start`` ends, or ``None`` when it is not a heading (a list item).

    The clause up to the first punctuation holds the heading and maybe the body's first words. If it
    ends at a line break or colon and is short, it is all heading. Otherwise each jieba word boundary
    4-32 characters in is scored: +2 when the heading so far ends with a typical heading end (作用,
    机制, 破解…), +1 when its length is typical (8-24 characters),
    +2 when the text after opens like a sentence (近年来, 各地, 加强…) or is an opening quote,
    +1 when the word after repeats a word of the heading ("…德治的教化作用|德治是…"). A boundary
    before a continuation word (的, 于, 有待…) or leaving a body sentence under 4 characters is never taken. The best score (earliest on ties) wins
    if it is at least 2.
    """
    clause_end = _CLAUSE_END.search(text, start)
    stop = clause_end.start() if clause_end else len(text)
    nested = _NESTED_MARKER.search(text, start + 2, stop)
    if nested:  # the next heading starts right here: everything before it is this heading
        return nested.start() if nested.start() - start <= MAX_HEADING_CHARS else None
    clause = text[start:stop]
    if not clause.strip():
        return None
    closing = text[stop] if stop < len(text) else "\n"
    if closing in "\n：:" and len(clause) <= MAX_HEADING_CHARS:
        return stop
    sentence_ends = closing not in "，,、"
    words = _jieba().lcut(clause[: MAX_HEADING_CHARS + 8], HMM=False)
    best, best_score, offset = None, 1, 0
    for before, after in pairwise(words):
        offset += len(before)
        if offset < 4:
            continue
        if offset > 32:
            break
        if after in _CONTINUATION or after[0] in "的之于和与及等" or (sentence_ends and len(clause) - offset < 4):
            continue  # mid-phrase, or the body would be a fragment sentence ("…队伍|建设。")
        heading = clause[:offset]
        score = 2 * (heading[-2:] in _HEADING_FINAL or heading[-3:] in _HEADING_FINAL)
        score += 8 <= len(heading) <= 24
        rest = clause[offset:]
        score += 2 * (rest[:1] in _BODY_INITIAL or rest[:2] in _BODY_INITIAL or rest[:3] in _BODY_INITIAL
                      or rest[0] in "“\"「『《")
        score += 1 * (len(after) >= 2 and after[:2] in heading)
        if score > best_score:
            best, best_score = start + offset, score
    return best


def _numbered_heading(text: str, match: re.Match) -> Heading | None:
    """The heading a numbering marker opens, or ``None`` when the marker starts a list item."""
    marker_start = match.start("marker")
    rank = next(r for r, _ in _MARKERS if match.group(f"m{r}"))
    line_end = text.find("\n", match.end())
    line = text[marker_start : len(text) if line_end < 0 else line_end].rstrip()
    at_line_start = text[text.rfind("\n", 0, marker_start) + 1 : marker_start].strip() == ""
    if at_line_start and len(line) <= MAX_HEADING_CHARS and line[-1] not in _SENTENCE_PUNCT:
        end = marker_start + len(line)
    else:
        end = _inline_heading_end(text, match.end())
        if end is None:
            return None
    return Heading(marker_start, end, rank, text[marker_start:end].strip())


# Headings of a text without markup (``plain_heading_end``) rank below every numbered one: a label with an
# ordinal (路径一:, 挑战二:) above one without (具体做法:, 案例说明:…), which sits under it.
_PLAIN_RANK = 14


def find_headings(text: str) -> list[Heading]:
    """All headings in document order: Markdown lines, Chinese numbered headings, and the lines of a text
    without markup that head a list or labelled lines (``plain_heading_end``)."""
    headings: list[Heading] = []
    markdown_lines: list[tuple[int, int]] = []
    for match in _MARKDOWN_HEADING.finditer(text):
        markdown_lines.append((match.start(), match.end()))
        headings.append(Heading(match.start(), match.end(), len(match.group(1)), match.group(2).strip()))
    for match in _MARKER.finditer(text):
        if any(a <= match.start("marker") < b for a, b in markdown_lines):
            continue  # "## 一、…" is already a Markdown heading
        heading = _numbered_heading(text, match)
        while heading is not None:
            headings.append(heading)
            follower = _MARKER_HERE.match(text, heading.end)
            heading = _numbered_heading(text, follower) if follower else None
    taken = [(h.start, h.end) for h in headings]
    line_start = 0
    while line_start < len(text):
        end = plain_heading_end(text, line_start)
        if end is not None and not any(a <= line_start < b or line_start <= a < end for a, b in taken):
            title = text[line_start:end].strip()
            rank = _PLAIN_RANK if ORDINAL_LABEL.match(title) else _PLAIN_RANK + 1
            headings.append(Heading(line_start, end, rank, title))
        next_line = text.find("\n", line_start)
        line_start = len(text) if next_line < 0 else next_line + 1
    headings.sort(key=lambda h: h.start)
    return headings


def _sections(text: str) -> list[tuple[str, int, int]]:
    """(section path, body start, body end) for the text before the first heading and under each heading."""
    sections: list[tuple[str, int, int]] = []
    stack: list[Heading] = []
    cursor, path = 0, ""
    for heading in find_headings(text):
        sections.append((path, cursor, heading.start))
        while stack and stack[-1].rank >= heading.rank:
            stack.pop()
        stack.append(heading)
        path = SECTION_SEPARATOR.join(h.title for h in stack)
        cursor = heading.end
    sections.append((path, cursor, len(text)))
    return sections


def _pieces(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Split one over-long sentence at commas (or hard, if it has none) into spans of at most ``limit``."""
    pieces: list[tuple[int, int]] = []
    while end - start > limit:
        window = text[start : start + limit]
        cut = max(window.rfind(p) for p in "，,、：:")
        cut = start + (cut + 1 if cut > limit // 3 else limit)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def chunking_signature(settings: Settings) -> dict:
    """How an index's chunks were cut, kept in its manifest: chunks cut otherwise are not reused."""
    return {**settings.ingest.model_dump(include={"chunk_chars", "overlap_sentences"}), "rules": CHUNKING_RULES}


def chunk_document(doc: Document, settings: Settings) -> list[Chunk]:
    """Chunks of whole sentences, never crossing a section, up to ``settings.ingest.chunk_chars`` each.

    The last ``overlap_sentences`` sentences of a chunk open the next one. ``chunk.text`` is exactly
    ``doc.text[start:end]``; the section path is kept apart in ``chunk.section``.
    """
    limit = settings.ingest.chunk_chars
    overlap = settings.ingest.overlap_sentences
    chunks: list[Chunk] = []
    for section, body_start, body_end in _sections(doc.text):
        sentences = [
            piece
            for a, b in sentence_spans(doc.text, body_start, body_end)
            for piece in _pieces(doc.text, a, b, limit)
        ]
        i = 0
        while i < len(sentences):
            j = i + 1
            while j < len(sentences) and sentences[j][1] - sentences[i][0] <= limit:
                j += 1
            start, end = sentences[i][0], sentences[j - 1][1]
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}@{start}-{end}",
                    doc_id=doc.doc_id,
                    text=doc.text[start:end],
                    start=start,
                    end=end,
                    section=section,
                )
            )
            # Overlap, but always move forward by at least one sentence.
            i = max(i + 1, j - overlap) if j < len(sentences) else j
    return chunks


def index_text(doc: Document, chunk: Chunk) -> str:
    """What gets embedded and BM25-indexed for a chunk: title and section path give it context.

    Traditional characters are folded to simplified (OpenCC), as questions are, so both scripts match.
    """
    context = SECTION_SEPARATOR.join(part for part in (doc.title, chunk.section) if part)
    return to_simplified(f"{context}\n{chunk.text}" if context else chunk.text)


def sentence_texts(doc: Document, start: int, end: int, section: str) -> tuple[str, str]:
    """What a sentence is embedded as: in context (the document's title and innermost section, then the
    sentence) and alone. A sentence rarely names its case (参与率从不足30%提升至70%以上 does not say
    朝阳区), its title does; but the sentences of one section share that context, and alone they differ."""
    leaf = section.rsplit(SECTION_SEPARATOR, 1)[-1].strip()
    context = f"{doc.title}｜{leaf}" if leaf else doc.title
    sentence = doc.text[start:end]
    return to_simplified(f"{context}：{sentence}"), to_simplified(sentence)


def chunk_sentence_texts(doc: Document, chunks: Iterable[Chunk]) -> list[str]:
    """Every sentence of ``doc``'s chunks, and the heading each sits under (``answer_spans``), as
    ``sentence_texts`` embeds it when a question retrieves the
    chunk: what the ingest embeds ahead, so requests find the vectors in the cache."""
    return list(dict.fromkeys(
        text
        for chunk in chunks
        for start, end in answer_spans(doc.text, chunk.start, chunk.end)
        for text in sentence_texts(doc, start, end, chunk.section)
    ))
