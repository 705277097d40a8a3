"""The bundled eval sets are sound: every gold string is verbatim source text, ids unique, test splits frozen."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from importlib import resources

import pytest

from jiceng.errors import InputError
from jiceng.evals.goldset import HELD_OUT, bundled_set_path, default_set_path, load_eval_set
from jiceng.text import normalize_for_match


def _seed_texts() -> list[str]:
    seeds = resources.files("jiceng") / "data" / "seeds"
    return [normalize_for_match(p.read_text(encoding="utf-8")) for p in seeds.iterdir() if p.name.endswith(".txt")]


_BUNDLED_SETS = sorted(p.name.removesuffix(".jsonl") for p in (resources.files("jiceng.evals") / "sets").iterdir()
                        if p.name.endswith(".jsonl"))


@pytest.mark.parametrize("name", _BUNDLED_SETS)
def test_every_gold_string_is_a_substring_of_a_seed(name):
    seeds = _seed_texts()
    assert len(seeds) == 2
    items = load_eval_set(bundled_set_path(name), "all")
    missing = [(i.id, g) for i in items for g in i.gold if not any(normalize_for_match(g) in s for s in seeds)]
    assert missing == []


def test_the_regression_set_keeps_every_earlier_question_kind():
    items = load_eval_set(bundled_set_path("regression"), "all")
    assert len({i.id for i in items}) == len(items) >= 200
    assert sum(not i.answerable for i in items) >= 25
    tags = Counter(t for i in items for t in i.tags)
    for tag in ("direct", "paraphrase", "keyword", "traditional", "english", "multi-part", "numeric", "context",
                "near-miss", "off-topic"):
        assert tags[tag] >= 3, tag


# The sha1 of each blind set's sorted test ids, as committed before any tuning on it (the questions stay unquoted).
FROZEN_TEST_SPLITS = {
    "fresh": "9050c1213845e63d3de1cc63e56949917cb6bf98",  # looked at once on 2026-12-03: used up, tune on it freely
    "fresh2": "8d375de262602c4cc87a00b57e050e762c2e3c0a",  # looked at once on 2026-12-03 12:13 UTC: used up
    "fresh3": "74e3e5c4c2a4c393eff043bcb1ab2a54ea309d6f",  # looked at once on 2026-12-03 12:35 UTC: used up
    "fresh4": "68c808b7012f019edbd5e9949d5702d3a4751e53",  # looked at once on 2026-12-03 14:48 UTC: used up
    "fresh5": "64e2ba3cd25b908c31a96d29d4b8a4316ed6c75a",  # looked at once on 2026-12-03 15:18 UTC: used up
    "fresh6": "ef0273d94356eae957d5049f2baffafaafd36dbf",  # looked at once on 2026-12-03 17:18 UTC: used up
    "fresh7": "f2834f774820da9e7d45519405cd76c6020a0fa1",  # looked at once on 2026-12-03 17:27 UTC: used up
    "fresh8": "72231a011711a7919a1015fa3a32b34808ad272c",  # looked at once on 2026-12-03 19:54 UTC: used up
    "fresh9": "ba39cd9e35d5e021a32cb8dc43a24405fed4a6c5",  # looked at once on 2026-12-03 23:26 UTC: used up
    "fresh10": "fea7cf547147bb61c8f95d73904e4a37987f58da",  # looked at once on 2026-12-04 11:20 UTC: used up
    "fresh11": "8ae0034122b56f8f2c3bd7e90feb71e8c0efa100",  # looked at once on 2026-12-04 13:56 UTC: used up
    "fresh12": "619c6a884ded5bf09b5fcf31195f984fd2f4742f",  # looked at once on 2026-12-04 14:19 UTC: used up
    "fresh13": "490bc44f8a6e8995d3fc27ef33795cd93ac1cbf5",  # looked at once on 2026-12-04 16:41 UTC: used up
    "fresh14": "5abb49cd4821345500b61355a1fcb1d5e44ae27b",  # looked at once on 2026-12-04 17:00 UTC: used up
    "fresh15": "3b848ee46d4ae7ab73dacbb502d47dba82ee5cce",  # looked at once on 2026-12-04 19:29 UTC: used up
    "fresh16": "90dda68bd31d3dab8623a12ee880b586c21cd57b",  # looked at once on 2026-12-04 22:07 UTC: used up
    "fresh17": "761c0ef0f11c4fb01aa282befc3fbbbf3d22d19c",  # looked at once on 2026-12-05 00:15 UTC: used up
    "fresh18": "f5fd2c8e8634180db471e70bf38424c5044901a0",  # looked at once on 2026-12-05 02:56 UTC: used up
    "fresh19": "0f363fff11a89bf344c920bc097f245f71cdab4b",  # looked at once on 2026-12-05 04:37 UTC: used up
    "fresh20": "2841fd58f365457f258a4bc23d26341e15aedfaf",  # looked at once on 2026-12-05 08:21 UTC: used up
    "fresh21": "c07b9775616a04047981d8068dd49436acb85435",  # looked at once on 2026-12-05 10:54 UTC: used up
    "fresh22": "6407ca497d61374b6fd66fd24fb1a88f5a5170f9",  # looked at once on 2026-12-05 13:00 UTC: used up
    "fresh23": "81fb1ec50f8a4102368f26fd3605734a5f0f028f",  # looked at once on 2026-12-05 15:13 UTC: used up
    "fresh24": "ececbf63580036495e178426ee926ca2d37ab80d",  # looked at once on 2026-12-05 18:18 UTC: used up
    "fresh25": "1a08b764db1fc2879fcbe1c8f298c575ea9f377c",  # looked at once on 2026-12-05 19:43 UTC: used up
    "fresh26": "1f8f936480e76f15f813f43a5b00e004aa25a35b",  # looked at once on 2026-12-05 21:41 UTC: used up
    "fresh27": "f2132d7de533b12183404d21fb6ed911987f5f9a",  # looked at once on 2026-12-05 23:10 UTC: used up
    "fresh28": "f6603d77b5a85142b51de2f7334ce7bad6723c53",
}


def test_only_sets_with_a_frozen_test_split_are_held_out():
    assert HELD_OUT and HELD_OUT <= set(FROZEN_TEST_SPLITS) <= set(_BUNDLED_SETS)


@pytest.mark.parametrize("name", sorted(FROZEN_TEST_SPLITS))
def test_a_blind_sets_held_out_split_is_the_one_frozen_before_tuning(name):
    """The test split cannot drift: its ids are the ones committed before any tuning (their digest is
    kept here, not the questions), and each kind has items in both splits."""
    items = load_eval_set(bundled_set_path(name), "all")
    test_ids = sorted(i.id for i in items if i.split == "test")
    assert hashlib.sha1(" ".join(test_ids).encode()).hexdigest() == FROZEN_TEST_SPLITS[name]
    kinds = Counter((i.tags[0], i.split) for i in items)
    assert all(kinds[kind, "dev"] and kinds[kind, "test"] for kind, _ in kinds)
    assert sum(not i.answerable for i in items) >= 35 and len(items) >= 150


def test_bad_set_is_reported_with_its_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = {"id": "x", "question": "q", "answerable": True, "gold": ["g"], "keys": []}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "gold": []}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        load_eval_set(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate"):
        load_eval_set(path)
    with pytest.raises(InputError, match="not found"):
        load_eval_set(tmp_path / "none.jsonl")
    assert default_set_path().stem in HELD_OUT  # the newest blind set, judging the present round


def test_fields_of_the_evaluators_own_are_ignored_and_known_ones_still_checked(tmp_path, caplog):
    path = tmp_path / "mine.jsonl"
    item = {"id": "x", "question": "q", "answerable": True, "gold": ["g"], "keys": ["k"], "split": "test"}
    lines = [{**item, "seed": "001_a1796aac37910657.txt"}, {**item, "id": "y", "reviewer": {"name": "王"}}]
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    with caplog.at_level("INFO", logger="jiceng.evals.goldset"):
        items = load_eval_set(path)
    assert [(i.id, i.gold, i.keys, i.split) for i in items] == [("x", ["g"], ["k"], "test"), ("y", ["g"], ["k"], "test")]
    assert not hasattr(items[0], "seed")
    assert "reviewer, seed" in caplog.text

    path.write_text(json.dumps({**item, "seed": "s", "split": "train"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):  # a known field with a bad value is still refused
        load_eval_set(path)
    path.write_text(json.dumps({**item, "seed": "s", "answerable": False}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        load_eval_set(path)
