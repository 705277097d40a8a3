"""Fit the relevance stage's boosted trees and its abstention threshold on dev questions.

    python -m bench.fit_relevance [--set FILE ...] [--data-dir DIR ...] [--no-question-map]
                                  [--false-refusal-target 0.05] [--near-miss-target 0.85] [--write]

For every dev question, each candidate sentence of the answerer's passage pool is labelled by whether it
covers a gold string (the eval's matching rule; a near-miss or off-topic question's candidates are all
wrong), and gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) learn P(right)
from the candidates' features, each question weighing the same however many candidates it has
(``fit_trees``). Without the unanswerable questions the trees learn only which candidate of a question is
best, and the best of an off-topic question (明天北京的天气怎么样) looks like any other best.

The threshold is chosen on the best candidate's probability out of fold: the sets are dealt to five
folds (``folds_by_set``: a set is one writer's questions, and a new writer is what the answerer meets),
and each fold's probabilities come from trees fitted on the other four, since trees fitted on a question
are sure of it. Each threshold is scored by the near-misses it refuses less three times the answerable
questions it refuses, each share the mean of the sets', the off-topic questions weighing as much as all
near-misses together (``refusal_rates``): the issue's targets allow 0.15
of the near-misses through for 0.05 of the answerable questions refused, so one false refusal costs three
missed near-misses (``--false-refusal-target``, ``--near-miss-target``). Scores within ``--tolerance`` of
the best (a dev item or two) count as equal, and the lowest threshold is taken: a refusal costs the asker
the answer. (Youden's J, the rule before, weighed them the other way round: with a quarter of the
questions near-misses, a near-miss weighed three answerable ones, and each blind test split judged since
refused more answerable questions than the fit expected.) A question with signs that the corpus is silent
(``jiceng.qa.answer.doubts_the_corpus``) has a threshold of its own, chosen with the other the same way
(``choose_thresholds``). The questions whose probabilities are the question map's trees' (every candidate
of the bundled corpus, below) get a pair of their own, chosen the same way on those questions alone: the
two sets of trees give two scales. The pairs are then guarded by the off-topic check set
(evals/sets/offtopic_check.jsonl, no dev set: ``--guard-set``): it is asked of every ``--data-dir`` and
``--guard-data-dir`` index, and each scale's pair is chosen among the pairs whose fitted trees refuse at
least 0.85 of its questions on every one of them (``refuses_the_check``; of all pairs when none does). The
out-of-fold curve is flat near its best, and the lowest pair of a flat curve answered off-topic how-tos on
a small index (如何申请护照 on four pages); read by hand afterwards, the guard moved five earlier fits' pairs
up.
Prints the threshold curves, what the guard did and each set's out-of-fold rates at the stored thresholds;
``--write`` stores the model in qa/relevance.json (docs/answers.md gives the pairs and why).

By default it reads the blind sets fresh to fresh28 and dev21 to dev26 (a test split held out in
``jiceng.evals.goldset.HELD_OUT`` is never read: fresh28's dev split only; the model in qa/relevance.json
was fitted on fresh26 whole and fresh27's dev split, after fresh26's look), the whole regression
set, the questions on whole cases and the off-topic set (questions the corpus does not touch: public
services, daily life, chit-chat; without them the trees had seen few unanswerable questions that share no
topic with the corpus, and answered 38 of those 150 with some sentence).

A question map (``jiceng.qa.relevance.QuestionMap``) is fitted too, on the dev questions asked of the
first ``--data-dir`` (the bundled corpus), with a second set of trees over its cosines: together they
order that index's documents' candidates among themselves (matched by text, so a user's own documents are
scored by the first set alone). ``--no-question-map`` fits the first set only. The out-of-fold
probabilities come from a map and trees fitted without the fold.

With several ``--data-dir``, every question is asked of each index and all their candidates are examples
together. Fitting on the bundled corpus and on the two source texts ingested as a user's own folder keeps
the trees from leaning on what only the editors' headings give (a candidate's section is part of what
its vector embeds).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from jiceng.evals.goldset import (
    HELD_OUT,
    EvalItem,
    blind_set_names,
    bundled_set_path,
    fitting_set_names,
    load_eval_set,
)
from jiceng.evals.metrics import covered_gold
from jiceng.progress import progress_display, stage
from jiceng.qa.answer import (
    Evidence,
    Question,
    analyse_question,
    candidate_sentences,
    candidate_vectors,
    doubts_the_corpus,
    score_relevance,
)
from jiceng.qa.pipeline import Pipeline, build_pipeline
from jiceng.qa.relevance import (
    FEATURES,
    NODE_ARRAYS,
    QUESTION_MAP_FILE,
    RELEVANCE_FILE,
    QuestionMap,
    RelevanceModel,
    feature_rows,
    mapped_features,
    scored_by_map,
    text_digest,
)
from jiceng.settings import Settings

# Every bundled set but the off-topic checks, which choose no threshold (``refuses_the_check`` reads them).
DEFAULT_SETS = [bundled_set_path(name) for name in (*fitting_set_names(), *blind_set_names(), "regression",
                                                    "overview", "offtopic")]
# Scores nothing (one tree, one leaf): the features come out of score_relevance unchanged.
_NO_TREES = RelevanceModel(**{name: np.zeros((1, 1), dtype=dtype) for name, dtype in NODE_ARRAYS},
                           baseline=0.0, depth=0, threshold=0.0)
# Fixed, not searched per fit: chosen by 5-fold cross-validation by question on the dev candidates of
# both indexes among depth 3 to 5, 100 to 300 trees and 40 or 80 candidates per leaf (first sentence
# right: 0.846 to 0.858 on the bundled corpus; these did best).
TREE_PARAMETERS = {"max_iter": 300, "max_depth": 4, "learning_rate": 0.05, "min_samples_leaf": 80,
                   "early_stopping": False, "random_state": 0}
FOLDS = 5
THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.025), 3)
NEVER = 1.01  # a doubt threshold no probability reaches: doubted questions are always refused
OFF_TOPIC = "off-topic"  # the tag of a question the corpus does not touch (evals/sets/offtopic.jsonl)
GUARD_FLOOR = 0.85  # the share of the off-topic check a stored pair refuses on every guard index (the near-miss target)
# The question map: its rank, full-batch Adam steps and softmax temperature. Out of fold on 5,499 dev questions
# (bundled corpus, map and trees refitted without each fold), the right sentence came first for .912 of the
# answerable ones at rank 32 and 200 steps (the values bench.question_adapter first measured), .922 at 32 and
# 400, .924 at 64 and 400, .927 at 128 and 400, .928 at 256 and 400, .930 at 128 and 800 (mean of the
# sets); at 128 and 400, 119 questions gained and 54 lost against 32 and 200. At 64 and 400, temperature 0.05
# lost a point and 0.01 tied 0.02. 128 and 400: the gain levels off beyond, and at 800 the fit chose a mapped
# threshold of 0.1 (docs/evaluation.md).
RANK, STEPS, TEMPERATURE = 128, 400, 0.02


def candidates_of(pipeline: Pipeline, question: str):
    """The answerer's candidates for ``question`` with their features (plain cosines: no question map)."""
    settings = pipeline.settings
    pool = pipeline.retriever.retrieve(question, max(settings.retrieval.top_k, settings.answer.pool))
    analysed = analyse_question(question, pipeline.stats)
    scored = score_relevance(
        candidate_sentences(analysed, pool, pipeline.snapshot.documents), pipeline.question_vector(question),
        pipeline.sentence_vectors, pipeline.snapshot.documents, _NO_TREES,
    )
    return analysed, scored


