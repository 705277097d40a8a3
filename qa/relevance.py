"""The relevance stage: how likely each candidate sentence is to answer the question.

Word overlap alone refuses paraphrased questions (攒的分能换什么 against 积分兑换) and English ones, so
the main signal is the bundled model's own judgement: the cosine between the question's vector and the
sentence's vector (multilingual e5, the model retrieval already runs). Sentence vectors are made at
ingest (``jiceng.ingest.chunking.chunk_sentence_texts``) and read through the embedding cache, so a
request embeds nothing but the question, which retrieval has embedded already.

A small logistic model combines that cosine with a few general features of the candidate (how much of
the question's idf mass it holds, its passage's rank, whether it holds the asked answer type and the
asked word, whether it states a reason or a measure). Its weights are fitted to order each question's
candidates (right above wrong), then scaled into a probability; they and the abstention threshold are
fitted on the dev questions, over the bundled corpus and the raw source texts, by
``python -m bench.fit_relevance`` and stored in ``relevance.json`` beside this file, so the numbers are
data with a recorded origin, not constants tuned by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from jiceng.ingest.cache import MemoryLru

# The features, in the order of the fitted weights (see ``jiceng.qa.answer.Evidence.features``).
FEATURES = ("cosine", "cosine_gap", "coverage", "context", "rank", "cue", "focus", "kind", "foreign")
# Features of the question, the same for all its candidates: they order nothing, but shift how likely its
# best candidate is to be right (an English question's candidates match only through the dictionary, so
# they score lower at equal odds of being right).
QUESTION_FEATURES = ("foreign",)


@dataclass(frozen=True)
class RelevanceModel:
    """Logistic weights over ``FEATURES`` and the probability below which the best sentence is no answer."""

    weights: tuple[float, ...]
    bias: float
    # Features are standardised with the dev set's mean and spread before the weights apply.
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    fitted_on: str = ""

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(sentence answers the question) for each row of ``features`` (columns as ``FEATURES``)."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def to_json(self) -> str:
        return json.dumps(
            {"features": FEATURES, **{k: getattr(self, k) for k in
             ("weights", "bias", "mean", "scale", "threshold", "fitted_on")}},
            ensure_ascii=False, indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> RelevanceModel:
        data = json.loads(text)
        if tuple(data.pop("features")) != FEATURES:
            raise ValueError("relevance.json was fitted on other features; run python -m bench.fit_relevance --write")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


RELEVANCE_FILE = Path(str(resources.files("jiceng.qa") / "relevance.json"))


@cache
def bundled_model() -> RelevanceModel:
    """The model fitted on the dev questions (``relevance.json`` in this package)."""
    return RelevanceModel.from_json(RELEVANCE_FILE.read_text("utf-8"))


class SentenceVectors:
    """Sentence vectors of one index generation: an in-memory LRU over the embedder's passage cache.

    A sentence missing from both (an index built before sentences were embedded) is embedded on first
    use and cached like any passage, so the first question on it is slower, never wrong."""

    def __init__(self, embed_passages: Callable[[Sequence[str]], np.ndarray], size: int) -> None:
        self._embed = embed_passages
        self._known = MemoryLru(size)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        found = self._known.fetch(texts, self._embed)
        return np.stack([found[t] for t in texts]) if texts else np.empty((0, 0), np.float32)


def cosines(question_vector: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``vectors`` to the question (every embedder returns unit rows)."""
    if not len(vectors):
        return np.empty(0)
    return np.asarray(vectors, dtype=np.float32) @ np.asarray(question_vector, dtype=np.float32)


def feature_rows(candidates: Sequence[Mapping[str, float]]) -> np.ndarray:
    """The candidates' features as a matrix with columns in ``FEATURES`` order."""
    return np.array([[c[name] for name in FEATURES] for c in candidates], dtype=np.float64).reshape(-1, len(FEATURES))
