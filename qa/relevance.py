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
question is in English, its length, whether it is a section title, whether the question asks for
particulars (具体) and how much of it is in words the corpus never uses. Trees, because the features interact: with each blind set from
fresh5 to fresh8 and fresh9's dev split predicted by trees fitted without it, a right first sentence was
quoted for 0.846 of answerable questions on the bundled corpus where the logistic model they replace got
0.812, and adding the same features to that model gained half a point. (On fresh9's test split, looked at
once afterwards, the two tied: docs/evaluation.md.) The trees and the abstention threshold are fitted on
the dev questions, over the bundled corpus and the raw source texts, by ``python -m bench.fit_relevance``
and stored in ``relevance.json`` beside this file, so the numbers are data with a recorded origin, not
constants tuned by hand.

The bundled corpus's own sentences are also scored by trees over their cosines to the question's vector
moved by a ``QuestionMap`` fitted on the same dev questions (``question_map.npz``): the cosine alone puts a
right sentence first for only 0.57-0.72 of dev questions, the map, which learns what this text is asked
about, 0.84-0.90. Where every candidate is of the bundled corpus, their probabilities are those trees' own,
with thresholds of their own; beside a user's documents, the map only orders the bundled candidates among
themselves. A user's own documents are scored as without it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from jiceng.ingest.cache import MemoryLru

# The features, in the order the trees read them (see ``jiceng.qa.answer.Evidence.features``).
FEATURES = ("cosine", "cosine_gap", "bare_cosine", "bare_gap", "coverage", "coverage_gap", "context",
            "context_gap", "rank", "cue", "focus", "kind", "foreign", "length", "heading", "specific",
            "unknown", "before_cosine", "before_gap", "line_kind", "problem_cosine", "problem_gap")
