"""The relevance model's fit (``bench.fit_relevance``) and how the answerer evaluates the stored trees."""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from bench.fit_relevance import (
    choose_thresholds,
    fit_trees,
    folds_by_set,
    refusal_rates,
    refused_per_index,
    refuses_the_check,
)
from jiceng.evals.goldset import EvalItem
from jiceng.qa.relevance import FEATURES, RelevanceModel, bundled_model


def _question(rng: np.random.Generator, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """One question's candidates: feature 0 tells the right one only above 0.6 when feature 12 (the
    question is English) is 0, and above 0.3 when it is 1; the other features are noise."""
    labels = np.zeros(n, dtype=bool)
    labels[rng.integers(n)] = True
    foreign = float(rng.random() < 0.5)
    feats = rng.random((n, len(FEATURES)))
    feats[:, 12] = foreign
    cut = 0.3 if foreign else 0.6
    feats[:, 0] = np.where(labels, rng.uniform(cut, 1.0, n), rng.uniform(0.0, cut, n))
    return feats, labels


def test_the_trees_learn_an_interaction_a_single_weight_per_feature_cannot():
    rng = np.random.default_rng(7)
    model = fit_trees([_question(rng) for _ in range(300)])
    held_out = [_question(rng) for _ in range(100)]
    firsts = [labels[int(np.argmax(model.probability(feats)))] for feats, labels in held_out]
    assert np.mean(firsts) >= 0.95
    # English candidates between the two cuts are right, Chinese ones wrong.
    middle = np.full((2, len(FEATURES)), 0.5)
    middle[:, 0] = 0.45
    middle[:, 12] = [0.0, 1.0]
    chinese, english = model.probability(middle)
    assert english > 0.5 > chinese


def test_the_stored_trees_give_the_probabilities_of_the_library_that_fitted_them(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, len(FEATURES)))
    y = (x[:, 0] * x[:, 1] + 0.3 * rng.normal(size=2000)) > 0.2
    fitted = HistGradientBoostingClassifier(max_iter=40, max_depth=3, random_state=0).fit(x, y)
    model = RelevanceModel.from_sklearn(fitted, threshold=0.4, fitted_on="test")
    path = tmp_path / "relevance.json"
    path.write_text(model.to_json(), encoding="utf-8")
    loaded = RelevanceModel.from_json(path.read_text(encoding="utf-8"))
    new = rng.normal(size=(500, len(FEATURES)))
    np.testing.assert_allclose(loaded.probability(new), fitted.predict_proba(new)[:, 1], atol=1e-5)
    assert (loaded.threshold, loaded.fitted_on) == (0.4, "test")


def test_the_bundled_model_reads_the_features_the_answerer_makes():
    model = bundled_model()
    assert 0.0 < model.threshold < 1.0 and "bench.fit_relevance" in model.fitted_on
    p = model.probability(np.zeros((3, len(FEATURES))))
    assert p.shape == (3,) and ((0 < p) & (p < 1)).all()


def test_doubted_questions_get_a_threshold_of_their_own_and_the_lowest_that_separates_is_taken():
    # Plain questions: answerable ones at 0.9, unanswerable at 0.1. Doubted ones (the corpus may be
    # silent): answerable at 0.95, unanswerable at 0.6, above the plain threshold.
    probability = np.array([0.9] * 100 + [0.1] * 100 + [0.95] * 20 + [0.6] * 20)
    answerable = np.array([True] * 100 + [False] * 100 + [True] * 20 + [False] * 20)
    doubted = np.array([False] * 200 + [True] * 40)
    one_set, near_misses_only = np.array(["dev"] * 240), np.zeros(240, dtype=bool)
    threshold, doubt = choose_thresholds(probability, answerable, doubted, one_set, near_misses_only, cost=3.0, tolerance=0.0)
    assert (threshold, doubt) == (0.125, 0.625)
    # Where refusing the doubted near-misses refuses as many doubted answerable questions, they are
    # answered: a false refusal costs three missed near-misses.
    probability[200:220] = 0.5
    threshold, doubt = choose_thresholds(probability, answerable, doubted, one_set, near_misses_only, cost=3.0, tolerance=0.0)
    assert doubt <= 0.5 and threshold == 0.125
    # At a cost below one, catching the 20 near-misses is worth refusing the 20 answerable questions.
    threshold, doubt = choose_thresholds(probability, answerable, doubted, one_set, near_misses_only, cost=0.5, tolerance=0.0)
    assert doubt == 0.625


