"""The bundled gold set is sound: every gold string is verbatim source text, ids unique, splits fixed."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from importlib import resources

import pytest

from jiceng.errors import InputError
from jiceng.evals.goldset import default_set_path, load_eval_set
from jiceng.text import normalize_for_match


def _seed_texts() -> list[str]:
    seeds = resources.files("jiceng") / "data" / "seeds"
    return [normalize_for_match(p.read_text(encoding="utf-8")) for p in seeds.iterdir() if p.name.endswith(".txt")]


def test_every_gold_string_is_a_substring_of_a_seed():
    seeds = _seed_texts()
    assert len(seeds) == 2
    missing = [(i.id, g) for i in load_eval_set() for g in i.gold if not any(normalize_for_match(g) in s for s in seeds)]
    assert missing == []


def test_ids_unique_and_set_is_big_and_varied_enough():
    items = load_eval_set()
    assert len({i.id for i in items}) == len(items) >= 120
    assert sum(not i.answerable for i in items) >= 25
    tags = Counter(t for i in items for t in i.tags)
    for tag in ("direct", "paraphrase", "keyword", "traditional", "english", "multi-part", "numeric", "context",
                "near-miss", "off-topic"):
        assert tags[tag] >= 3, tag


def test_test_split_is_the_fixed_sha1_third_of_each_kind():
    """The held-out split cannot drift: within answerable and unanswerable items, ids sorted by SHA-1,
    every third one (0, 3, 6, ...) is test. Extending the set re-deals by this rule (then re-measure the gate)."""
    items = load_eval_set()
    for flag in (True, False):
        group = sorted((i for i in items if i.answerable is flag), key=lambda i: hashlib.sha1(i.id.encode()).hexdigest())
        assert [i.split for i in group] == ["test" if n % 3 == 0 else "dev" for n in range(len(group))]
    assert {i.id for i in load_eval_set(split="test")} == {i.id for i in items if i.split == "test"}


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
    assert default_set_path().name == "gold.jsonl"


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