# The scores of ``relevance_scores`` and their gaps below the question's best, as features.
SCORED = ("cosine", "bare_cosine", "coverage", "context")
SCORED_GAPS = ("cosine_gap", "bare_gap", "coverage_gap", "context_gap")
# What the question map's trees read after ``FEATURES`` under the map (``mapped_features``): the plain cosines
# and their gaps, how close a sentence is to the question as asked. The map pulls every question toward what
# this text is asked about; with its cosines alone, its trees were sure of off-topic questions (P up to .93 on
# the off-topic check, whose guard then wanted a threshold near .43; with them, .25).
PLAIN_UNDER_MAP = ("plain_cosine", "plain_bare_cosine", "plain_cosine_gap", "plain_bare_gap")


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
    # The threshold for a question with signs that the corpus is silent (``answer.doubts_the_corpus``);
    # above 1, such a question is always refused.
    doubt_threshold: float = 1.0
    fitted_on: str = ""
    # The pair for a question all of whose candidates are of documents the question map covers: their
    # probabilities are the map's trees' own (``probability``), a scale of its own. None: the pair above.
    mapped_threshold: float | None = None
    mapped_doubt_threshold: float | None = None
    # A question map and the trees fitted on its cosines: they score the candidates of the documents the
    # map covers (the bundled corpus) when a question has no others, and else only order them among
    # themselves (``probability``).
    question_map: QuestionMap | None = None
    mapped: RelevanceModel | None = None

    def probability(
        self, features: np.ndarray, covered: np.ndarray | None = None, mapped_rows: np.ndarray | None = None
    ) -> np.ndarray:
        """P(sentence answers the question) for each row of ``features`` (columns as ``FEATURES``).

        When every row is ``covered``, the probabilities are the map's trees' over ``mapped_rows`` (the
        rows' features under the map, ``mapped_features()``): out of fold on the bundled corpus, at the
        shipped thresholds of each, they refused .017 of the answerable questions instead of .042, .898 of
        the near-misses instead of .908, and a right sentence was answered first .910 of the time instead
        of .888 (mean of the sets; docs/evaluation.md).
        When only some rows are covered, those are reordered by the map's trees: the best of them by the
        map's trees gets the highest of their plain probabilities, and so on. The map's trees were fitted
        on questions about the bundled corpus only: taken as they are beside a user's own file, their
        probabilities put the bundled sentences ahead of it (on the two source texts, with a map and its
        trees fitted on the questions on one text, the questions on the other got a right first sentence
        0.58 and 0.70 of the time against 0.76 and 0.83 without a map; reordered, as here, 0.76 and 0.83:
        bench.question_adapter --cross-document)."""
        if scored_by_map(covered):
            return self.mapped._evaluate(np.asarray(mapped_rows, dtype=np.float64))
        p = self._evaluate(np.atleast_2d(np.asarray(features, dtype=np.float64)))
        if covered is not None and covered.any():
            rows = np.flatnonzero(covered)
            order = np.argsort(-self.mapped._evaluate(np.asarray(mapped_rows, dtype=np.float64)), kind="stable")
            p[rows[order]] = np.sort(p[rows])[::-1]
        return p

    def thresholds(self, mapped: bool) -> tuple[float, float]:
        """The threshold and the doubt threshold for a question whose probabilities are the map's trees'
        (``mapped``) or the plain trees'."""
        if mapped and self.mapped_threshold is not None and self.mapped_doubt_threshold is not None:
            return self.mapped_threshold, self.mapped_doubt_threshold
        return self.threshold, self.doubt_threshold

    def score(
        self, features: np.ndarray, question_vector: np.ndarray, in_context: np.ndarray, alone: np.ndarray,
        covered: np.ndarray | None,
    ) -> np.ndarray:
        """``probability`` of a question's candidates, given their sentence vectors and which of them are of
        documents the question map covers (None without a map)."""
        if covered is None or not covered.any():
            return self.probability(features)
        mapped = mapped_features(features[covered], question_vector, in_context[covered], alone[covered],
                                 self.question_map)
        return self.probability(features, covered, mapped)

    def _evaluate(self, x: np.ndarray) -> np.ndarray:
        trees = np.arange(len(self.feature))[:, None]
        rows = np.arange(len(x))[None, :]
        node = np.zeros((len(self.feature), len(x)), dtype=np.int64)
        for _ in range(self.depth):  # every tree, every row, one level per step; leaves point to themselves
            goes_left = x[rows, self.feature[trees, node]] <= self.split[trees, node]
            node = np.where(goes_left, self.left[trees, node], self.right[trees, node])
        log_odds = self.baseline + self.value[trees, node].sum(axis=0)
        return 1.0 / (1.0 + np.exp(-log_odds))

    def _tree_lines(self) -> str:
        # One tree per line: the file stays readable and its diffs small.
        return ",\n".join(
            "    " + json.dumps({name: [round(float(v), 7) if dtype is np.float64 else int(v) for v in getattr(self, name)[i]]
                                 for name, dtype in NODE_ARRAYS})
            for i in range(len(self.feature)))

    def to_json(self) -> str:
        head = {"features": FEATURES, "baseline": self.baseline, "depth": self.depth,
                "threshold": self.threshold, "doubt_threshold": self.doubt_threshold, "fitted_on": self.fitted_on,
                "question_map": self.question_map.digest() if self.question_map else None}
        if self.mapped:
            head |= {"mapped_features": FEATURES + PLAIN_UNDER_MAP,
                     "mapped_baseline": self.mapped.baseline, "mapped_depth": self.mapped.depth,
                     "mapped_threshold": self.mapped_threshold, "mapped_doubt_threshold": self.mapped_doubt_threshold}
        text = "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items())
        text += ',\n  "trees": [\n' + self._tree_lines() + "\n  ]"
        if self.mapped:
            text += ',\n  "mapped_trees": [\n' + self.mapped._tree_lines() + "\n  ]"
        return text + "\n}"

    @classmethod
    def from_json(cls, text: str, question_map: QuestionMap | None = None) -> RelevanceModel:
        """The trees of ``text``, with ``question_map`` when they were fitted with one (its digest is recorded)."""
        data = json.loads(text)
        if tuple(data["features"]) != FEATURES or (question_map and tuple(data.get("mapped_features", ())) != FEATURES + PLAIN_UNDER_MAP):
            raise ValueError("relevance.json was fitted on other features; run python -m bench.fit_relevance --write")
        if data.get("question_map") != (question_map.digest() if question_map else None):
            raise ValueError("relevance.json and question_map.npz do not belong together (its trees were fitted "
                             "with another map, or without one); run python -m bench.fit_relevance --write")

        def arrays(trees: list[dict]) -> dict[str, np.ndarray]:
            return {name: np.array([tree[name] for tree in trees], dtype=dtype) for name, dtype in NODE_ARRAYS}

        mapped = cls(**arrays(data["mapped_trees"]), baseline=float(data["mapped_baseline"]),
                     depth=int(data["mapped_depth"]), threshold=float(data["threshold"])) if question_map else None
        return cls(**arrays(data["trees"]), baseline=float(data["baseline"]), depth=int(data["depth"]),
                   threshold=float(data["threshold"]), doubt_threshold=float(data["doubt_threshold"]),
                   fitted_on=data["fitted_on"], question_map=question_map,
                   mapped=mapped, mapped_threshold=data.get("mapped_threshold"),
                   mapped_doubt_threshold=data.get("mapped_doubt_threshold"))

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


