"""English questions: dictionary readings in the corpus's own words, and what the question asks about."""

from __future__ import annotations

import pytest

from jiceng.qa.crosslingual import Glossary, asked_about, is_foreign

VOCABULARY = {
    "杭州": 3,
    "人口": 2,
    "居民": 9,
    "参与": 7,
    "陆家嘴": 4,
    "联盟": 6,
    "积分": 2,
    "兑换": 2,
    "组织": 20,
}


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary(VOCABULARY)


def test_english_words_become_the_corpus_words_they_can_mean(glossary):
    readings = glossary.translate("What is the population of Hangzhou?")
    assert readings == {"population": ("人口",), "hangzhou": ("杭州",)}  # only words the corpus uses


def test_british_spelling_plural_and_inflection_find_the_dictionary_entry(glossary):
    readings = glossary.translate("How many social organisations exchanged points?")
    assert "组织" in readings["organisations"]
    assert readings["exchanged"] == ("兑换",) and readings["points"] == ("积分",)


def test_a_name_the_dictionary_lacks_is_found_by_pinyin(glossary):
    assert glossary.translate("the Lujiazui alliance")["lujiazui"] == ("陆家嘴",)


def test_a_word_the_corpus_never_uses_has_no_reading(glossary):
    assert glossary.translate("sourdough bread") == {"sourdough": (), "bread": ()}
    assert glossary.lexical_query("Did residents join the alliance?") == "居民 联盟"


@pytest.mark.parametrize(
    ("question", "focus"),
    [
        ("What is the resident population of Lujiazui?", "population"),
        ("Which company's algorithms does the City Brain use?", "company"),
        ("Which common problems did the alliance solve?", "problems"),
        ("Can merit bank points be exchanged for a car?", "car"),
        ("What can villagers exchange their points for?", None),
    ],
)
def test_what_an_english_question_asks_about(question, focus):
    assert asked_about(question) == focus


def test_only_questions_without_chinese_are_translated():
    assert is_foreign("How many staff?") and not is_foreign("Python怎么安装？") and not is_foreign("2023")
