"""The relevance model's two scores: the probability that decides abstention, the order that decides the lead."""

from __future__ import annotations

import numpy as np

from jiceng.qa.relevance import FEATURES, RelevanceModel

COVERAGE, GAP = FEATURES.index("coverage"), FEATURES.index("cosine_gap")


def _model(rank_gap: float) -> RelevanceModel:
    weights, mean = [0.0] * len(FEATURES), [0.0] * len(FEATURES)
    weights[COVERAGE], weights[GAP], mean[GAP] = 1.0, 0.5, -0.25
    return RelevanceModel(weights=tuple(weights), bias=0.0, mean=tuple(mean),
                          scale=(1.0,) * len(FEATURES), threshold=0.5, rank_gap=rank_gap)


def _candidates() -> np.ndarray:
    """The first shares more words with the question; the second is the closest to it in meaning (its gap
    to the closest is 0), both closer than the average candidate."""
    rows = np.zeros((2, len(FEATURES)))
    rows[0, COVERAGE], rows[0, GAP] = 1.0, -0.1
    rows[1, COVERAGE], rows[1, GAP] = 0.2, 0.0
    return rows


def test_rank_gap_puts_the_closest_candidate_first_without_changing_any_probability():
    rows = _candidates()
    assert np.argmax(_model(0.0).ranking(rows)) == 0
    assert np.argmax(_model(10.0).ranking(rows)) == 1
    np.testing.assert_allclose(_model(10.0).probability(rows), _model(0.0).probability(rows))


def test_a_candidate_whose_closeness_does_not_count_ranks_as_if_of_average_closeness():
    rows = _candidates()
    assert np.argmax(_model(10.0).ranking(rows, np.array([True, False]))) == 0


def test_the_stored_model_round_trips_through_json():
    model = _model(1.25)
    assert RelevanceModel.from_json(model.to_json()) == model
