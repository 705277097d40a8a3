"""The relevance stage: how likely each candidate sentence is to answer the question.

Word overlap alone refuses paraphrased questions (攒的分能换什么 against 积分兑换) and English ones, so
the main signal is the bundled model's own judgement: the cosine between the question's vector and the
sentence's vector (multilingual e5, the model retrieval already runs). Sentence vectors are made at
ingest (``jiceng.ingest.chunking.chunk_sentence_texts``) and read through the embedding cache, so a
request embeds nothing but the question, which retrieval has embedded already.

Boosted decision trees combine that cosine with a few general features of the candidate: its cosine
without the title and section it is embedded with (which sentences of one section share), how much of
the question's idf mass it and its context hold, each also as the distance below the question's best
candidate (similarities and coverage shift from question to question), its passage's rank, whether it
holds the asked answer type and the asked word, whether it states a reason or a measure, whether the
question is in English, and its length. Trees, because the features interact: with each blind set from
fresh5 to fresh8 and fresh9's dev split predicted by trees fitted without it, a right first sentence was
quoted for 0.846 of answerable questions on the bundled corpus where the logistic model they replace got
0.812, and adding the same features to that model gained half a point. (On fresh9's test split, looked at
once afterwards, the two tied: docs/evaluation.md.) The trees and the abstention threshold are fitted on
the dev questions, over the bundled corpus and the raw source texts, by ``python -m bench.fit_relevance``
and stored in ``relevance.json`` beside this file, so the numbers are data with a recorded origin, not
constants tuned by hand.
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

# The features, in the order the trees read them (see ``jiceng.qa.answer.Evidence.features``).
FEATURES = ("cosine", "cosine_gap", "bare_cosine", "bare_gap", "coverage", "coverage_gap", "context",
            "context_gap", "rank", "cue", "focus", "kind", "foreign", "length")


# The arrays a tree is stored as, with their types.
NODE_ARRAYS = (("feature", np.int64), ("split", np.float64), ("left", np.int64), ("right", np.int64),
                ("value", np.float64))


@dataclass(frozen=True, eq=False)
class RelevanceModel:
    """Boosted trees over ``FEATURES`` and the probability below which the best sentence is no answer.

    Each tree is stored as node arrays (``feature``, ``split``, ``left``, ``right``, ``value``; a leaf
    is a node whose children are itself), all trees padded to one length. The trees are evaluated
    here, with numpy, rather than by the library that fitted them: a pickled scikit-learn model loads
    only under the version that wrote it, and loading a pickle runs code; these trees are plain data."""

    feature: np.ndarray  # (trees, nodes) int: the feature a node splits on
    split: np.ndarray  # (trees, nodes) float: a row goes left when its feature is <= this
    left: np.ndarray  # (trees, nodes) int
    right: np.ndarray  # (trees, nodes) int
    value: np.ndarray  # (trees, nodes) float: a leaf's addition to the log-odds (0 elsewhere)
    baseline: float  # the log-odds before any tree
    depth: int  # the deepest leaf's depth: the steps a row takes from the root
    threshold: float
    fitted_on: str = ""

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(sentence answers the question) for each row of ``features`` (columns as ``FEATURES``)."""
        x = np.asarray(features, dtype=np.float64).reshape(-1, len(FEATURES))
        trees = np.arange(len(self.feature))[:, None]
        rows = np.arange(len(x))[None, :]
        node = np.zeros((len(self.feature), len(x)), dtype=np.int64)
        for _ in range(self.depth):  # every tree, every row, one level per step; leaves point to themselves
            goes_left = x[rows, self.feature[trees, node]] <= self.split[trees, node]
            node = np.where(goes_left, self.left[trees, node], self.right[trees, node])
        log_odds = self.baseline + self.value[trees, node].sum(axis=0)
        return 1.0 / (1.0 + np.exp(-log_odds))

    def to_json(self) -> str:
        trees = [
            {name: [round(float(v), 7) if dtype is np.float64 else int(v) for v in getattr(self, name)[i]]
             for name, dtype in NODE_ARRAYS}
            for i in range(len(self.feature))
        ]
        head = {"features": FEATURES, "baseline": self.baseline, "depth": self.depth,
                "threshold": self.threshold, "fitted_on": self.fitted_on}
        # One tree per line: the file stays readable and its diffs small.
        return "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items()) + \
            ',\n  "trees": [\n' + ",\n".join(f"    {json.dumps(t)}" for t in trees) + "\n  ]\n}"

    @classmethod
    def from_json(cls, text: str) -> RelevanceModel:
        data = json.loads(text)
        if tuple(data["features"]) != FEATURES:
            raise ValueError("relevance.json was fitted on other features; run python -m bench.fit_relevance --write")
        arrays = {name: np.array([tree[name] for tree in data["trees"]], dtype=dtype) for name, dtype in NODE_ARRAYS}
        return cls(**arrays, baseline=float(data["baseline"]), depth=int(data["depth"]),
                   threshold=float(data["threshold"]), fitted_on=data["fitted_on"])

    @classmethod
    def from_sklearn(cls, model, threshold: float = 0.5, fitted_on: str = "") -> RelevanceModel:
        """The trees of a fitted binary ``sklearn.ensemble.HistGradientBoostingClassifier`` (no missing
        values, no categorical features), padded to one length."""
        trees = [predictors[0].nodes for predictors in model._predictors]
        width = max(len(nodes) for nodes in trees)
        arrays = {name: np.zeros((len(trees), width), dtype=dtype) for name, dtype in NODE_ARRAYS}
        for i, nodes in enumerate(trees):
            leaf = nodes["is_leaf"].astype(bool)
            own = np.arange(len(nodes))
            arrays["feature"][i, : len(nodes)] = np.where(leaf, 0, nodes["feature_idx"])
            arrays["split"][i, : len(nodes)] = np.where(leaf, 0.0, nodes["num_threshold"])
            arrays["left"][i, : len(nodes)] = np.where(leaf, own, nodes["left"])
            arrays["right"][i, : len(nodes)] = np.where(leaf, own, nodes["right"])
            arrays["value"][i, : len(nodes)] = np.where(leaf, nodes["value"], 0.0)
        depth = int(max(nodes["depth"].max() for nodes in trees))
        return cls(**arrays, baseline=float(np.ravel(model._baseline_prediction)[0]), depth=depth,
                   threshold=threshold, fitted_on=fitted_on)


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
