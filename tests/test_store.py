"""Index generations: atomic switch, crash safety (SIGKILL mid-ingest), cleanup, prune, Chroma server mode."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.load import free_port
from jiceng.errors import BackendUnavailableError, IndexMissingError
from jiceng.ingest import store
from jiceng.ingest.pipeline import ingest_paths, remove_documents
from jiceng.ingest.store import current_generation, open_current
from jiceng.settings import Settings

from .conftest import asking_chroma, start_chroma
from .fakes import HASHING

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    # The store's bookkeeping is the subject, not the model: the deterministic test embedder.
    return Settings(data_dir=tmp_path / "data", embedding={"backend": HASHING})


def _folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _collections(settings: Settings) -> set[str]:
    return {c.name for c in store.chroma_client(settings).list_collections()}


def test_old_generations_are_deleted_but_the_previous_stays_readable(settings: Settings, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "docs", {"a.txt": "红白理事会抵制高价彩礼。"})
    first = ingest_paths([folder], settings, progress=False).generation
    reader = open_current(settings)  # e.g. a server answering questions during the next ingest
    querying = open_current(asking_chroma(settings))  # a reader of an index too big to scan in memory
    (folder / "b.txt").write_text("网格员每天巡查社区。", encoding="utf-8")
    second = ingest_paths([folder], settings, progress=False).generation
    assert current_generation(settings) == second != first
    # The in-flight reader still answers from the generation it opened.
    query = reader.embedder.embed_queries(["彩礼"])[0]
    assert "彩礼" in reader.chunks[reader.dense_search(query, 1)[0][0]].text
    assert reader.bm25_search("彩礼", 1)

    (folder / "c.txt").write_text("接诉即办，快速响应群众诉求。", encoding="utf-8")
    third = ingest_paths([folder], settings, progress=False).generation
    assert sorted(os.listdir(settings.data_dir / "generations")) == sorted([second, third])
    assert _collections(settings) == {f"jiceng_g{second}", f"jiceng_g{third}"}
    with pytest.raises(IndexMissingError) as info:  # two switches later its collection is gone: reopen
        querying.dense_search(query, 1)
    assert info.value.code == "generation_gone"
    # A small generation's vectors were read into memory when it was opened: it answers until dropped.
    assert "彩礼" in reader.chunks[reader.dense_search(query, 1)[0][0]].text


def test_prune_removes_vanished_documents_only_when_asked(settings: Settings, tmp_path: Path) -> None:
    docs = _folder(tmp_path / "docs", {"a.txt": "红白理事会抵制高价彩礼。", "b.txt": "网格员每天巡查社区。"})
    other = _folder(tmp_path / "other", {"c.txt": "接诉即办，快速响应。"})
    ingest_paths([docs], settings, progress=False)
    ingest_paths([other], settings, progress=False)
    assert len(open_current(settings).documents) == 3  # other paths' documents are kept
    (docs / "b.txt").unlink()
    kept = ingest_paths([docs], settings, progress=False)
    assert (kept.removed, kept.documents) == (0, 3)
    pruned = ingest_paths([docs], settings, prune=True, progress=False)
    assert (pruned.removed, pruned.unchanged, pruned.documents) == (2, 1, 1)
    snapshot = open_current(settings)
    assert [d.metadata["file_name"] for d in snapshot.documents.values()] == ["a.txt"]
    assert all(c.doc_id in snapshot.documents for c in snapshot.chunks)
    assert snapshot.bm25_search("网格员", 5) == []


def test_an_index_whose_files_were_deleted_asks_for_a_new_ingest(settings: Settings, tmp_path: Path) -> None:
    ingest_paths([_folder(tmp_path / "docs", {"a.txt": "网格员每天巡查社区。"})], settings, progress=False)
    shutil.rmtree(settings.data_dir / "generations")
    with pytest.raises(IndexMissingError) as info:
        open_current(settings)
    assert info.value.code == "index_incomplete" and "jiceng ingest" in info.value.message_en


def test_an_index_missing_vectors_in_chroma_asks_for_a_new_ingest(settings: Settings, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "docs", {"a.txt": "网格员每天巡查社区。", "b.txt": "红白理事会抵制高价彩礼。"})
    report = ingest_paths([folder], settings, progress=False)
    snapshot = open_current(settings)
    collection = store.chroma_client(settings).get_collection(f"jiceng_g{report.generation}")
    collection.delete(ids=[snapshot.chunks[0].chunk_id])
    with pytest.raises(IndexMissingError) as info:
        open_current(settings)
    assert info.value.code == "index_incomplete" and "jiceng ingest" in info.value.message_en


def test_the_in_memory_index_returns_as_many_nearest_chunks_as_asked_even_beyond_ef_search() -> None:
    """A filtered query asks for ten times the usual candidates; HNSW must explore that many, not ef_search."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = store._build_memory_index(vectors, ef_search=10)
    for query in vectors[:5] + 0.1 * rng.standard_normal((5, 64)).astype(np.float32):
        query /= np.linalg.norm(query)
        found = store._memory_top(index, query.reshape(1, -1), 300)
        exact = np.argsort(-(vectors @ query))[:300]
        assert len(found) == 300 and [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        assert len({i for i, _ in found} & set(exact.tolist())) >= 0.95 * 300
        assert found[0][1] == pytest.approx(float(vectors[exact[0]] @ query), abs=1e-5)


def test_the_in_memory_index_is_the_same_graph_whenever_it_is_built_from_the_same_vectors() -> None:
    """Two server workers, or one after a restart, answer alike."""
    import faiss

    vectors = np.random.default_rng(1).standard_normal((3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    first, again = (store._build_memory_index(vectors, ef_search=100) for _ in range(2))
    assert np.array_equal(faiss.vector_to_array(first.hnsw.neighbors), faiss.vector_to_array(again.hnsw.neighbors))


def test_remove_document_builds_a_generation_without_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _folder(tmp_path / "docs", {"a.txt": "红白理事会抵制高价彩礼。", "b.txt": "网格员每天巡查社区。"})
    ingest_paths([docs], settings, progress=False)

    def no_tokenizing(text: str) -> list[str]:
        raise AssertionError("unchanged text must come from the token cache")

    monkeypatch.setattr(store, "tokenize", no_tokenizing)
    doc_id = next(d.doc_id for d in open_current(settings).documents.values() if d.metadata["file_name"] == "b.txt")
    report = remove_documents([doc_id], settings, progress=False)
    assert (report.removed, report.documents, report.embedded) == (1, 1, 0)
    assert doc_id not in open_current(settings).documents
    monkeypatch.undo()
    assert open_current(settings).bm25_search("彩礼", 1)


def test_interrupted_build_leaves_the_previous_generation_and_is_cleaned_up(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path / "docs", {"a.txt": "红白理事会抵制高价彩礼。"})
    good = ingest_paths([folder], settings, progress=False).generation
    (folder / "b.txt").write_text("网格员每天巡查社区。", encoding="utf-8")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the new generation's vectors are written

    monkeypatch.setattr(store, "_switch_to", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([folder], settings, progress=False)
    assert current_generation(settings) == good
    assert len(open_current(settings).documents) == 1
    assert len(os.listdir(settings.data_dir / "generations")) == 2  # the orphan, until the next ingest
    monkeypatch.undo()
    report = ingest_paths([folder], settings, progress=False)
    assert report.embedded == 0  # vectors computed before the interruption were cached
    assert sorted(os.listdir(settings.data_dir / "generations")) == sorted([good, report.generation])


# A shell that starts a job in the background without job control (`nohup`, `cmd &` in a script) leaves
# SIGINT ignored, and children inherit that: Python then installs no KeyboardInterrupt handler and the
# ingest would never see the Ctrl-C. Reset it before exec, to what a user at a terminal has.
_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


def _ingest_stopped_mid_embedding(settings: Settings, tmp_path: Path, sig: signal.Signals) -> tuple[str, str]:
    """Ingest one file; then run ``jiceng ingest`` on 40 more and send it ``sig`` while it embeds them.
    Returns the first ingest's generation and the stopped process's stderr."""
    first = _folder(tmp_path / "first", {"a.txt": "红白理事会抵制高价彩礼，倡导移风易俗。"})
    good = ingest_paths([first], settings, progress=False).generation
    cache = settings.data_dir / "cache" / "ingest.sqlite"
    cached_before = _cached(cache)
    many = {f"{i:02d}.txt": f"第{i}号社区建立了居民议事会，每月讨论停车、绿化和养老服务等公共事务。" * 3 for i in range(40)}
    big = _folder(tmp_path / "big", many)
    env = {**os.environ, "JICENG_DATA_DIR": str(settings.data_dir), "JICENG_EMBEDDING_BATCH_SIZE": "2"}
    proc = subprocess.Popen([sys.executable, "-c", _WITH_DEFAULT_SIGINT, BIN / "jiceng", "ingest", str(big), "--json"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _cached(cache) <= cached_before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "ingest finished before it could be stopped"
    finally:
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    assert current_generation(settings) == good
    return good, stderr


def test_sigkill_mid_ingest_leaves_the_previous_generation_queryable(settings: Settings, tmp_path: Path) -> None:
    _ingest_stopped_mid_embedding(settings, tmp_path, signal.SIGKILL)
    snapshot = open_current(settings)
    query = snapshot.embedder.embed_queries(["怎么抵制高价彩礼"])[0]
    top, _ = snapshot.dense_search(query, 1)[0]
    assert "高价彩礼" in snapshot.chunks[top].text
    assert snapshot.bm25_search("彩礼", 1)


def test_ctrl_c_mid_ingest_says_so_in_both_languages_and_keeps_the_index(settings: Settings, tmp_path: Path) -> None:
    _, stderr = _ingest_stopped_mid_embedding(settings, tmp_path, signal.SIGINT)
    assert "已中断" in stderr and "Interrupted; existing data is untouched" in stderr and "Traceback" not in stderr
    assert len(open_current(settings).documents) == 1  # the first ingest's document, and only it


def _cached(cache: Path) -> int:
    try:
        with sqlite3.connect(cache, timeout=5) as db:
            return db.execute("SELECT count(*) FROM embedding").fetchone()[0]  # vectors stored so far
    except sqlite3.OperationalError:
        return 0


@pytest.fixture()
def chroma_server(tmp_path: Path):
    port = free_port()
    proc = start_chroma(tmp_path / "chroma-server", port)
    url = f"http://127.0.0.1:{port}"
    yield url, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_chroma_server_mode_via_env(chroma_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, proc = chroma_server
    monkeypatch.setenv("JICENG_CHROMA_URL", url)
    settings = Settings()
    assert settings.chroma_url == url
    folder = _folder(tmp_path / "docs", {"a.txt": "红白理事会抵制高价彩礼。", "b.txt": "网格员每天巡查社区。"})
    report = ingest_paths([folder], settings, progress=False)
    assert not (settings.data_dir / "chroma").exists()  # vectors live in the server
    import chromadb

    port = int(url.rsplit(":", 1)[1])
    assert f"jiceng_g{report.generation}" in {c.name for c in chromadb.HttpClient(port=port).list_collections()}
    snapshot = open_current(asking_chroma(settings))  # every search asks the server
    in_memory = open_current(settings)  # a small index's vectors, read once from the server
    query = snapshot.embedder.embed_queries(["巡查"])[0]
    assert "巡查" in snapshot.chunks[snapshot.dense_search(query, 1)[0][0]].text
    by_scan, by_server = in_memory.dense_search(query, 2), snapshot.dense_search(query, 2)
    assert [i for i, _ in by_scan] == [i for i, _ in by_server]
    assert [s for _, s in by_scan] == pytest.approx([s for _, s in by_server], abs=1e-5)

    proc.terminate()
    proc.wait(timeout=10)
    with pytest.raises(BackendUnavailableError) as info:
        snapshot.dense_search(query, 1)
    assert info.value.http_status == 503 and "Chroma" in info.value.message_en
    # A generation already read into memory keeps answering while the server is down.
    assert "巡查" in in_memory.chunks[in_memory.dense_search(query, 1)[0][0]].text


def test_unreachable_chroma_server_is_a_503_style_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", chroma_url=f"http://127.0.0.1:{free_port()}")
    folder = _folder(tmp_path / "docs", {"a.txt": "网格员每天巡查社区。"})
    with pytest.raises(BackendUnavailableError) as info:
        ingest_paths([folder], settings, progress=False)
    assert "无法连接 Chroma" in info.value.message_zh


def test_bm25_built_from_cached_token_ids_ranks_like_bm25s_built_from_tokens(tmp_path: Path) -> None:
    import bm25s

    from jiceng.text import tokenize

    texts = [
        "朝阳区举办社区邻里节，居民参与率明显提升。",
        "功德银行以户为单位建立账户，积分可兑换油、米、盐。",
        "网格员每天巡查，发现问题及时上报。",
        "邻里节期间开展议事协商，邻里纠纷下降。",
        "",
    ]
    settings = Settings(data_dir=tmp_path)
    from_ids = bm25s.BM25()
    from_ids.index(store.cached_token_ids(settings, texts), show_progress=False)
    from_ids_again = store.cached_token_ids(settings, texts)  # second call: read back from the token cache
    from_tokens = bm25s.BM25()
    from_tokens.index([tokenize(t) for t in texts], show_progress=False)
    assert from_ids_again.ids == store.cached_token_ids(settings, texts).ids and from_ids_again.ids[-1] == []

    def matches(index: bm25s.BM25, query: str) -> list[tuple[int, float]]:
        ids, scores = index.retrieve([tokenize(query)], k=4, show_progress=False)
        return [(int(i), round(float(s), 5)) for i, s in zip(ids[0], scores[0]) if s > 0]

    for query in ("邻里节", "功德银行积分", "网格员巡查", "纠纷"):
        assert matches(from_ids, query) == matches(from_tokens, query) != []
    assert {i for i, _ in matches(from_ids, "邻里节")} == {0, 3}


def test_a_reader_loads_the_graph_the_ingest_saved_and_rebuilds_one_it_cannot_read(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Server processes read the in-memory index's graph from the generation instead of each building it
    (a build that grows to minutes at large indexes); a damaged or missing file costs that build, not an answer."""
    folder = _folder(
        tmp_path / "docs",
        {"a.txt": "红白理事会抵制高价彩礼。", "b.txt": "网格员每天巡查社区。", "c.txt": "接诉即办，快速响应群众诉求。"},
    )
    report = ingest_paths([folder], settings, progress=False)
    saved = settings.data_dir / "generations" / report.generation / store.MEMORY_INDEX_FILE
    assert saved.is_file()
    building = store._build_memory_index

    def must_not_build(*args, **kwargs):
        raise AssertionError("the reader built the graph instead of loading it")

    monkeypatch.setattr(store, "_build_memory_index", must_not_build)
    loaded = open_current(settings)
    query = loaded.embedder.embed_queries(["彩礼"])[0]
    expected = loaded.dense_search(query, 3)
    assert "彩礼" in loaded.chunks[expected[0][0]].text

    monkeypatch.setattr(store, "_build_memory_index", building)
    saved.write_bytes(saved.read_bytes()[:100])  # truncated, e.g. a full disk
    with caplog.at_level("WARNING", logger="jiceng.ingest.store"):
        rebuilt = open_current(settings)
    assert "unreadable" in caplog.text
    saved.unlink()  # an index from before the graph was saved with it
    for snapshot in (rebuilt, open_current(settings)):
        assert snapshot.dense_in_memory
        found = snapshot.dense_search(query, 3)
        assert [i for i, _ in found] == [i for i, _ in expected]
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-5)


def test_no_graph_is_saved_for_an_index_chroma_searches(settings: Settings, tmp_path: Path) -> None:
    report = ingest_paths([_folder(tmp_path / "docs", {"a.txt": "网格员每天巡查社区。"})], asking_chroma(settings),
                          progress=False)
    assert not (settings.data_dir / "generations" / report.generation / store.MEMORY_INDEX_FILE).exists()
    assert not open_current(asking_chroma(settings)).dense_in_memory


def test_the_next_ingest_gives_an_index_saved_without_its_graph_one(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An index from before the graph was saved with it is rebuilt once, from cached vectors, and then kept."""
    folder = _folder(tmp_path / "docs", {"a.txt": "红白理事会抵制高价彩礼。", "b.txt": "网格员每天巡查社区。"})
    first = ingest_paths([folder], settings, progress=False).generation
    (settings.data_dir / "generations" / first / store.MEMORY_INDEX_FILE).unlink()
    with caplog.at_level("INFO", logger="jiceng.ingest.pipeline"):
        again = ingest_paths([folder], settings, progress=False)
    assert f"index generation {first} has no saved in-memory graph" in caplog.text
    assert again.generation != first and (again.unchanged, again.embedded) == (2, 0)
    assert (settings.data_dir / "generations" / again.generation / store.MEMORY_INDEX_FILE).is_file()
    assert ingest_paths([folder], settings, progress=False).generation == again.generation
