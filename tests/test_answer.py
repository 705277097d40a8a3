"""The extractive answerer on real corpus documents and hand-ranked passages (no index, no model)."""

from __future__ import annotations

import pytest

from jiceng.ingest.chunking import chunk_document
from jiceng.ingest.loaders import load_document
from jiceng.qa.answer import (
    _CUE_CALLED,
    _CUES,
    Evidence,
    Span,
    TermStats,
    analyse_question,
    answer_extractive,
    candidate_sentences,
    completed,
    cue_satisfied,
    format_answer,
    holds,
    not_said_first,
    score_relevance,
    standalone_span,
    whole_twin_first,
)
from jiceng.qa.relevance import SentenceVectors, bundled_model
from jiceng.qa.retrieval import to_passage
from jiceng.settings import Settings
from jiceng.text import normalize_for_match, normalize_question
from jiceng.types import Document, Passage

from .conftest import CORPUS_DIR

FILES = [
    "cases/chaoyang-shequ-linlijie.md",
    "cases/gongde-yinhang.md",
    "cases/lujiazui-jinse-zhonghuan-dangjian-lianmeng.md",
    "policies/dangjian-chuangxin-tiaozhan-yingdui.md",
    "policies/dangjian-chuangxin-shijian-lujing.md",
    "cases/shenzhen-shequ-shuji-gongzuoshi.md",
    "cases/hangzhou-chengshi-danao-jiceng-zhili.md",
]


@pytest.fixture(scope="module")
def corpus() -> tuple[dict[str, Document], list, TermStats]:
    settings = Settings()
    docs = {d.doc_id: d for d in (load_document(CORPUS_DIR / f, settings) for f in FILES)}
    chunks = [c for d in docs.values() for c in chunk_document(d, settings)]
    return docs, chunks, TermStats.from_texts(c.text for c in chunks)


def passages_for(corpus, *doc_ids: str) -> list[Passage]:
    """The chunks of the given documents, ranked in that order (what retrieval would hand over)."""
    docs, chunks, _ = corpus
    ordered = [c for doc_id in doc_ids for c in chunks if c.doc_id == doc_id]
    return [to_passage(c, docs[c.doc_id], rank=i, score=1 / i) for i, c in enumerate(ordered, start=1)]


@pytest.fixture(scope="module")
def answer_with(session_embedder):
    """``answer_extractive`` with the real model's question and sentence vectors and the fitted relevance model."""
    vectors = SentenceVectors(session_embedder.embed_passages, 10_000)

    def answer(question: str, passages, docs, stats, settings: Settings | None = None):
        return answer_extractive(
            question, passages, docs, stats,
            question_vector=lambda text: session_embedder.embed_queries([normalize_question(text)])[0],
            sentence_vectors=vectors, model=bundled_model(),
            max_sentences=(settings or Settings()).answer.max_sentences,
        )

    return answer


@pytest.fixture(scope="module")
def ask(corpus, answer_with):
    docs, _, stats = corpus
    return lambda question, *doc_ids: answer_with(question, passages_for(corpus, *doc_ids), docs, stats)


def test_participation_rise_is_answered_with_the_figures_and_a_verbatim_quote(corpus, ask, answer_with):
    docs = corpus[0]
    answer = ask("朝阳区邻里节让居民参与率提高了多少？", "chaoyang-shequ-linlijie", "gongde-yinhang")
    assert not answer.abstained
    assert "30%" in answer.answer and "70%" in answer.answer and answer.answer.endswith("[1]")
    first = answer.citations[0]
    assert first.doc_id == "chaoyang-shequ-linlijie" and first.section.endswith("成效")
    assert first.quote == docs[first.doc_id].text[first.start : first.end]
    assert "不足30%提升至70%以上" in first.quote
    assert first.url.startswith("/library/cases/chaoyang-shequ-linlijie/#p-")


def test_traditional_characters_and_filler_get_the_same_answer(corpus, ask, answer_with):
    plain = ask("朝阳区邻里节让居民参与率提高了多少？", "chaoyang-shequ-linlijie")
    traditional = ask("請問朝陽區鄰里節讓居民參與率提高了多少呢？", "chaoyang-shequ-linlijie")
    assert traditional.answer == plain.answer and not traditional.abstained


def test_a_list_item_is_credited_with_its_lead_in_however_far_above(tmp_path):
    """A user's plain text has no headings: a case is named by the line that introduces its list, and
    its 成效 item, many lines below, is read under that name."""
    background = "村里的老人多,年轻人外出务工,公共事务少有人管。" * 12
    path = tmp_path / "笔记.txt"
    path.write_text(f"乡村治理笔记\n\n案例说明:云岭镇“积分超市”。\n- 背景:{background}\n- 成效:参与率提升到八成。\n", "utf-8")
    doc = load_document(path, Settings())
    start = doc.text.index("- 成效")
    passage = Passage(rank=1, doc_id=doc.doc_id, title=doc.title, section="", text=doc.text[start:],
                      start=start, end=len(doc.text), score=1.0, url="")
    question = analyse_question("云岭镇积分超市的参与率提升到多少？", TermStats.from_texts([doc.text]))
    [effect] = candidate_sentences(question, [passage], {doc.doc_id: doc})
    assert effect.text == "成效:参与率提升到八成。"
    assert effect.context_coverage == 1.0 > effect.sentence_coverage