def dev_items(sets: Sequence[Path] | None = None) -> list[tuple[str, EvalItem]]:
    """(set name, item) of every item of ``sets`` (default ``DEFAULT_SETS``) but a held-out test split's."""
    return [(path.stem, item) for path in sets or DEFAULT_SETS for item in load_eval_set(path)
            if not (path.stem in HELD_OUT and item.split == "test")]


def folds_by_set(items: Sequence[tuple[str, EvalItem]], folds: int = FOLDS) -> dict[tuple[str, str], int]:
    """Each question's fold, the same on every index: whole sets per fold (the largest first, into the
    fold with fewest questions). A set is one writer's questions, and its near-paraphrases of each other
    in two folds made the out-of-fold refusals those of a writer already seen: with questions dealt to
    folds at random, 0.022 of the answerable ones were refused out of fold at 0.15, and 0.058 of
    fresh10's test split, judged once.

    A set without an answerable question (the off-topic set) is dealt question by question instead. What
    it teaches, how a question outside the corpus looks, the shipped trees always learn, so trees fitted
    without it describe no model that ships. Whole in one fold, it was predicted by trees that had seen none
    of it, and when the regression set (北京冬奥会在哪一年举办 and the like) fell into the same fold, hardly an
    off-topic question at all: its median out-of-fold probability went from 0.06 to 0.44, and the fit chose
    a doubt threshold of 0.45 on it."""
    answerable_sets = {name for name, item in items if item.answerable}
    sizes = Counter(name for name, _ in items if name in answerable_sets)
    load = [0] * folds
    fold_of_set: dict[str, int] = {}
    for name, size in sorted(sizes.items(), key=lambda pair: (-pair[1], pair[0])):
        fold_of_set[name] = load.index(min(load))
        load[fold_of_set[name]] += size
    dealt: Counter[str] = Counter()
    fold_of: dict[tuple[str, str], int] = {}
    for name, item in items:
        if name in answerable_sets:
            fold_of[name, item.id] = fold_of_set[name]
        else:
            fold_of[name, item.id] = dealt[name] % folds
            dealt[name] += 1
    return fold_of


