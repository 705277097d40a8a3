"""The question-adapter measurement (bench.question_adapter): what it fits is what it claims to measure."""

import numpy as np

from bench.question_adapter import Question, adapted_features, fit_adapter
from jiceng.qa.relevance import FEATURES

DIM = 8


def _question(rng: np.random.Generator, turn: np.ndarray) -> Question:
    """Its answer is the question's vector turned by ``turn``; a decoy is the question's own vector."""
    asked = rng.normal(size=DIM)
    asked /= np.linalg.norm(asked)
    answer = turn @ asked
    others = rng.normal(size=(3, DIM))
    vectors = np.vstack([answer, asked, others])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    features = np.zeros((len(vectors), len(FEATURES)))
    features[:, FEATURES.index("cosine")] = vectors @ asked
    return Question("dev", True, asked, features, vectors, vectors, np.array([True, False, False, False, False]),
                    ("doc",) * len(vectors))


def test_the_adapter_learns_to_rank_the_answer_above_the_decoy_the_plain_cosine_prefers():
    rng = np.random.default_rng(0)
    turn = np.eye(DIM)[rng.permutation(DIM)]
    train = [_question(rng, turn) for _ in range(200)]
    new = [_question(rng, turn) for _ in range(50)]
    cosine = FEATURES.index("cosine")

    def share_right(matrix):
        return np.mean([q.right[np.argmax(adapted_features(q, matrix)[:, cosine])] for q in new])

    assert share_right(None) == 0.0  # the decoy is the question itself
    assert share_right(fit_adapter(train, rank=DIM, steps=1000)) > 0.8


def test_adapted_features_recompute_both_cosines_and_their_gaps_only():
    rng = np.random.default_rng(1)
    question = _question(rng, np.eye(DIM))
    question.features[:, FEATURES.index("coverage")] = 0.5
    features = adapted_features(question, np.zeros((DIM, DIM)))
    assert np.allclose(features[:, FEATURES.index("bare_cosine")], question.alone @ question.vector)
    gap = features[:, FEATURES.index("cosine_gap")]
    assert gap.max() == 0.0 and np.allclose(gap, features[:, FEATURES.index("cosine")] - features[:, FEATURES.index("cosine")].max())
    assert np.all(features[:, FEATURES.index("coverage")] == 0.5)