@dataclass(frozen=True, eq=False)
class QuestionMap:
    """A low-rank map of the question's vector, q -> q + U Vᵀ q, fitted on dev questions about some
    documents so that their answering sentences outscore the rest, and used for those documents only.

    Fitted on the bundled corpus's questions, it learns which sentences of *that* text people ask about,
    not how questions are worded: scored on a text it was not fitted on, it put the right sentence first
    13-19 points less often (docs/evaluation.md). So it is used only for candidates whose document text
    is one it was fitted on (by sha256: an edited page or a user's own file is scored without it).
    Stored as plain arrays (``.npz`` without pickles)."""

    u: np.ndarray  # (dim, rank)
    v: np.ndarray  # (dim, rank)
    documents: frozenset[str]  # sha256 of the text of each document it was fitted on

    def covers(self, digests: Sequence[str]) -> np.ndarray:
        """Which of these documents (their ``text_digest``) the map was fitted on."""
        return np.array([d in self.documents for d in digests], dtype=bool)

    def mapped(self, question_vector: np.ndarray) -> np.ndarray:
        """The question's mapped vector, unit length."""
        q = np.asarray(question_vector, dtype=np.float32)
        mapped = q + self.u @ (self.v.T @ q)
        return mapped / np.linalg.norm(mapped)

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, u=self.u.astype(np.float32), v=self.v.astype(np.float32),
                 documents=np.array(sorted(self.documents), dtype="U64"))
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> QuestionMap:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls(u=arrays["u"], v=arrays["v"], documents=frozenset(str(d) for d in arrays["documents"]))

    def digest(self) -> str:
        """sha256 of the map's arrays (not of the file: a zip records when it was written), which
        relevance.json records: the trees were fitted on this map's cosines."""
        digest = hashlib.sha256(self.u.astype(np.float32).tobytes() + self.v.astype(np.float32).tobytes())
        digest.update("\n".join(sorted(self.documents)).encode())
        return digest.hexdigest()


def scored_by_map(covered: np.ndarray | None) -> bool:
    """Whether a question's candidates are scored by the map's trees, on their own thresholds: the map covers
    every one of them (``covered``: which it covers; None without a map)."""
    return covered is not None and bool(covered.all())


@lru_cache(maxsize=4096)
def text_digest(text: str) -> str:
    """sha256 of a document's text (cached: a snapshot's texts are the same objects request after request)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def relevance_scores(
    question_vector: np.ndarray, in_context: np.ndarray, alone: np.ndarray, coverage: Sequence[float],
    context: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """A question's candidates' scores, columns as ``SCORED`` (their cosines to ``question_vector`` in
    context and alone, their coverage and their context's), and each one's distance below the best."""
    scores = np.column_stack([cosines(question_vector, in_context), cosines(question_vector, alone), coverage, context])
    return scores, scores - scores.max(axis=0)


def mapped_features(
    features: np.ndarray, question_vector: np.ndarray, in_context: np.ndarray, alone: np.ndarray,
    question_map: QuestionMap,
) -> np.ndarray:
    """``features`` (rows of candidates the map covers) as the map's trees read them: the cosines to the
    mapped question, and every score's gap below the best of these rows; then ``PLAIN_UNDER_MAP``."""
    mapped = np.array(features, dtype=np.float64).reshape(-1, len(FEATURES))
    plain = mapped[:, [FEATURES.index("cosine"), FEATURES.index("bare_cosine")]]
    scores, gaps = relevance_scores(question_map.mapped(question_vector), in_context, alone,
                                    mapped[:, FEATURES.index("coverage")], mapped[:, FEATURES.index("context")])
    mapped[:, [FEATURES.index(n) for n in SCORED]] = scores
    mapped[:, [FEATURES.index(n) for n in SCORED_GAPS]] = gaps
    return np.hstack([mapped, plain, plain - plain.max(axis=0, initial=-np.inf)])


RELEVANCE_FILE = Path(str(resources.files("jiceng.qa") / "relevance.json"))
QUESTION_MAP_FILE = RELEVANCE_FILE.with_name("question_map.npz")


@cache
def bundled_model() -> RelevanceModel:
    """The model fitted on the dev questions (``relevance.json`` and ``question_map.npz`` in this package)."""
    question_map = QuestionMap.from_npz(QUESTION_MAP_FILE.read_bytes()) if QUESTION_MAP_FILE.exists() else None
    return RelevanceModel.from_json(RELEVANCE_FILE.read_text("utf-8"), question_map)


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