def test_a_sentence_is_scored_with_the_closeness_of_the_one_before_the_problem_above_and_its_line_labels_kind(
    tmp_path, session_embedder
):
    """A problem restated in the asker's words (没钱没场地，钱从哪儿来) is closest to the 表现: line and answered
    by the 对策: line after it: each candidate carries the bare cosine of the sentence before it and of the
    problem line above it in its section, and the kind its line's label declares whatever the question asks."""
    path = tmp_path / "笔记.txt"
    path.write_text("挑战二:资源不足。\n- 表现:经费、场地有限,难以支撑项目。\n- 对策:建立多元投入机制。鼓励企业赞助。\n",
                    "utf-8")
    doc = load_document(path, Settings())
    passage = Passage(rank=1, doc_id=doc.doc_id, title=doc.title, section="", text=doc.text, start=0,
                      end=len(doc.text), score=1.0, url="")
    question = analyse_question("没钱没场地，钱从哪儿来？", TermStats.from_texts([doc.text]))
    candidates = candidate_sentences(question, [passage], {doc.doc_id: doc})
    scored = score_relevance(candidates, session_embedder.embed_queries(["没钱没场地，钱从哪儿来"])[0],
                             SentenceVectors(session_embedder.embed_passages, 100), {doc.doc_id: doc}, bundled_model())
    by_text = {e.text.split(":")[-1]: e for e in scored}
    problem, measure, more = by_text["经费、场地有限,难以支撑项目。"], by_text["建立多元投入机制。"], by_text["鼓励企业赞助。"]
    assert question.kind is None
    assert (problem.line_kind, measure.line_kind, more.line_kind, by_text["资源不足。"].line_kind) == (-1.0, 1.0, 1.0, 0.0)
    assert measure.before_cosine == problem.bare_cosine and more.before_cosine == measure.bare_cosine
    assert measure.before_gap == pytest.approx(problem.bare_cosine - max(e.bare_cosine for e in scored))
    # The 对策: line's second sentence is as close to the problem its section states above it as the first.
    assert measure.problem_cosine == more.problem_cosine == problem.bare_cosine
    assert (problem.problem_cosine, problem.problem_gap) == (0.0, -1.0)  # nothing states a problem before it


def test_a_sentence_on_one_side_of_a_two_sided_question_is_not_short_of_the_other_sides_words(tmp_path):
    path = tmp_path / "两地.txt"
    path.write_text("两地笔记\n\n云岭镇的参与率提升到八成。石桥村的纠纷下降了一半。\n", "utf-8")
    doc = load_document(path, Settings())
    passage = Passage(rank=1, doc_id=doc.doc_id, title=doc.title, section="", text=doc.text, start=0,
                      end=len(doc.text), score=1.0, url="")
    stats = TermStats.from_texts([doc.text])

    def coverage(question: str) -> dict[str, float]:
        found = candidate_sentences(analyse_question(question, stats), [passage], {doc.doc_id: doc})
        return {e.text: e.sentence_coverage for e in found}

    both = coverage("云岭镇和石桥村各自取得了什么效果？")
    assert both["云岭镇的参与率提升到八成。"] == coverage("云岭镇取得了什么效果？")["云岭镇的参与率提升到八成。"] > 0
    assert both["石桥村的纠纷下降了一半。"] == coverage("石桥村取得了什么效果？")["石桥村的纠纷下降了一半。"] > 0


@pytest.mark.parametrize(
    ("question", "doc_ids"),
    [
        ("朝阳区邻里节的经费预算是多少？", ("chaoyang-shequ-linlijie",)),  # budget never stated
        ("金色中环联盟哪一年成立？", ("lujiazui-jinse-zhonghuan-dangjian-lianmeng",)),  # no year given
        ("朝阳区有多少个社区参加了邻里节？", ("chaoyang-shequ-linlijie",)),  # a % is not a count of 社区
        ("今天天气怎么样？", ("gongde-yinhang", "chaoyang-shequ-linlijie")),
        ("如何申请护照？", ("gongde-yinhang", "chaoyang-shequ-linlijie")),
    ],
)
def test_facts_the_corpus_does_not_state_are_abstained_on(corpus, ask, answer_with, question, doc_ids):
    answer = ask(question, *doc_ids)
    assert answer.abstained
    assert answer.citations == []
    assert answer.answer.startswith("知识库中没有找到")


@pytest.mark.parametrize("question", ["功德银行积分能兑换汽车吗？", "Can merit bank points be exchanged for a car?"])
def test_a_yes_no_question_on_a_thing_the_sources_never_name_gets_no_yes(corpus, ask, answer_with, question):
    # The sources name 油、米、盐, no car. Refused, or answered with what they do say, after saying they do
    # not name the thing asked; never a bare quote that reads as a yes.
    answer = ask(question, "gongde-yinhang", "chaoyang-shequ-linlijie")
    if not answer.abstained:
        assert answer.answer.startswith("原文没有直接说到“") and "油" in answer.citations[0].quote


def test_an_answer_given_without_the_asked_type_first_says_the_sources_do_not_state_it(corpus):
    stats = corpus[2]
    year = analyse_question("金色中环联盟是哪一年成立的？", stats)
    assert not_said_first(year, False, "联盟吸纳了50余家单位。[1]") == "原文没有说到具体年份，最相关的说法是：联盟吸纳了50余家单位。[1]"
    car = analyse_question("功德银行积分能兑换汽车吗？", stats)
    assert not_said_first(car, True, "可兑换油、米、盐。[1]").startswith("原文没有直接说到“汽车”")
    assert set(_CUE_CALLED) == {name for name, _, _ in _CUES}  # every answer type can be said missing


def test_abstention_names_related_material_that_exists(corpus, ask, answer_with):
    budget = ask("朝阳区邻里节的经费预算是多少？", "chaoyang-shequ-linlijie", "gongde-yinhang")
    assert "相关材料：《朝阳区“党建引领·社区邻里节”》" in budget.answer
    assert "功德银行" not in budget.answer  # not about the question's topic
    weather = ask("今天天气怎么样？", "gongde-yinhang")
    assert "相关材料" not in weather.answer