def test_the_pair_is_chosen_among_those_that_refuse_the_off_topic_check_on_every_index():
    # Dev: answerable questions at 0.9, near-misses at 0.1: every threshold between separates them, and the
    # lowest, 0.125, is taken.
    probability = np.array([0.9] * 100 + [0.1] * 100)
    answerable = np.array([True] * 100 + [False] * 100)
    dev = (probability, answerable, np.zeros(200, bool), np.array(["dev"] * 200), np.zeros(200, bool), 3.0, 0.0)
    assert choose_thresholds(*dev) == (0.125, 0.125)
    # The check: on index 0 (the corpus) off-topic questions at 0.1; on index 1 (a few pages) at 0.1 and 0.3.
    check = (np.array([0.1] * 10 + [0.1] * 10 + [0.3] * 10), np.zeros(30, bool), np.array([0] * 10 + [1] * 20))
    assert refused_per_index(*check, 0.125, 0.125) == {0: 1.0, 1: 0.5}
    assert not refuses_the_check(*check, 0.3, 0.3) and refuses_the_check(*check, 0.325, 0.325)
    assert choose_thresholds(*dev, allowed=partial(refuses_the_check, *check)) == (0.325, 0.325)
    # Where no pair refuses enough, the choice is made among all.
    assert choose_thresholds(*dev, allowed=lambda threshold, doubt: False) == (0.125, 0.125)


def test_refusals_are_counted_per_set_so_a_large_easy_set_does_not_hide_a_new_writers():
    refused = np.array([False] * 1000 + [True] * 10 + [False] * 10)
    answerable = np.ones(1020, dtype=bool)
    sets = np.array(["regression"] * 1000 + ["fresh"] * 20)
    false_refusal, _ = refusal_rates(refused, answerable, sets, np.zeros(1020, dtype=bool))
    assert false_refusal == 0.25


def test_off_topic_questions_weigh_as_much_as_all_near_misses():
    # Three sets of near-misses, all refused; one off-topic set, half of it refused.
    refused = np.array([True] * 30 + [True] * 5 + [False] * 5)
    answerable = np.zeros(40, dtype=bool)
    sets = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 10 + ["offtopic"] * 10)
    off_topic = sets == "offtopic"
    _, unanswerable_refused = refusal_rates(refused, answerable, sets, off_topic)
    assert unanswerable_refused == 0.75  # (1.0 + 0.5) / 2, not (1 + 1 + 1 + 0.5) / 4


def test_whole_sets_share_a_fold_but_the_off_topic_questions_are_dealt_to_every_fold():
    def items(name: str, count: int, answerable: bool) -> list[tuple[str, EvalItem]]:
        return [(name, EvalItem(id=f"{name}-{i}", question=f"问题{i}", answerable=answerable,
                                gold=["原文"] if answerable else [])) for i in range(count)]

    fold_of = folds_by_set(items("fresh", 10, True) + items("fresh2", 10, True) + items("offtopic", 10, False), folds=5)
    assert len({fold_of["fresh", f"fresh-{i}"] for i in range(10)}) == 1  # one writer's questions together
    assert fold_of["fresh", "fresh-0"] != fold_of["fresh2", "fresh2-0"]
    assert sorted(fold_of["offtopic", f"offtopic-{i}"] for i in range(10)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