def refused_at(probability: np.ndarray, doubted: np.ndarray, threshold: float, doubt_threshold: float) -> np.ndarray:
    """Which questions the answerer refuses, by their best probability: below ``doubt_threshold`` where
    ``doubted``, else below ``threshold`` (``jiceng.qa.answer.abstains``)."""
    return probability < np.where(doubted, doubt_threshold, threshold)


def mean_over_sets(values: np.ndarray, mask: np.ndarray, sets: np.ndarray) -> float:
    """The mean, over the sets with a question in ``mask``, of each set's mean of ``values`` there."""
    shares = [values[mask & (sets == name)].mean() for name in np.unique(sets[mask])]
    return float(np.mean(shares)) if shares else 0.0


def refusal_rates(
    refused: np.ndarray, answerable: np.ndarray, sets: np.ndarray, off_topic: np.ndarray
) -> tuple[float, float]:
    """The share of answerable questions refused and of unanswerable ones refused. Each is the mean of the
    sets' shares: a set is one writer's questions, and a new writer is what the answerer meets, so the
    large regression set weighs what one blind set does (pooled, its out-of-fold refusals, the fewest of
    any set's, hid how often the newer writers' answerable questions were refused). Of the unanswerable,
    the ``off_topic`` ones (questions the corpus does not touch: 怎么办理身份证) weigh as much as all
    near-misses together: a mean over sets made them one set of sixteen, and the fit then chose a
    threshold that answered a seventh of them."""
    classes = [mask for mask in (~answerable & ~off_topic, ~answerable & off_topic) if mask.any()]
    unanswerable = [mean_over_sets(refused, mask, sets) for mask in classes]
    return mean_over_sets(refused, answerable, sets), float(np.mean(unanswerable)) if classes else 0.0