@pytest.mark.parametrize(
    ("question", "doc_id", "expected"),
    [
        ("功德银行的积分可以兑换什么？", "gongde-yinhang", "油、米、盐"),
        ("金色中环党建联盟吸纳了多少家单位？", "lujiazui-jinse-zhonghuan-dangjian-lianmeng", "50余家"),
        ("金色中环联盟采用什么运行机制？", "lujiazui-jinse-zhonghuan-dangjian-lianmeng", "轮值主席制"),
        ("群众参与度不高有什么对策？", "dangjian-chuangxin-tiaozhan-yingdui", "降低参与门槛"),
    ],
)
def test_answerable_questions_cite_the_sentence_that_answers(corpus, ask, answer_with, question, doc_id, expected):
    answer = ask(question, doc_id, "chaoyang-shequ-linlijie")
    assert not answer.abstained
    assert expected in answer.citations[0].quote


def test_question_types_are_read_from_the_question(corpus, ask, answer_with):
    stats = corpus[2]
    assert analyse_question("金色中环联盟哪一年成立？", stats).cue == "year"
    assert analyse_question("占总人口的百分之多少？", stats).cue == "percent"
    budget = analyse_question("朝阳区邻里节的经费预算是多少？", stats)
    assert (budget.cue, budget.focus) == ("money", "预算")  # a sum in 元, not any figure
    assert analyse_question("功德银行积分能兑换汽车吗？", stats).focus == "汽车"
    # A yes/no question asks of the last thing it names, not of the asker's verb for what became of it.
    assert analyse_question("楼宇停车难的问题已经解决了吗？", stats).focus == "问题"
    assert analyse_question("邻里节有哪些做法？", stats).cue is None


def test_every_clause_that_asks_for_a_figure_is_held_to_it(corpus, ask, answer_with):
    stats = corpus[2]
    assert analyse_question("金色中环联盟是哪个区的？", stats).cue == "place"
    # A province the sources anonymise (xx省) is no answer to 哪个省, in a clause of its own or beside another.
    assert analyse_question("哪个省成立了省委社会建设委员会，目的是什么？", stats).cue == "place"
    assert analyse_question("联盟吸纳了多少家单位，哪一年成立？", stats).cue == "number"  # the first typed clause
    assert analyse_question("联盟有哪些做法，目的是什么？", stats).cue is None
    # The sources give the units the alliance took in, but no year: the question is not half-answered.
    answer = ask("金色中环党建联盟是哪一年成立的，吸纳了哪些单位？", "lujiazui-jinse-zhonghuan-dangjian-lianmeng")
    assert answer.abstained and answer.citations == []


