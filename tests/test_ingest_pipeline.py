"""Ingest end to end with a real Chroma in a tmp dir, on tiny generated files: the bundled model where
search quality is the subject, the deterministic test embedder where the bookkeeping is."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiceng.errors import IndexMissingError
from jiceng.ingest import chunking
from jiceng.ingest.embedding import get_embedder
from jiceng.ingest.pipeline import ingest_paths
from jiceng.ingest.store import current_generation, open_current
from jiceng.settings import Settings

from .fakes import HASHING

pytestmark = pytest.mark.slow

POLICY_MD = """---
id: dezhi-policy
title: 德治与自治
kind: user
---
# 德治

德治是基层治理的长效手段。开展道德教化，有利于弘扬优秀传统文化。

## 功德银行

xx村推行“功德银行”，村民做好事可以积分，积分可兑换生活用品。
"""
SORTING_TXT = "一、垃圾分类\n社区推行垃圾分类，居民按时定点投放。\n二、接诉即办\n群众诉求十二小时内响应，办理结果当日反馈。\n"


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Bookkeeping (generations, caches, rebuilds, failures) is the subject: the deterministic embedder."""
    return Settings(data_dir=tmp_path / "data", embedding={"backend": HASHING})


@pytest.fixture()
def model_settings(tmp_path: Path) -> Settings:
    """Dense search finding the right passage is the subject: the bundled model."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.md").write_text(POLICY_MD, encoding="utf-8")
    (folder / "sorting.txt").write_bytes(SORTING_TXT.encode("gbk"))
    return folder


def test_nothing_ingested_is_a_clear_error(settings: Settings) -> None:
    assert current_generation(settings) is None
    with pytest.raises(IndexMissingError) as info:
        open_current(settings)
    assert "jiceng ingest" in info.value.message_en


def test_ingest_then_search_finds_the_right_passage_with_exact_offsets(model_settings: Settings, folder: Path) -> None:
    settings = model_settings
    report = ingest_paths([folder], settings, progress=False)
    assert (report.files, report.added, report.failed) == (2, 2, [])
    snapshot = open_current(settings)
    assert snapshot.generation == report.generation == current_generation(settings)
    assert snapshot.documents["dezhi-policy"].title == "德治与自治"
    for chunk in snapshot.chunks:
        assert snapshot.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text

    top, _ = snapshot.bm25_search("功德银行怎么积分", 1)[0]
    assert "积分可兑换" in snapshot.chunks[top].text
    assert snapshot.chunks[top].section == "德治 › 功德银行"

    query = snapshot.embedder.embed_queries(["群众诉求多久响应"])[0]
    top, similarity = snapshot.dense_search(query, 1)[0]
    assert "十二小时内响应" in snapshot.chunks[top].text  # GBK file decoded correctly
    assert snapshot.chunks[top].section == "二、接诉即办"
    assert 0.5 < similarity <= 1.0


def test_reingest_unchanged_embeds_nothing_and_keeps_the_generation(settings: Settings, folder: Path) -> None:
    first = ingest_paths([folder], settings, progress=False)
    embedder = get_embedder(settings)
    computed = embedder.computed
    again = ingest_paths([folder], settings, progress=False)
    assert (again.unchanged, again.added, again.replaced, again.embedded) == (2, 0, 0, 0)
    assert again.generation == first.generation
    assert embedder.computed == computed

    (folder / "sorting.txt").write_bytes((SORTING_TXT + "三、网格管理\n网格员每天巡查。\n").encode("gbk"))
    changed = ingest_paths([folder], settings, progress=False)
    assert (changed.unchanged, changed.replaced) == (1, 1)
    assert changed.generation != first.generation
    assert 0 < changed.embedded < changed.chunks  # only the changed document's new chunks
    assert any("网格员每天巡查" in c.text for c in open_current(settings).chunks)


def test_traditional_text_is_found_by_a_simplified_question(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "hk"
    folder.mkdir()
    (folder / "trad.txt").write_text("鄰里節設立了鄰里互助板塊，居民參與率明顯提高。", encoding="utf-8")
    ingest_paths([folder], settings, progress=False)
    snapshot = open_current(settings)
    [(top, _)] = snapshot.bm25_search("邻里节 参与率", 1)
    assert snapshot.chunks[top].text.startswith("鄰里節")  # the quote stays as written


def test_duplicate_ids_and_bad_files_fail_alone(settings: Settings, folder: Path) -> None:
    (folder / "zz-copy.md").write_text(POLICY_MD, encoding="utf-8")  # same id as policy.md, read later
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 not a pdf")
    report = ingest_paths([folder], settings, progress=False)
    assert (report.added, report.documents) == (2, 2)
    reasons = {Path(path).name: en for path, _zh, en in report.failed}
    assert set(reasons) == {"zz-copy.md", "scan.pdf"}
    assert "duplicates" in reasons["zz-copy.md"] and "PDF" in reasons["scan.pdf"]


def test_new_chunking_settings_rechunk_unchanged_documents(settings: Settings, folder: Path) -> None:
    first = ingest_paths([folder], settings, progress=False)
    finer = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"chunk_chars": 50})})
    again = ingest_paths([folder], finer, progress=False)
    assert (again.unchanged, again.replaced, again.added) == (2, 0, 0)
    assert again.generation != first.generation
    snapshot = open_current(finer)
    assert snapshot.manifest["chunking"]["chunk_chars"] == 50
    assert all(len(c.text) <= 50 for c in snapshot.chunks)


def test_an_index_cut_by_older_chunking_rules_is_recut_on_the_next_ingest(
    settings: Settings, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = chunking.CHUNKING_RULES
    first = ingest_paths([folder], settings, progress=False)
    assert open_current(settings).manifest["chunking"]["rules"] == rules
    again = ingest_paths([folder], settings, progress=False)
    assert again.generation == first.generation  # same files, same rules: nothing to do
    monkeypatch.setattr(chunking, "CHUNKING_RULES", rules + 1)
    recut = ingest_paths([folder], settings, progress=False)
    assert recut.generation != first.generation and recut.unchanged == 2
    assert open_current(settings).manifest["chunking"]["rules"] == rules + 1


def test_a_corpus_without_a_single_search_token_is_indexed_for_dense_search_only(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "stopwords"
    folder.mkdir()
    (folder / "的了.txt").write_text("的了是在和与及等。\n\n的了是在。\n", encoding="utf-8")
    report = ingest_paths([folder], settings, progress=False)
    assert report.chunks >= 1 and not report.failed
    snapshot = open_current(settings)
    assert snapshot.bm25_search("的了是", 5) == []
    assert len(snapshot.dense_search(get_embedder(settings).embed_queries(["的了是"])[0], 5)) == report.chunks


def test_rebuild_starts_from_scratch_and_reuses_vectors_only_for_the_same_model_and_chunking(
    settings: Settings, folder: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "extra.txt").write_text("网格员每天巡查，发现问题当日上报。", encoding="utf-8")
    first = ingest_paths([folder, other], settings, progress=False)
    assert first.documents == 3

    same = ingest_paths([folder], settings, progress=False, rebuild=True)
    assert same.generation != first.generation  # always a new generation, even with nothing changed
    assert (same.documents, same.unchanged, same.removed) == (2, 2, 1)  # only what was loaded now
    assert same.embedded == 0  # same model and chunking: the cached vectors are the ones it would compute
    snapshot = open_current(settings)
    assert len(snapshot.documents) == 2 and "dezhi-policy" in snapshot.documents
    assert not any(d.source_path.endswith("extra.txt") for d in snapshot.documents.values())
    assert {c.doc_id for c in snapshot.chunks} == set(snapshot.documents)

    # Chunks no longer than 300 characters are the same texts at 400: only the setting differs. A plain
    # ingest would take their vectors from the cache; a rebuild embeds every one again.
    wider = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"chunk_chars": 400})})
    rebuilt = ingest_paths([folder], wider, progress=False, rebuild=True)
    assert [c.text for c in open_current(wider).chunks] == [c.text for c in snapshot.chunks]
    assert rebuilt.embedded == rebuilt.chunks > 0
    assert open_current(wider).manifest["chunking"]["chunk_chars"] == 400


def test_rebuild_with_nothing_loadable_keeps_the_index(settings: Settings, folder: Path, tmp_path: Path) -> None:
    from jiceng.errors import InputError

    first = ingest_paths([folder], settings, progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "scan.pdf").write_bytes(b"%PDF-1.4 not a pdf")
    with pytest.raises(InputError, match="unchanged"):
        ingest_paths([broken], settings, progress=False, rebuild=True)
    assert current_generation(settings) == first.generation
