"""Deterministic synthetic corpora for benchmarks, built from the bundled texts' own sentences and structure.

Each synthetic document is Markdown shaped like the sources (title, ``一、`` sections, ``（一）`` subsections,
paragraphs of consecutive source sentences) with varied entities: the sources' anonymised places (``xx市``)
and their numbers are swapped for values drawn by a seeded RNG from fixed lists of made-up names, and some
paragraphs open with a made-up place. Same size + seed -> byte-identical files, so the embedding cache
of a previous run applies. The text is benchmark filler, not a source of facts: every file says so.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import frontmatter

from jiceng.errors import InputError
from jiceng.text import sentence_spans

# 20k: the largest index once searched in memory (retrieval.memory_index_max has been raised since).
SIZES = {"1k": 1_000, "10k": 10_000, "20k": 20_000, "100k": 100_000}
BUNDLED = "corpus"  # the size that is no synthetic corpus but the bundled one, where the targets start
GENERATOR_VERSION = 1
MANIFEST = ".synthetic.json"  # hidden: ingest skips dot-files

# Made-up place syllables; combinations read like place names but denote nothing.
_FIRST = "青云石柳桃金松竹梅兰溪枫槐杏荷桂榆芦棠"
_SECOND = "禾溪桥湾岭川塘坪源泉峪洲岗田湖苑"
_UNITS = ("省", "市", "县", "区", "镇", "街道", "社区", "村")
_NUMERALS = "一二三四五六七八九十"
_PLACE = re.compile(r"xx(" + "|".join(_UNITS) + ")")
_NUMBER = re.compile(r"\d+")
_NUMBERING = re.compile(r"^\s*(#+\s*|(#+\s*)?[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[)）]|\d+[.、])\s*")

TOPICS = (
    "接诉即办", "街乡吹哨", "网格化管理", "村规民约", "红白理事会", "功德银行", "楼门议事会", "党建联盟",
    "社区协商", "志愿服务", "积分制", "民生微实事", "书记工作室", "老旧小区改造", "矛盾纠纷调解", "智慧社区",
)
_QUESTIONS = (
    "{place}是怎样推进{topic}的？", "{topic}在{place}有哪些做法？", "{place}开展{topic}取得了什么效果？",
    "如何借鉴{place}的{topic}经验？", "{place}的{topic}解决了哪些难题？",
)


@dataclass(frozen=True)
class SourceUnits:
    """What synthetic documents are assembled from: section headings and ordered sentences."""

    headings: tuple[str, ...]
    sentences: tuple[str, ...]


def source_texts(corpus_dir: Path | None = None) -> list[str]:
    """Bodies of ``corpus_dir/**/*.md`` (front matter dropped) plus the bundled seed texts, in a fixed order."""
    texts = []
    if corpus_dir is not None and corpus_dir.is_dir():
        texts += [frontmatter.load(p).content for p in sorted(corpus_dir.rglob("*.md"))]
    seeds = resources.files("jiceng") / "data" / "seeds"
    texts += [p.read_text(encoding="utf-8") for p in sorted(seeds.iterdir(), key=lambda p: p.name)
              if p.name.endswith(".txt")]
    return texts


def split_units(texts: list[str]) -> SourceUnits:
    """Short numbered lines and Markdown headings become headings; other sentences of 8-200 chars stay.

    Pass ``(text, ...)`` in a fixed order; the result (and so every synthetic file) follows it.
    """
    headings: dict[str, None] = {}
    sentences: list[str] = []
    for text in texts:
        for a, b in sentence_spans(text):
            sentence = text[a:b]
            bare = _NUMBERING.sub("", sentence).strip(" #：:")
            numbered = bool(_NUMBERING.match(sentence))
            if numbered and 4 <= len(bare) <= 30 and bare[-1] not in "。！？；":
                headings[bare] = None
            elif 8 <= len(bare) <= 200:
                sentences.append(bare)
    if len(headings) < 3 or len(sentences) < 20:
        raise InputError("源文本太少，无法生成合成语料。", "Too little source text to build a synthetic corpus.")
    return SourceUnits(tuple(headings), tuple(sentences))


def _place(rng: random.Random, unit: str) -> str:
    return rng.choice(_FIRST) + rng.choice(_SECOND) + unit


def _vary(sentence: str, places: dict[str, str], rng: random.Random) -> str:
    sentence = _PLACE.sub(lambda m: places[m.group(1)], sentence)
    return _NUMBER.sub(lambda m: str(rng.randint(10 ** (len(m.group()) - 1), 10 ** len(m.group()) - 1)), sentence)


def _paragraph(units: SourceUnits, places: dict[str, str], rng: random.Random) -> str:
    start = rng.randrange(len(units.sentences))
    picked = [_vary(s, places, rng) for s in units.sentences[start : start + rng.randint(3, 6)]]
    if rng.random() < 0.5 and not picked[0].startswith("-"):
        picked[0] = f"在{places['县']}{_place(rng, rng.choice(('镇', '街道', '社区', '村')))}，{picked[0]}"
    return "".join(s if s[-1] in "。！？；" else s + "。" for s in picked)


def synthetic_document(number: int, units: SourceUnits, seed: int) -> str:
    """Markdown text of synthetic document ``number``; depends only on its arguments."""
    rng = random.Random(f"{seed}:{number}")
    places = {unit: _place(rng, unit) for unit in _UNITS}
    topic = rng.choice(TOPICS)
    lines = [
        f"# {places['市']}{places['县']}“{topic}”实践（合成样例 {number:06d}）", "",
        "本文为基准测试用的合成文本，由源材料句子拼接并替换地名和数字生成，不是事实来源。", "",
    ]
    for s in range(rng.randint(2, 4)):
        lines += [f"## {_NUMERALS[s]}、{rng.choice(units.headings)}", ""]
        for sub in range(rng.randint(1, 3)):
            lines += [f"### （{_NUMERALS[sub]}）{rng.choice(units.headings)}", ""]
            lines += [p for _ in range(rng.randint(1, 3)) for p in (_paragraph(units, places, rng), "")]
    return "\n".join(lines)


def generate(
    out_dir: Path, n_chunks: int, *, seed: int = 0, corpus_dir: Path | None = None, chars_per_chunk: int = 210
) -> dict:
    """Write Markdown files into ``out_dir`` until they hold about ``n_chunks`` chunks of text.

    ``chars_per_chunk`` is what jiceng's chunker (target 300 characters) yields on these files on
    average: chunks end at paragraph and section ends, so most are shorter than the target.

    Reuses the folder when its manifest says it was built with the same parameters (the files
    are deterministic, so regenerating would only cost time). Returns the manifest.
    """
    units = split_units(source_texts(corpus_dir))
    fingerprint = hashlib.sha256(json.dumps([GENERATOR_VERSION, units.headings, units.sentences]).encode())
    params = {"n_chunks": n_chunks, "seed": seed, "chars_per_chunk": chars_per_chunk,
              "sources": fingerprint.hexdigest()[:16], "version": GENERATOR_VERSION}
    manifest_path = out_dir / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("params") == params and len(list(out_dir.glob("*.md"))) == manifest["files"]:
            return manifest
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.md"):
        old.unlink()
    total, number = 0, 0
    while total < n_chunks * chars_per_chunk:
        text = synthetic_document(number, units, seed)
        (out_dir / f"doc-{number:06d}.md").write_text(text, encoding="utf-8")
        total += len(text)
        number += 1
    manifest = {"params": params, "files": number, "chars": total}
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest


def questions(n: int, *, seed: int = 0) -> list[str]:
    """``n`` distinct questions about synthetic places and topics (distinct so no query cache helps)."""
    rng = random.Random(f"questions:{seed}")
    seen: dict[str, None] = {}
    while len(seen) < n:
        place = _place(rng, rng.choice(("市", "县", "区", "社区", "村")))
        seen[rng.choice(_QUESTIONS).format(place=place, topic=rng.choice(TOPICS))] = None
    return list(seen)