def test_who_leads_which_organisation_place_or_how_often_need_a_name_or_a_rate_not_a_generic_word(corpus):
    stats = corpus[2]

    def answered_type(question: str, sentence: str) -> bool:
        return cue_satisfied(analyse_question(question, stats), sentence)

    assert answered_type("这个工作室是哪个部门牵头的？", "由市委组织部牵头,设立工作室。")
    assert not answered_type("轮到哪家单位当主席？", "由联盟成员单位党组织轮流担任主席。")
    assert not answered_type("是哪家公司的算法？", "并自动派单至相关网格员或部门处置。")  # 部门 is no 部
    assert answered_type("成立了什么机构？", "成立了“城乡社区发展治理委员会”。")
    assert not answered_type("改造的是哪个小区？", "在老旧小区改造中,党组织统筹协调各方。")
    assert not answered_type("Which province set up these councils?", "xx省在社区组建了红白理事会。")
    # After 有没有 a question word is indefinite: whether any place did it, which the anonymised xx省 answers.
    assert answered_type("有没有哪个地方专门成立了组织来管红白喜事？", "xx省在社区组建了红白理事会。")
    assert not answered_type("最早成立红白理事会的是哪个省？", "xx省在社区组建了红白理事会。")
    assert not answered_type("这是哪个城市先试点的？", "利用区块链技术确保党员积分不可篡改。")  # 区块链 is no 区
    assert not answered_type("这是哪个市的做法？", "构建了颇具特色的市域德治体系。")
    assert answered_type("这是哪个城市先试点的？", "浙江省杭州市率先利用区块链技术记录党员积分。")
    assert not answered_type("示范点设在哪几个街道？", "设立“书记工作室”示范点,供全市社区书记观摩学习。")
    assert answered_type("示范点设在哪几个街道？", "示范点设在南山街道、福田街道。")
    assert analyse_question("数字技术还能用在哪些地方？", stats).cue is None  # which areas, not places
    assert answered_type("邻里节是谁挑的头？", "由社区党委牵头,联合居委会、业委会。")
    assert not answered_type("邻里节是谁牵头的？", "社区人口结构多元,邻里关系疏离。")
    assert analyse_question("留痕主义到底是咋回事？", stats).kind != "measure"  # 怎么回事 asks what, not how
    # How the text puts a thing asks what it says: a problem named is answered by the problem's line.
    assert analyse_question("有的村干部说话不算数，材料里是怎么点这个毛病的？", stats).kind == "problem"
    assert analyse_question("物业不爱管公共的事，文件咋看这事？", stats).kind is None
    assert analyse_question("物业不爱管公共的事，文件里有啥办法，怎么解决？", stats).kind == "measure"
    # A thing's name is quoted by the sources; a person's or a place's name is asked of them.
    assert answered_type("省里新设的那个机构，叫什么名字？", "xx省成立了“中共xx省委社会建设委员会”,")
    assert not answered_type("省里新设的那个机构，叫什么名字？", "xx省成立了社会建设委员会。")
    assert analyse_question("街道党工委书记叫什么名字？", stats).cue == "person"
    assert not answered_type("委员会主任由哪位领导担任？", "xx省成立了“中共xx省委社会建设委员会”。")  # 哪位 asks a person
    assert not answered_type("委员会的主任是谁？", "xx省成立了“中共xx省委社会建设委员会”。")  # who holds a post
    assert not answered_type("那个xx县到底叫什么县？", "xx省xx县不断健全“一约四会”制度。")  # the sources' xx names none
    assert analyse_question("陆家嘴那个党建联盟叫什么名字？", stats).cue == "name"  # an alliance is a thing
    assert answered_type("那些数据多久更新一次？", "并进行数据的实时、动态更新。")  # in real time: constantly
    # 百分之几 asks a share, not any number: the sources' anonymised "占总人口%" gives none.
    assert not answered_type("60岁以上老人占总人口百分之几？", "我国60岁及以上人口超亿,占总人口%,")
    assert answered_type("邻里纠纷下降了百分之几？", "邻里矛盾纠纷下降40%。")
    assert analyse_question("那个县叫什么名字？", stats).cue != "name"
    # The thing named is asked by the asker's word for its kind, which the answer need not repeat.
    assert analyse_question("群众拍照上报问题的那个手机软件叫什么？", stats).focus is None
    # The word for a way (有啥好办法, 哪些路子) frames a how question as 怎么 does: no answer repeats it.
    assert analyse_question("居民喊都喊不动，有啥好办法？", stats).focus is None
    assert analyse_question("居民喊都喊不动，有啥好办法？", stats).kind == "measure"
    # English "when" asks a date only where a verb follows it, not where it opens a clause.
    assert analyse_question("When was the alliance set up?", stats).cue == "date"
    assert analyse_question("When serving residents, what should the platform rely on?", stats).cue is None
    assert answered_type("联席会议多久一次？", "联盟每季度召开一次联席会议。")
    assert not answered_type("联席会议多久一次？", "定期召开联席会议。")
    # Frequencies offered to choose from ask a frequency; other alternatives (省里还是县里) ask none.
    assert not answered_type("联席会议是每月开一次还是每季度开一次？", "定期召开联席会议。")
    assert answered_type("联席会议是一个月一次还是一季度一次？", "联盟每季度召开一次联席会议。")
    assert analyse_question("例会按月还是按季度开？", stats).cue == "frequency"
    assert analyse_question("那个指挥中心是省里建的还是县里建的？", stats).cue is None
    assert answered_type("这个活动多久搞一回？", "将活动固化为年度品牌活动。")  # 年度: once a year
    assert not answered_type("这个活动多久搞一回？", "将活动转化为常态化治理机制。")
    assert analyse_question("Who took the lead in founding the alliance?", stats).cue == "agent"
    # A time of day needs a clock time or a part of the day, not the word for the arrangement.
    assert not answered_type("员工停车的优惠时段是几点到几点？", "为楼宇员工提供优惠停车时段。")
    assert answered_type("驿站每天几点开门？", "驿站每天早上8点开门。")
    assert analyse_question("会议精神归纳起来是哪几点？", stats).cue != "clock"  # points made, not a time
    assert not answered_type("那个小程序的开发单位是谁？", "通过“京心相助”等小程序,对信息进行筛查比对。")  # a body, asked as who
    assert answered_type("省里新设的那个机构叫个啥？", "xx省成立了“中共xx省委社会建设委员会”,")
    # A figure the question quotes back is the asker's own: a saying's 千条 counts nothing asked.
    assert not answered_type("常说“上面千条线、下面一根针”，社区要扛几项任务？", "“上面千条线、下面一根针”,基层任务重。")
    assert answered_type("常说“上面千条线、下面一根针”，社区要扛几项任务？", "社区需要承担几十甚至上百项任务。")
    assert analyse_question("反映问题该打什么电话？", stats).cue == "phone"
    assert analyse_question("这个节一般放在哪个月办？", stats).cue == "date"  # as 几月
    assert analyse_question("那套系统是哪个厂商做的？", stats).cue == "organisation"  # as 哪家公司
    assert analyse_question("打电话反映个事管用吗？", stats).cue != "phone"
    assert not answered_type("省里新设的那个机构叫个啥？", "xx省成立了社会建设委员会。")
    # How much of a question is in words the sources never use: an off-topic question is mostly such words.
    assert analyse_question("明天天气怎么样，要带伞吗？", stats).unknown_share > 0.5
    assert analyse_question("功德银行的积分怎么兑换？", stats).unknown_share == 0
    assert analyse_question("Can the community office renew my passport?", stats).unknown_share > 0.5
    # Asking for particulars (具体, exact) is read from the question, for the relevance model to weigh.
    assert analyse_question("红白理事会对桌数有什么具体限制？", stats).specific
    assert analyse_question("What exactly does the alliance do?", stats).specific
    assert not analyse_question("红白理事会管什么？", stats).specific
    # 哪三会 asks for three things by name: a list of them, not the name of the whole again nor another list.
    assert not answered_type("“三会一课”具体是哪三会？", "通过“三会一课”、“主题党日”等制度,确保决策科学、过程透明、结果公正。")
    assert answered_type("“一约四会”里是哪四个会？", "成立红白理事会、村民议事会、道德评议会、禁毒禁赌会等“四会”。")
    assert answered_type("工作室有哪四大功能？", "工作室承担“研究、培训、示范、推广”四大功能。")
    # Every clause that asks a figure is held to it, not only the first.
    assert not answered_type("床位缺口有多大，还差多少张床？", "60岁及以上人口超亿,养老床位缺口大。")
    assert answered_type("床位缺口有多大，还差多少张床？", "缺口约60万张床位。")