def choose_thresholds(
    probability: np.ndarray, answerable: np.ndarray, doubted: np.ndarray, sets: np.ndarray, off_topic: np.ndarray,
    cost: float, tolerance: float, allowed: Callable[[float, float], bool] = lambda threshold, doubt: True,
) -> tuple[float, float]:
    """The threshold and the doubt threshold (for ``doubted`` questions; above 1: always refused) from
    each question's best probability: the pair with the most unanswerable questions refused less ``cost``
    times the answerable ones refused (``refusal_rates``); pairs within ``tolerance`` of the best count as
    equal, and the lowest threshold, then the lowest doubt threshold, is taken: a refusal costs the asker
    the answer. Only ``allowed`` pairs are chosen from (the guard's, ``refuses_the_check``), all when none is."""
    scored = []
    for t in THRESHOLDS:
        for doubt in (*(d for d in THRESHOLDS if d >= t), NEVER):
            refused = refused_at(probability, doubted, t, doubt)
            false_refusal, near_miss_refusal = refusal_rates(refused, answerable, sets, off_topic)
            scored.append((near_miss_refusal - cost * false_refusal, float(t), float(doubt)))
    scored = [(score, t, doubt) for score, t, doubt in scored if allowed(t, doubt)] or scored
    best = max(score for score, _, _ in scored)
    return min((t, doubt) for score, t, doubt in scored if score >= best - tolerance)


def refused_per_index(
    probability: np.ndarray, doubted: np.ndarray, index: np.ndarray, threshold: float, doubt_threshold: float
) -> dict[int, float]:
    """The share of the off-topic check questions asked of each index (``index``: which one each was asked
    of) that a pair refuses, from their best probabilities."""
    refused = refused_at(probability, doubted, threshold, doubt_threshold)
    return {int(i): float(refused[index == i].mean()) for i in np.unique(index)}


def refuses_the_check(
    probability: np.ndarray, doubted: np.ndarray, index: np.ndarray, threshold: float, doubt_threshold: float,
    floor: float = GUARD_FLOOR,
) -> bool:
    """Whether a pair refuses at least ``floor`` of the off-topic check questions asked of every index."""
    shares = refused_per_index(probability, doubted, index, threshold, doubt_threshold)
    return all(share >= floor for share in shares.values())


def print_curve(
    scale: str, doubt_threshold: float, probability: np.ndarray, right: np.ndarray, answerable: np.ndarray,
    doubted: np.ndarray, sets: np.ndarray, off_topic: np.ndarray,
) -> None:
    """The out-of-fold refusal rates and first sentences right over ``THRESHOLDS``, the doubt threshold fixed."""
    print(f"out of fold, {scale} probabilities, the doubt threshold at {doubt_threshold} ({int(doubted.sum())} "
          "questions doubted):")
    print("  threshold  answerable refused  unanswerable refused  first sentence right  (mean of the sets)")
    for t in THRESHOLDS:
        refused = refused_at(probability, doubted, t, doubt_threshold)
        first = mean_over_sets(right & ~refused, answerable, sets)
        false_refusal, near_miss_refusal = refusal_rates(refused, answerable, sets, off_topic)
        print(f"  {t:.3f}     {false_refusal:.3f}              {near_miss_refusal:.3f}                {first:.3f}")


def labels_of(item: EvalItem, scored: Sequence[Evidence]) -> np.ndarray:
    """Whether each candidate covers a gold string (the eval's matching rule); all wrong for a near-miss."""
    return np.array([item.answerable and bool(covered_gold(e.text, item.gold)) for e in scored], dtype=bool)


