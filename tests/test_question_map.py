"""The question map (``bench.fit_relevance.fit_question_map``, ``jiceng.qa.relevance.QuestionMap``): what it
learns, that it reorders only the candidates of the documents it was fitted on, among themselves, and that
a question whose candidates it all covers is scored by its trees, on their own thresholds."""

from dataclasses import replace

import numpy as np
import pytest

from bench.fit_relevance import Asked, fit_question_map, fit_trees
from jiceng.qa.relevance import (
    FEATURES,
    QuestionMap,
    RelevanceModel,
    bundled_model,
    text_digest,
)

DIM = 8
COSINE = FEATURES.index("cosine")


def _asked(rng: np.random.Generator, turn: np.ndarray, digests: tuple[str, ...] = ("doc",) * 5) -> Asked:
    """Its answer is the question's vector turned by ``turn``; a decoy is the question's own vector."""
    question = rng.normal(size=DIM)
    question /= np.linalg.norm(question)
    vectors = np.vstack([turn @ question, question, rng.normal(size=(3, DIM))])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    features = np.zeros((len(vectors), len(FEATURES)))
    features[:, COSINE] = vectors @ question
    features[:, FEATURES.index("bare_cosine")] = vectors @ question
    right = np.array([True, False, False, False, False])
    return Asked("dev", "q", True, False, question, features, vectors, vectors, right, ("d",) * 5, digests)


def test_the_map_learns_to_rank_the_answer_above_the_decoy_the_plain_cosine_prefers():
    rng = np.random.default_rng(0)
    turn = np.eye(DIM)[rng.permutation(DIM)]
    train = [_asked(rng, turn) for _ in range(200)]
    new = [_asked(rng, turn) for _ in range(50)]

    def share_right(question_map):
        return np.mean([q.right[np.argmax(q.features_under(question_map)[:, COSINE])] for q in new])

    assert share_right(None) == 0.0  # the decoy is the question itself
    assert share_right(fit_question_map(train, frozenset({"doc"}), rank=DIM, steps=1000)) > 0.8


def _model(question_map: QuestionMap) -> RelevanceModel:
    """Plain trees preferring a high cosine, the map's trees a low one: they disagree on every order."""
    rng = np.random.default_rng(3)
    groups = []
    for _ in range(80):
        features = rng.random((5, len(FEATURES)))
        groups.append((features, features[:, COSINE] == features[:, COSINE].max()))
    plain = fit_trees(groups)
    mapped = fit_trees([(f, f[:, COSINE] == f[:, COSINE].min()) for f, _ in groups])
    return replace(plain, threshold=0.3, question_map=question_map, mapped=mapped)


def test_the_maps_trees_order_the_covered_candidates_among_themselves_and_leave_the_rest_alone():
    rng = np.random.default_rng(1)
    question = _asked(rng, np.eye(DIM), digests=("fitted", "fitted", "fitted", "other", "other"))
    model = _model(QuestionMap(u=np.zeros((DIM, 1)), v=np.zeros((DIM, 1)), documents=frozenset({"fitted"})))
    plain = model.probability(question.features)
    p = question.probability(model)  # as score_relevance computes it
    assert np.allclose(p[3:], plain[3:])  # a user's own candidates: exactly as without a map
    assert sorted(p[:3]) == sorted(plain[:3])  # the covered ones keep their probabilities, reordered
    by_map = model.mapped.probability(question.features_under(model.question_map)[:3])
    lead = np.argmax(by_map)
    assert p[lead] == p[:3].max() and plain[lead] < plain[:3].max()  # the map's choice leads, not the plain one


def test_when_the_map_covers_every_candidate_their_probabilities_are_its_trees_on_their_own_thresholds():
    rng = np.random.default_rng(4)
    question = _asked(rng, np.eye(DIM), digests=("fitted",) * 5)
    model = replace(_model(QuestionMap(u=np.zeros((DIM, 1)), v=np.zeros((DIM, 1)), documents=frozenset({"fitted"}))),
                    doubt_threshold=0.4, mapped_threshold=0.6, mapped_doubt_threshold=0.7)
    by_map = model.mapped.probability(question.features_under(model.question_map))
    np.testing.assert_allclose(question.probability(model), by_map)  # not the plain trees' values reordered
    assert model.thresholds(mapped=True) == (0.6, 0.7) and model.thresholds(mapped=False) == (0.3, 0.4)
    assert replace(model, mapped_threshold=None).thresholds(mapped=True) == (0.3, 0.4)  # fitted before: one pair


def test_the_map_is_stored_as_plain_arrays_and_its_trees_with_the_rest():
    rng = np.random.default_rng(2)
    question_map = QuestionMap(u=rng.normal(size=(DIM, 2)), v=rng.normal(size=(DIM, 2)), documents=frozenset({"a", "b"}))
    loaded = QuestionMap.from_npz(question_map.to_npz())  # np.load with allow_pickle=False
    assert np.allclose(loaded.u, question_map.u) and loaded.documents == question_map.documents
    assert loaded.digest() == question_map.digest()
    model = replace(_model(question_map), mapped_threshold=0.45, mapped_doubt_threshold=0.5)
    reloaded = RelevanceModel.from_json(model.to_json(), loaded)
    assert reloaded.thresholds(mapped=True) == (0.45, 0.5)
    rows = rng.random((4, len(FEATURES)))
    covered = np.array([True, False, True, True])
    np.testing.assert_allclose(reloaded.probability(rows, covered, rows[covered]),
                               model.probability(rows, covered, rows[covered]), atol=1e-6)
    other = QuestionMap(u=question_map.u + 1, v=question_map.v, documents=question_map.documents)
    for wrong in (other, None):
        with pytest.raises(ValueError, match="do not belong together"):
            RelevanceModel.from_json(model.to_json(), wrong)


def test_the_bundled_map_covers_every_document_of_the_bundled_corpus(corpus_settings):
    from jiceng.ingest.store import open_current

    question_map = bundled_model().question_map
    assert question_map is not None
    documents = open_current(corpus_settings).documents.values()
    assert {text_digest(doc.text) for doc in documents} == set(question_map.documents)