def test_which_ones_asks_for_a_list_and_how_many_of_a_classifier_for_that_count(corpus, ask, answer_with):
    stats = corpus[2]
    # 哪几 (which ones) is 哪些, not a count: the units themselves answer it.
    assert analyse_question("金色中环联盟吸纳了哪几类单位的党组织？", stats).cue is None
    answer = ask("金色中环联盟吸纳了哪几类单位的党组织？", "lujiazui-jinse-zhonghuan-dangjian-lianmeng")
    assert not answer.abstained and "重点企业、金融机构、社会组织" in answer.answer
    # 几大 (how many major …) is answered by a numeral before 大, not only by digits or listed units.
    answer = ask("社区书记工作室有几大功能？", "shenzhen-shequ-shuji-gongzuoshi")
    assert not answer.abstained and "四大功能" in answer.citations[0].quote
    # 项, like 个, counts things of any kind: 几项 is answered by 四大 too; 几年 only by years.
    assert cue_satisfied(analyse_question("工作室担着几项职能？", stats), "工作室承担四大功能。")
    assert not cue_satisfied(analyse_question("工作室办了几年？", stats), "工作室承担四大功能。")
    assert analyse_question("邻里节以前居民参与大概有几成？", stats).cue == "percent"  # 几成: a share
    # 几 that counts nothing: those few (那几个), the several (的几个), or beside another question word.
    for question in ("那几个平台主要管哪些事？", "邻里节的几个板块是什么？", "原来几家一起管是出了什么问题？"):
        assert analyse_question(question, stats).cue is None, question
    # 好几 (quite a few), 几十万 (hundreds of thousands) and 那么几 (just those few) say how many; they ask nothing.
    for question in ("好几个部门都要填表留痕，这叫什么毛病？", "社会组织都几十万个了，为什么基层用不上？",
                     "社区就那么几个人，活却越压越多，文件怎么说？"):
        assert analyse_question(question, stats).cue is None, question
    # A yes/no question names a count without asking one.
    assert analyse_question("考核是不是主要看活动数量？", stats).cue is None
    # A count is a number, not a list of names.
    assert not cue_satisfied(analyse_question("理事会由几个人组成？", stats), "组建了红白理事会、村民议事会、德治理事会。")
    # Incidents counted by 起 need that count: a share (下降40%) or 一起 (together) gives none.
    assert not cue_satisfied(analyse_question("调解前一年有多少起纠纷？", stats), "党员和居民一起调解,纠纷下降40%。")
    assert cue_satisfied(analyse_question("调解前一年有多少起纠纷？", stats), "全年调解纠纷120起。")
    # A phone number is digits to dial, not a sentence naming the hotline.
    assert not cue_satisfied(analyse_question("群众打的是哪个热线号码？", stats), "建立“接诉即办”机制,群众诉求快捷处理。")
    assert cue_satisfied(analyse_question("群众打的是哪个热线号码？", stats), "群众可拨打12345热线反映诉求。")
    # A count of hours or days asks how long: so many hours, not any count of things.
    assert analyse_question("诉求要在多少个小时之内回复？", stats).cue == "duration"
    assert not cue_satisfied(analyse_question("诉求要在多少个小时之内回复？", stats), "每个社区承担几十项任务。")
    assert cue_satisfied(analyse_question("网格员几分钟就到了？", stats), "网格员5分钟内到场处理。")
    # Negated, 多久 says how soon something happened; the question asks something else (why they leave).
    assert analyse_question("新来的网格员干不了多久就辞职，原因是什么？", stats).cue is None
    assert analyse_question("志愿队成立没多久就散了，问题出在哪？", stats).cue is None
    assert analyse_question("事情反映上去多久能办好？", stats).cue == "duration"
    # Which one school or platform asks for it by name, not the kind again; which ones (哪些平台) asks the kinds.
    assert not cue_satisfied(analyse_question("课程是跟哪所高校合作的？", stats), "与高校、党校合作开发定制化课程。")
    assert cue_satisfied(analyse_question("课程是跟哪所高校合作的？", stats), "与浙江大学合作开发课程。")
    assert not cue_satisfied(analyse_question("积分记在哪个区块链平台上？", stats), "利用区块链技术记录党员积分。")
    assert cue_satisfied(analyse_question("群众用哪个APP上报问题？", stats), "开发“民呼我为”APP,群众可随时拍照上传问题。")
    assert analyse_question("党建平台要跟哪些平台打通？", stats).cue is None
    # 对X有什么要求 asks the rule on X: X is what an answer must state, not the word for a rule.
    assert analyse_question("议事厅对场地面积有什么要求？", stats).focus == "场地面积"
    # The 对 of 对策 is no preposition: the rule word after the question word stays the focus.
    assert analyse_question("对策部分有什么要求？", stats).focus == "要求"
    # An age is so many years old, not any figure.
    assert analyse_question("选书记对年龄有什么要求？", stats).cue == "age"
    assert not cue_satisfied(analyse_question("书记的年龄上限是多少？", stats), "选拔了50余名优秀书记。")
    assert cue_satisfied(analyse_question("老年人是按多少岁算的？", stats), "我国60岁及以上人口超亿。")
    # People counted by 名 are answered by 人 and the other way round.
    assert cue_satisfied(analyse_question("一个社区平均有多少名工作人员？", stats), "平均每个社区的工作人员不到十人。")
    assert not cue_satisfied(analyse_question("一个社区平均有多少名工作人员？", stats), "社区工作人员普遍不足。")
    # 第几 asks an ordinal, which the answer gives by its number (十八大), not by the counted noun.
    ordinal = analyse_question("中央从党的第几次全国代表大会以来重视基层治理？", stats)
    assert (ordinal.cue, ordinal.focus, ordinal.unknown_focus) == ("ordinal", None, False)


def test_words_that_name_the_answer_type_or_end_the_question_are_not_what_is_asked_about(corpus):
    stats = corpus[2]
    share = analyse_question("参与的居民比例是多少？", stats)
    assert (share.cue, share.focus, share.unknown_focus) == ("percent", None, False)
    # A closing 的 (是治什么毛病的) qualifies nothing; 南极的网格 does.
    assert analyse_question("接诉即办是治什么毛病的？", stats).qualifiers == ()
    assert analyse_question("南极的网格怎么运作？", stats).qualifiers == ("南极",)
    # Inside a clause the unknown noun is a verb's object (乱堆东西的…), not a place the question is about.
    assert analyse_question("楼道里乱堆东西的老大难怎么解决？", stats).qualifiers == ()
    # Whom a thing is for (给孩子的…) is no place the question is about either.
    assert analyse_question("社区给孩子的托管服务有哪些？", stats).qualifiers == ()
    # 有没有提法 asks whether the sources say anything: 提法 is the frame, not what the answer must state.
    assert "提法" not in analyse_question("那份意见对社工待遇有没有提法？", stats).terms
    # 吗 after a question word is rhetorical: still an open question, not a yes/no one.
    assert not analyse_question("为什么要培育社区文化？只解决具体问题不行吗？", stats).yes_no
    assert analyse_question("功德银行积分能兑换汽车吗？", stats).yes_no
    # 有没有…的办法 asks for the way, as 怎么 does: no yes or no on the question's last noun (楼栋).
    way = analyse_question("居民办事老要跑好几个地方，有没有让他们不出楼栋就能办成的办法？", stats)
    assert (way.yes_no, way.kind, way.focus) == (False, "measure", None)
    assert analyse_question("有没有社区办过邻里节？", stats).yes_no  # whether a thing was done: yes/no