@dataclass
class Asked:
    """One dev question asked of one index: what the fits need of it and its candidates."""

    set_name: str
    item_id: str
    answerable: bool
    question: Question  # as analysed: with the best candidate, whether the answerer abstains whatever its score
    vector: np.ndarray  # (dim,) the question's
    features: np.ndarray  # (candidates, features), plain cosines
    in_context: np.ndarray  # (candidates, dim)
    alone: np.ndarray  # (candidates, dim)
    right: np.ndarray  # (candidates,) bool: covers a gold string
    doc_ids: tuple[str, ...]  # each candidate's document
    digests: tuple[str, ...]  # each candidate's document text's sha256

    def features_under(self, question_map: QuestionMap | None) -> np.ndarray:
        """The features as the map's trees read them (``mapped_features``), every candidate taken as covered."""
        if question_map is None or not len(self.features):
            return self.features
        return mapped_features(self.features, self.vector, self.in_context, self.alone, question_map)

    def covered_by(self, question_map: QuestionMap | None) -> np.ndarray | None:
        """Which candidates are of documents ``question_map`` covers (None without a map)."""
        return question_map.covers(self.digests) if question_map else None

    def probability(self, model: RelevanceModel) -> np.ndarray:
        """Each candidate's probability under ``model``, as the answerer computes it."""
        return model.score(self.features, self.vector, self.in_context, self.alone, self.covered_by(model.question_map))


def best_candidate(q: Asked, model: RelevanceModel) -> tuple[float, bool, bool, bool]:
    """``q``'s best candidate under ``model``: its probability (0 where a qualifier makes the answerer
    abstain), whether it is right, whether the question needs the doubt threshold, and whether its
    probabilities are the map's trees' (every candidate of a document the map covers: the other pair)."""
    p = q.probability(model)
    top = int(np.argmax(p))
    return (0.0 if q.question.qualifiers else float(p[top]), bool(q.right[top]),
            doubts_the_corpus(q.question, bool(q.features[top, FEATURES.index("focus")]),
                              bool(q.features[:, FEATURES.index("cue")].any())),
            scored_by_map(q.covered_by(model.question_map)))


def ask_all(pipeline: Pipeline, items: Sequence[tuple[str, EvalItem]]) -> list[Asked]:
    """Every item asked of ``pipeline``'s index (one without candidates too: the answerer refuses it)."""
    documents = pipeline.snapshot.documents
    asked = []
    with progress_display(True) as bar:
        advance = stage(bar, f"asking {pipeline.settings.data_dir}", len(items))
        for name, item in items:
            analysed, scored = candidates_of(pipeline, item.question)
            advance(1)
            vector = pipeline.question_vector(item.question)
            in_context, alone = (candidate_vectors(scored, pipeline.sentence_vectors, documents) if scored
                                 else (np.empty((0, len(vector))),) * 2)
            asked.append(Asked(
                name, item.id, item.answerable, analysed, vector,
                feature_rows([e.features for e in scored]), np.asarray(in_context), np.asarray(alone),
                labels_of(item, scored), tuple(e.span.doc_id for e in scored),
                tuple(text_digest(documents[e.span.doc_id].text) for e in scored)))
    return asked


def document_digests(pipeline: Pipeline) -> frozenset[str]:
    """The ``text_digest`` of every document of ``pipeline``'s index: what a map fitted on it covers."""
    return frozenset(text_digest(doc.text) for doc in pipeline.snapshot.documents.values())


