"""The relevance model's fit (``bench.fit_relevance``): it learns to order one question's candidates."""

from __future__ import annotations

import numpy as np

from bench.fit_relevance import fit_ranker
from jiceng.qa.relevance import RelevanceModel


def test_the_fit_puts_each_questions_right_candidate_first_when_scales_differ_between_questions():
    """Feature 0 tells the right candidate from the wrong ones only within a question (each question
    shifts it by its own offset); feature 1 is a weak clue shared by all. Ordering within questions
    must follow feature 0."""
    rng = np.random.default_rng(7)
    groups = []
    for _ in range(200):
        labels = np.zeros(12, dtype=bool)
        labels[rng.integers(12)] = True
        within = rng.normal(20.0, 10.0) + labels + rng.normal(0, 0.1, 12)
        shared = labels + rng.normal(0, 1.0, 12)
        groups.append((np.column_stack([within, shared]), labels))
    weights, bias, mean, scale = fit_ranker(groups, c=1.0)
    model = RelevanceModel(weights=tuple(weights), bias=bias, mean=tuple(mean), scale=tuple(scale), threshold=0.5)
    firsts = [labels[int(np.argmax(model.probability(feats)))] for feats, labels in groups]
    assert np.mean(firsts) >= 0.95  # a fit over candidates one by one gets 0.36 here
    probabilities = np.concatenate([model.probability(feats) for feats, _ in groups])
    assert ((0 < probabilities) & (probabilities < 1)).all()


def test_a_question_feature_shifts_the_probability_not_the_order():
    """Column 1 marks a kind of question whose right candidates score lower on column 0 at the same odds
    of being right (an English question matched through the dictionary): the fit raises their
    probability by a weight on that column, and each question's order still follows column 0."""
    rng = np.random.default_rng(11)
    groups = []
    for i in range(300):
        foreign = i % 3 == 0
        labels = np.zeros(10, dtype=bool)
        labels[rng.integers(10)] = True
        evidence = labels * 2.0 + rng.normal(0, 0.5, 10) - (1.5 if foreign else 0.0)
        groups.append((np.column_stack([evidence, np.full(10, float(foreign))]), labels))
    weights, bias, mean, scale = fit_ranker(groups, c=1.0, question_columns=[1])
    assert weights[1] > 0
    model = RelevanceModel(weights=tuple(weights), bias=bias, mean=tuple(mean), scale=tuple(scale), threshold=0.5)
    for feats, _ in groups:
        assert np.argmax(model.probability(feats)) == np.argmax(feats[:, 0])
    plain = fit_ranker(groups, c=1.0)
    assert plain[0][1] == 0  # without the column, a feature constant within questions orders nothing