def test_a_line_broken_off_mid_clause_gives_way_to_its_whole_twin():
    def evidence(text: str, probability: float, doc_id: str) -> Evidence:
        return Evidence(Span(doc_id, 0, len(text)), text, 1, 0.5, 0.5, True, True, probability=probability)

    cut = evidence("村民的积分可兑换油、米、盐等生活物资,", 0.9, "case")
    other = evidence("功德银行以户为单位建立账户。", 0.8, "case")
    whole = evidence("如村民的积分可兑换油、米、盐等生活物资,有效倡导公众行善积德。", 0.2, "policy")
    part = evidence("村民的积分可兑换生活物资。", 0.7, "policy")
    # However unlikely the twin scores on its own, it is the same evidence, complete.
    assert whole_twin_first([cut, other, whole]) == [whole, cut, other]
    assert whole_twin_first([cut, part, other]) == [cut, part, other]  # not all of its words: no twin
    assert whole_twin_first([other, cut, whole]) == [other, cut, whole]  # best reads whole


def test_a_question_on_two_things_asks_each_side_alone(corpus):
    stats = corpus[2]
    question = analyse_question("物业和社会组织在社区治理里各自有什么问题？", stats)
    assert [(side.terms, side.asked) for side in question.sides] == [
        (("物业",), "物业在社区治理里各自有什么问题"), (("社会", "组织"), "社会组织在社区治理里各自有什么问题")]
    # The words before the first side stay in both (the second side's question keeps its topic).
    question = analyse_question("多元共治这块，现在的问题和建议的对策分别是什么？", stats)
    assert [side.asked for side in question.sides] == ["多元共治这块,现在的问题分别是什么", "多元共治这块,现在的建议的对策分别是什么"]
    # 各类 is "every kind of", not "each": no two sides.
    assert analyse_question("党组织靠什么把各类组织和群众串起来？", stats).sides == ()


def test_frame_words_of_a_question_are_no_topic(corpus, ask, answer_with):
    question = analyse_question("基层党组织资源不足表现在哪些方面？", corpus[2])
    assert {"表现", "方面"}.isdisjoint(question.terms) and question.focus != "表现"


def test_the_sources_labels_and_section_titles_say_which_sentences_answer_how_and_what_goes_wrong(corpus, ask, answer_with):
    # 对策: covers every sentence of its line; 表现: is what goes wrong, not what to do about it.
    how = ask("怎样让群众更愿意参与党组织活动？", "dangjian-chuangxin-tiaozhan-yingdui")
    assert "微项目" in how.citations[0].quote
    # A policy's 主要难题 section answers "what goes wrong", though its 对策建议 section, ranked first
    # here, uses the same words.
    policy = load_document(CORPUS_DIR / "policies/jiceng-zhili-xin-jingyan-duice.md", Settings())
    chunks = chunk_document(policy, Settings())
    ranked = sorted(chunks, key=lambda c: "对策建议" not in c.section)
    passages = [to_passage(c, policy, rank=i, score=1 / i) for i, c in enumerate(ranked, start=1)]
    stats = TermStats.from_texts(c.text for c in chunks)
    problem = answer_with("基层形式主义有哪些表现？", passages, {policy.doc_id: policy}, stats)
    assert "下发过多文件" in problem.citations[0].quote and "难题" in problem.citations[0].section


def test_how_and_why_are_answered_by_a_measure_or_a_reason_not_by_the_sentence_repeating_the_question(corpus, ask, answer_with):
    # The 成效 sentence repeats "解决了…停车难"; the measure is the sentence saying 针对停车难…推出.
    how = ask("楼宇员工停车难是怎么解决的？", "lujiazui-jinse-zhonghuan-dangjian-lianmeng")
    assert "共享停车" in how.citations[0].quote
    # The reason is the background (任务重、压力大), not the 成效 sentence naming the studio.
    why = ask("深圳为什么要设社区书记工作室？", "shenzhen-shequ-shuji-gongzuoshi")
    assert "压力大" in why.citations[0].quote and why.citations[0].section.endswith("背景")
    assert analyse_question("楼宇员工停车难是怎么解决的？", corpus[2]).focus is None


def test_a_what_for_question_is_answered_by_the_reason_stated_right_after_the_measure(corpus, ask):
    # 交叉任职:鼓励…兼任居委会主任…。这确保了…话语权。: the reason leans on the measure, and is quoted with it,
    # under the label that names the measure.
    what_for = ask("让社区书记兼任居委会主任是图什么？", "dangjian-chuangxin-shijian-lujing")
    first = what_for.citations[0].quote
    assert "话语权" in first and first.startswith("交叉任职:鼓励社区党组织书记")
    stats = corpus[2]
    # Why is asked by its own words, before a how-word later in the question; 不怎么 asks no how.
    assert analyse_question("为啥要引入项目化管理？老办法哪里不行？", stats).kind == "reason"
    assert analyse_question("这个平台冲着啥去的？", stats).kind == "reason"
    assert analyse_question("搞网格化党建图的是什么？", stats).kind == "purpose"
    assert analyse_question("邻居都不怎么来往，邻里节是谁牵的头？", stats).kind is None
    # Spoken words for a way ask how; the 招 of 招工 asks nothing.
    assert analyse_question("网格员跑不过来，有没有省力的招？", stats).kind == "measure"
    assert analyse_question("大操大办刹不住，有什么好法子？", stats).kind == "measure"
    assert analyse_question("楼里的企业招工难吗？", stats).kind is None