def fit_question_map(asked: Sequence[Asked], documents: frozenset[str], rank: int = RANK, steps: int = STEPS) -> QuestionMap:
    """A ``QuestionMap`` for ``documents`` (text digests), fitted on the answerable questions of ``asked``
    with a right and a wrong candidate: a softmax over each question's candidates (each scored by its
    cosine to the mapped question, its vectors in context and alone averaged, at ``TEMPERATURE``), so the
    right ones outscore the rest; full-batch Adam from the identity map, a small penalty on U Vᵀ."""
    import torch  # only the fit trains anything with it

    usable = [q for q in asked if q.right.any() and not q.right.all()]
    dim, width = len(usable[0].vector), max(len(q.right) for q in usable)
    candidates = torch.zeros(len(usable), width, dim)
    right = torch.zeros(len(usable), width, dtype=torch.bool)
    present = torch.zeros(len(usable), width, dtype=torch.bool)
    for i, q in enumerate(usable):
        n = len(q.right)
        candidates[i, :n] = torch.tensor((q.in_context + q.alone) / 2, dtype=torch.float32)
        right[i, :n], present[i, :n] = torch.tensor(q.right), True
    questions = torch.tensor(np.stack([q.vector for q in usable]), dtype=torch.float32)
    torch.manual_seed(0)
    u = torch.nn.Parameter(torch.zeros(dim, rank))
    v = torch.nn.Parameter(torch.randn(dim, rank) * 0.01)
    optimiser = torch.optim.Adam([u, v], lr=1e-3)
    never = torch.tensor(-1e9)
    for _ in range(steps):
        mapped = questions + (questions @ v) @ u.T
        mapped = mapped / mapped.norm(dim=1, keepdim=True)
        scores = torch.einsum("qcd,qd->qc", candidates, mapped) / TEMPERATURE
        loss = (torch.logsumexp(torch.where(present, scores, never), 1)
                - torch.logsumexp(torch.where(right, scores, never), 1)).mean() + 1e-3 * ((u @ v.T) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return QuestionMap(u=u.detach().numpy(), v=v.detach().numpy(), documents=documents)


def fit_trees(groups: Sequence[tuple[np.ndarray, np.ndarray]]) -> RelevanceModel:
    """Boosted trees of P(right) over the candidates' features, from each question's (features,
    covers-a-gold labels); a question's candidates together weigh as much as another's.

    Pointwise, with each score also given as its distance below the question's best (the ``*_gap``
    features), so the trees see both how good a candidate is and how it compares within its question."""
    x = np.concatenate([feats for feats, _ in groups])
    y = np.concatenate([labels for _, labels in groups])
    weight = np.concatenate([np.full(len(labels), 1.0 / len(labels)) for _, labels in groups])
    trees = HistGradientBoostingClassifier(**TREE_PARAMETERS).fit(x, y, sample_weight=weight * len(groups))
    return RelevanceModel.from_sklearn(trees)


def fit_relevance(
    asked: Sequence[Asked], mapped: Sequence[Asked], documents: frozenset[str] | None
) -> RelevanceModel:
    """Trees on plain cosines over all of ``asked``; unless ``documents`` is None, also a question map for
    ``documents`` fitted on ``mapped`` (the part of ``asked`` asked of the index of those documents) and
    trees on its cosines over ``mapped``, which order those documents' candidates among themselves
    (``RelevanceModel.probability``).

    Two sets of trees, not one over both kinds of cosine: one set shared between them lowered the first
    sentence on the source texts ingested as a user's folder by up to 3 points (bench.question_adapter);
    with a set of its own, a user's documents are scored exactly as without a map."""
    plain = fit_trees([(q.features, q.right) for q in asked if len(q.right)])
    if documents is None:
        return plain
    question_map = fit_question_map(mapped, documents)
    trees = fit_trees([(q.features_under(question_map), q.right) for q in mapped if len(q.right)])
    return replace(plain, question_map=question_map, mapped=trees)


def out_of_fold(
    asked: Sequence[Asked], first_index: Sequence[Asked], fold_of: dict[tuple[str, str], int],
    documents: frozenset[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each question's ``best_candidate`` out of fold, from a map and trees that never saw its fold."""
    fold = [fold_of[q.set_name, q.item_id] for q in asked]
    probability, right, doubted = np.zeros(len(asked)), np.zeros(len(asked), bool), np.zeros(len(asked), bool)
    mapped = np.zeros(len(asked), bool)
    for k in range(FOLDS):
        held = fit_relevance([q for q, f in zip(asked, fold) if f != k],
                             [q for q in first_index if fold_of[q.set_name, q.item_id] != k], documents)
        for i, q in enumerate(asked):
            if fold[i] == k and len(q.right):
                probability[i], right[i], doubted[i], mapped[i] = best_candidate(q, held)
    return probability, right, doubted, mapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", type=Path, help="eval set(s); default: the blind sets (no held-out test split), regression, overview")
    parser.add_argument("--data-dir", action="append", type=Path,
                        help="index(es) whose candidates are examples; default: the settings' data dir. "
                             "The question map covers the first one's documents")
    parser.add_argument("--no-question-map", action="store_true", help="fit the trees on plain cosines, no question map")
    parser.add_argument("--false-refusal-target", type=float, default=0.05,
                        help="share of answerable questions refused at most (the issue's target)")
    parser.add_argument("--near-miss-target", type=float, default=0.85,
                        help="share of near-misses refused at least (the issue's target)")
    parser.add_argument("--tolerance", type=float, default=0.005, help="a score this close to the best counts as equal")
    parser.add_argument("--thresholds", nargs=2, type=float, metavar=("T", "DOUBT"),
                        help="store this threshold pair instead of the chosen one (recorded in the model's "
                             "fitted_on), when evidence beyond the out-of-fold curve decides it")
    parser.add_argument("--mapped-thresholds", nargs=2, type=float, metavar=("T", "DOUBT"),
                        help="the same for the questions whose probabilities are the question map's trees'")
    parser.add_argument("--guard-set", type=Path, default=bundled_set_path("offtopic_check"),
                        help=f"off-topic questions a stored pair must refuse {GUARD_FLOOR} of on every guard index "
                             "(default: the off-topic check set)")
    parser.add_argument("--guard-data-dir", action="append", type=Path, default=[],
                        help="another index the guard asks (besides every --data-dir), e.g. a few pages of the corpus")
    parser.add_argument("--write", action="store_true", help="write qa/relevance.json (and qa/question_map.npz)")
    args = parser.parse_args()
    settings = Settings()
    pipelines = [build_pipeline(settings.model_copy(update={"data_dir": d}) if d else settings, relevance=_NO_TREES)
                 for d in args.data_dir or [None]]
    guard_pipelines = [*pipelines, *(build_pipeline(settings.model_copy(update={"data_dir": d}), relevance=_NO_TREES)
                                     for d in args.guard_data_dir)]
    items = dev_items(args.set)
    fold_of = folds_by_set(items)
    per_index = [ask_all(pipeline, items) for pipeline in pipelines]
    asked = [q for index in per_index for q in index]
    documents = None if args.no_question_map else document_digests(pipelines[0])
    model = fit_relevance(asked, per_index[0], documents)
    y = np.concatenate([q.right for q in asked])
    print(f"{len(y)} candidates, {int(y.sum())} positive, {len(model.feature)} trees, "
          f"question map: {f'rank {RANK}, {len(documents)} documents' if documents else 'none'}")
    probability, right, doubted, mapped = out_of_fold(asked, per_index[0], fold_of, documents)
    answerable = np.array([q.answerable for q in asked])
    names = np.array([q.set_name for q in asked])
    off_topic_ids = {(name, item.id) for name, item in items if OFF_TOPIC in item.tags}
    off_topic = np.array([(q.set_name, q.item_id) in off_topic_ids for q in asked])
    # The targets let through three near-misses in twenty (0.15) for one answerable question in twenty
    # refused (0.05): a false refusal costs three missed near-misses.
    cost = (1 - args.near_miss_target) / args.false_refusal_target
    # The guard's questions, asked of each guard index; one without candidates is refused at any pair and
    # has no scale: left out.
    check = [("guard", item) for item in load_eval_set(args.guard_set)]
    checked = [(i, best_candidate(q, model)) for i, pipeline in enumerate(guard_pipelines)
               for q in ask_all(pipeline, check) if len(q.right)]
    check_index = np.array([i for i, _ in checked], dtype=int)
    columns = list(zip(*(best for _, best in checked))) or [()] * 4  # a check set of no askable question guards nothing
    check_probability, _, check_doubted, check_mapped = (np.array(column) for column in columns)
    # The plain trees' probabilities and the map's trees' are two scales: a pair of thresholds each.
    pairs = {}
    refused = np.zeros(len(asked), bool)
    for scale, mine, told in (("plain", ~mapped, args.thresholds), ("mapped", mapped, args.mapped_thresholds)):
        if not mine.any():
            continue
        on_scale = check_mapped == (scale == "mapped")
        check_on_scale = (check_probability[on_scale], check_doubted[on_scale], check_index[on_scale])
        guard = partial(refuses_the_check, *check_on_scale)
        dev = (probability[mine], answerable[mine], doubted[mine], names[mine], off_topic[mine], cost, args.tolerance)
        unguarded = choose_thresholds(*dev)
        chosen = choose_thresholds(*dev, allowed=guard)
        print_curve(scale, chosen[1], probability[mine], right[mine], answerable[mine], doubted[mine], names[mine],
                    off_topic[mine])
        shares = ", ".join(f"{share:.3f} on {guard_pipelines[i].settings.data_dir}"
                           for i, share in refused_per_index(*check_on_scale, *chosen).items())
        print(f"chosen {scale} thresholds {chosen[0]} and, for doubted questions, {chosen[1]}: the lowest pair whose "
              f"unanswerable minus {cost:g} x answerable refused is within {args.tolerance} of the best of the pairs "
              f"that refuse {GUARD_FLOOR} of {args.guard_set.name} on every index ({shares}; unguarded: {unguarded[0]} "
              f"and {unguarded[1]})" + ("" if guard(*chosen) else "; no pair does, so of all pairs"))
        if told:
            chosen = tuple(told)
            print(f"stored instead, as told: {chosen[0]} and {chosen[1]}")
        pairs[scale] = chosen
        refused[mine] = refused_at(probability[mine], doubted[mine], *chosen)
    read = args.set or DEFAULT_SETS
    sets = ", ".join(p.name for p in read)
    left_out = ", ".join(sorted(p.stem for p in read if p.stem in HELD_OUT))  # a held-out set it never read leaves nothing out
    stored = "".join(f" --{flag} {told[0]:g} {told[1]:g}" for flag, told in
                     (("thresholds", args.thresholds), ("mapped-thresholds", args.mapped_thresholds)) if told)
    data_dirs = "".join(f" --data-dir {d}" for d in args.data_dir or []) + "".join(
        f" --guard-data-dir {d}" for d in args.guard_data_dir)
    plain = pairs.get("plain", pairs.get("mapped"))
    model = replace(model, threshold=float(plain[0]), doubt_threshold=float(plain[1]),
                    mapped_threshold=float(pairs["mapped"][0]) if "mapped" in pairs else None,
                    mapped_doubt_threshold=float(pairs["mapped"][1]) if "mapped" in pairs else None,
                    fitted_on=f"python -m bench.fit_relevance{data_dirs}{' --no-question-map' * args.no_question_map} --false-refusal-target {args.false_refusal_target} "
                              f"--near-miss-target {args.near_miss_target} --tolerance {args.tolerance} "
                              f"--guard-set {args.guard_set.name}{stored}; every item of {sets}" + (f" but the test splits of {left_out}" if left_out else ""))
    print("out of fold at them, per set: answerable refused, unanswerable refused, first sentence right")
    answered = ~refused
    for name in dict.fromkeys(names):
        mine = names == name
        a, u = mine & answerable, mine & ~answerable
        print(f"  {name:12s} {np.mean(~answered[a]) if a.any() else float('nan'):.3f}  "
              f"{np.mean(~answered[u]) if u.any() else float('nan'):.3f}  "
              f"{np.mean(answered[a] & right[a]) if a.any() else float('nan'):.3f}")
    if args.write:
        RELEVANCE_FILE.write_text(model.to_json() + "\n", encoding="utf-8")
        if model.question_map:
            QUESTION_MAP_FILE.write_bytes(model.question_map.to_npz())
        else:
            QUESTION_MAP_FILE.unlink(missing_ok=True)
        print(f"wrote {RELEVANCE_FILE.name}{' and ' + QUESTION_MAP_FILE.name if model.question_map else ''}")


if __name__ == "__main__":
    main()
