"""The synthetic benchmark corpus: deterministic, sized as asked, shaped like the sources, entities varied."""

from __future__ import annotations

import re
from pathlib import Path

from bench import synthetic
from jiceng.text import sentence_spans


def _files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))}


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    synthetic.generate(tmp_path / "a", 200, seed=1)
    synthetic.generate(tmp_path / "b", 200, seed=1)
    synthetic.generate(tmp_path / "c", 200, seed=2)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_size_follows_requested_chunks_and_rerun_reuses_the_folder(tmp_path: Path) -> None:
    manifest = synthetic.generate(tmp_path, 500, chars_per_chunk=300)
    assert 500 * 300 <= manifest["chars"] < 500 * 300 + 10_000  # stops after the file that crosses the target
    assert manifest["files"] == len(list(tmp_path.glob("*.md")))
    first = tmp_path / "doc-000000.md"
    mtime = first.stat().st_mtime_ns
    assert synthetic.generate(tmp_path, 500, chars_per_chunk=300) == manifest
    assert first.stat().st_mtime_ns == mtime
    bigger = synthetic.generate(tmp_path, 1000, chars_per_chunk=300)
    assert bigger["files"] > manifest["files"]


def test_documents_have_source_structure_sentences_and_no_anonymised_places() -> None:
    units = synthetic.split_units(synthetic.source_texts(None))
    text = synthetic.synthetic_document(7, units, seed=0)
    assert text.startswith("# ") and "合成样例 000007" in text.splitlines()[0]
    assert re.search(r"^## 一、", text, re.MULTILINE) and re.search(r"^### （一）", text, re.MULTILINE)
    assert not re.search(r"xx(省|市|县|区|镇|街道|社区|村)", text)
    # Most sentences come from the sources (places and numbers swapped, some with a place in front).
    def bare(s: str) -> str:
        return re.sub(r"\d+", "0", s)
    source = {bare(s) for s in units.sentences}
    body = [text[a:b] for a, b in sentence_spans(text) if not text[a:b].startswith("#")]
    kept = [s for s in body if bare(s.split("，", 1)[-1]).rstrip("。") in {x.rstrip("。") for x in source}]
    assert len(kept) >= len(body) // 2


def test_questions_are_distinct_and_deterministic() -> None:
    first = synthetic.questions(300, seed=3)
    assert len(set(first)) == 300
    assert first == synthetic.questions(300, seed=3)