def test_a_keyword_query_cites_the_sentence_that_holds_it_as_written(corpus, ask, answer_with):
    answer = ask("书记讲给书记听", "shenzhen-shequ-shuji-gongzuoshi")
    assert "“书记讲给书记听”" in answer.citations[0].quote
    quoted = ask("什么是“明星书记”？", "shenzhen-shequ-shuji-gongzuoshi")
    assert "明星书记" in quoted.citations[0].quote


def test_format_answer_numbers_spans_once_and_quotes_verbatim(corpus, ask, answer_with):
    docs = corpus[0]
    text = docs["gongde-yinhang"].text
    a = text.index("xx多地")
    b = text.index("有效倡导")
    spans = [
        Span("gongde-yinhang", a, a + 10, "做法"),
        Span("gongde-yinhang", b, b + 8, "成效"),
        Span("gongde-yinhang", a, a + 10, "做法"),
    ]
    answer, citations = format_answer([[span] for span in spans], docs)
    # Quotes that stop short of a full stop are each ended with one before the next begins.
    assert answer == f"{text[a:a + 10]}[1]。{text[b:b + 8]}[2]。{text[a:a + 10]}[1]"
    assert [c.n for c in citations] == [1, 2]
    assert all(c.quote == text[c.start : c.end] for c in citations)
    assert citations[1].section == "成效"


def test_a_line_the_source_breaks_off_mid_clause_is_completed_by_the_sentence_that_finishes_it(corpus):
    # The 做法 line ends "…生活物资," and the sentence goes on under 成效: "有效倡导公众行善积德。"
    text = corpus[0]["gongde-yinhang"].text
    a = text.index("xx多地")
    b = text.index("\n", a)
    quote = completed(Span("gongde-yinhang", a, b, "做法"), text)
    assert [text[s.start : s.end] for s in quote] == [text[a:b], "有效倡导公众行善积德。"]
    assert quote[1].section == "成效"
    whole = text.index("有效倡导")
    assert completed(Span("gongde-yinhang", whole, whole + 11, "成效"), text) == (
        Span("gongde-yinhang", whole, whole + 11, "成效"),
    )


def test_how_to_steps_are_a_numbered_list_each_cited(corpus):
    docs = corpus[0]
    text = docs["gongde-yinhang"].text
    a, b = text.index("xx多地"), text.index("有效倡导")
    answer, _ = format_answer([[Span("gongde-yinhang", a, a + 10)], [Span("gongde-yinhang", b, b + 11)]], docs, numbered=True)
    assert answer == f"1. {text[a:a + 10]}[1]\n2. {text[b:b + 11]}[2]"


def test_a_how_question_on_one_step_leads_with_it_and_one_on_the_whole_case_keeps_source_order(corpus, ask):
    # 成果转化 is the studio's last step: it leads, not the case's first steps.
    narrow = ask("书记工作室的研究成果后来怎么推广？", "shenzhen-shequ-shuji-gongzuoshi")
    assert "可复制、可推广" in narrow.citations[0].quote
    whole = ask("深圳社区书记工作室是怎么做的？", "shenzhen-shequ-shuji-gongzuoshi")
    starts = [c.start for c in whole.citations]
    assert whole.answer.startswith("1. ") and len(starts) > 1 and starts == sorted(starts)


def test_a_how_question_in_everyday_words_is_answered_by_the_measure_not_the_problem(corpus, ask):
    # The question map puts the 对策 step (微项目) first; with the plain trees' probabilities it was refused
    # (how sure stayed theirs), and before the map it was answered with the 表现: line (the problem restated).
    answer = ask("群众不爱来参加党组织的活动，咋办？", "dangjian-chuangxin-tiaozhan-yingdui")
    assert not answer.abstained
    assert "微项目" in answer.citations[0].quote
    assert "参与意愿低" not in answer.answer  # what goes wrong is no step


def test_a_question_in_english_is_answered_from_the_chinese_sources(corpus, ask, answer_with):
    answer = ask(
        "By how much did resident participation rise after Chaoyang's neighbourhood festival?",
        "chaoyang-shequ-linlijie",
        "gongde-yinhang",
    )
    assert not answer.abstained
    assert "不足30%提升至70%以上" in answer.citations[0].quote


@pytest.mark.parametrize(
    "question",
    [
        "What is the budget of the Chaoyang neighbourhood festival?",  # the attribute asked is never stated
        "Who is the party secretary of the Lujiazui alliance?",  # the sources name no person
        "How do I bake sourdough bread?",  # no word of it in the sources
        "What is the resident population of Lujiazui?",  # a figure: 人口结构复杂 states none
    ],
)
def test_an_english_question_the_sources_do_not_answer_is_abstained_on_with_a_language_hint(corpus, ask, answer_with, question):
    answer = ask(question, "chaoyang-shequ-linlijie", "gongde-yinhang", "lujiazui-jinse-zhonghuan-dangjian-lianmeng")
    assert answer.abstained and answer.citations == []
    assert "用中文提问可能找到更多" in answer.answer and "matched through a dictionary" in answer.answer


def test_counts_need_a_counted_number_not_a_percentage(corpus, ask, answer_with):
    stats = corpus[2]
    staff = analyse_question("平均每个社区有几个工作人员？", stats)
    assert staff.need.search("平均每个社区的工作人员不到十人")
    communities = analyse_question("朝阳区有多少个社区参加了邻里节？", stats)
    assert not communities.need.search("社区居民参与率从不足30%提升至70%以上")


def test_a_number_is_digits_or_numerals_counting_something_not_the_yi_of_a_word(corpus, ask, answer_with):
    need = analyse_question("全国有多少社会组织？", corpus[2]).need
    assert all(need.search(t) for t in ("已超90万个", "吸纳了十余家单位", "五成居民", "百分之三十"))
    assert not any(need.search(t) for t in ("进一步提升社区工作者待遇", "统一调度", "区、街道、社区三级党建"))


def test_a_slogan_of_one_character_words_is_matched_as_phrases(corpus, ask, answer_with):
    answer = ask("人在格中走，事在格中办", "dangjian-chuangxin-shijian-lujing")
    assert not answer.abstained and "人在格中走,事在格中办" in answer.citations[0].quote


def test_a_fact_lifted_into_two_documents_is_quoted_once(corpus, ask, answer_with):
    """Seed sentences live in both the policy analysis and the case drawn from it; the answer says them once."""
    docs, chunks, _ = corpus
    settings = Settings()
    policy = load_document(CORPUS_DIR / "policies/jiceng-zhili-xin-jingyan-duice.md", settings)
    all_docs = {**docs, policy.doc_id: policy}
    ordered = [c for c in chunks if c.doc_id == "gongde-yinhang"] + chunk_document(policy, settings)
    passages = [to_passage(c, all_docs[c.doc_id], rank=i, score=1 / i) for i, c in enumerate(ordered, start=1)]
    stats = TermStats.from_texts(c.text for c in ordered)
    answer = answer_with("什么是功德银行？", passages, all_docs, stats, settings)
    assert not answer.abstained
    assert "功德银行" in answer.answer
    quotes = [normalize_for_match(c.quote) for c in answer.citations]
    assert not any(a in b for i, a in enumerate(quotes) for j, b in enumerate(quotes) if i != j), quotes


def test_a_synonym_a_word_ending_in_one_or_a_thesaurus_synonym_counts_as_the_word():
    assert holds("闹矛盾", "邻里纠纷下降40%")  # 闹矛盾 -> 矛盾 -> 纠纷
    assert holds("老办法", "传统工作方法效率低下")
    assert not holds("闹矛盾", "邻里关系疏离")
    # The thesaurus (同义词词林) reads an asker's everyday word as the sources' one.
    assert holds("路子", "拓宽社会资源进入的途径") and holds("本事", "在实践中提升本领")


def test_a_reporting_verb_of_the_asker_matches_the_sources_synonym(corpus, ask, answer_with):
    # 上报 in the question, 上传 in the source: the same act, so that sentence answers instead of a refusal.
    answer = ask("群众怎样上报身边的问题？", "hangzhou-chengshi-danao-jiceng-zhili")
    assert not answer.abstained and "民呼我为" in answer.citations[0].quote


def test_a_how_question_on_a_labelled_line_leads_with_the_measure_the_label_heads(corpus, ask, answer_with):
    # The 对策: line's first sentence is the measure; the label word itself does not open the answer.
    answer = ask("基层党组织资源保障不足怎么办？", "dangjian-chuangxin-tiaozhan-yingdui")
    assert answer.citations[0].quote.startswith("建立“财政投入+社会筹资+自我造血”")
    assert not answer.answer.startswith("对策")


def test_the_whole_measure_of_a_labelled_line_is_quoted(corpus, ask, answer_with):
    # The line's second sentence (同时,赋予…使用权。) is quoted with its first, as a runner-up.
    answer = ask("基层党组织资源保障不足怎么办？", "dangjian-chuangxin-tiaozhan-yingdui")
    assert "资源整合权和使用权" in answer.answer


def test_a_sentence_is_widened_only_as_far_as_it_leans_and_never_beyond_its_line():
    text = "- 背景:甲地人口多。\n乙地建立了平台。同时,开放了数据。此外,设立了窗口。\n该平台服务全市。\n- 做法:建立制度。落实经费。"

    def quote(sentence: str) -> str:
        start = text.index(sentence)
        span = standalone_span(Span("d", start, start + len(sentence)), text)
        return text[span.start : span.end]

    assert quote("此外,设立了窗口。") == "乙地建立了平台。同时,开放了数据。此外,设立了窗口。"
    assert quote("乙地建立了平台。") == "乙地建立了平台。"
    assert quote("该平台服务全市。") == "该平台服务全市。"  # the sentence it leans on is on another line
    # A later sentence of a labelled line is quoted from its label's sentence, without the label itself.
    assert quote("落实经费。") == "建立制度。落实经费。"
    assert quote("做法:建立制度。") == "建立制度。"
    # A label that names the step is what the line is about, and stays.
    named = "- 智能预警:平台发现异常即推送社区。"
    span = standalone_span(Span("d", 2, len(named)), named)
    assert named[span.start : span.end] == "智能预警:平台发现异常即推送社区。"


def test_a_salary_asked_in_english_needs_an_amount_of_money(answer_with):
    # The policy says 提升社区工作者待遇 (raise their pay) and, elsewhere in the sentence, 进一步 (一 is a numeral).
    policy = load_document(CORPUS_DIR / "policies/jiceng-zhili-xin-jingyan-duice.md", Settings())
    chunks = chunk_document(policy, Settings())
    passages = [to_passage(c, policy, rank=i, score=1 / i) for i, c in enumerate(chunks, start=1)]
    stats = TermStats.from_texts(c.text for c in chunks)
    answer = answer_with("What is the monthly salary of a community worker?", passages, {policy.doc_id: policy}, stats)
    assert answer.abstained and answer.citations == []


def test_a_sum_of_money_asked_in_chinese_needs_an_amount_in_yuan():
    stats = TermStats(n_chunks=1, df={})
    for question in ("社区工作室的经费是多少？", "网格员一个月工资能拿多少？", "这个项目的预算有多少万？"):
        question_type = analyse_question(question, stats)
        assert question_type.cue == "money", question
        assert not cue_satisfied(question_type, "参与率从不足30%提升至70%以上。")
        assert cue_satisfied(question_type, "每年安排经费20万元。")
    assert analyse_question("议事厅投入使用后解决了多少问题？", stats).cue == "number"  # 多少问题 counts problems
