"""Fit the relevance stage's boosted trees and its abstention threshold on dev questions.

    python -m bench.fit_relevance [--set FILE ...] [--data-dir DIR ...] [--max-false-refusal 0.05] [--write]

For every dev question, each candidate sentence of the answerer's passage pool is labelled by whether it
covers a gold string (the eval's matching rule; a near-miss or off-topic question's candidates are all
wrong), and gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) learn P(right)
from the candidates' features, each question weighing the same however many candidates it has
(``fit_trees``). Without the unanswerable questions the trees learn only which candidate of a question is
best, and the best of an off-topic question (明天北京的天气怎么样) looks like any other best.

The threshold is chosen on the best candidate's probability out of fold: the questions are split in five
folds, and each fold's probabilities come from trees fitted on the other four, since trees fitted on a
question are sure of it. Among thresholds that refuse at most ``--max-false-refusal`` of the answerable
questions, the one that best separates them (near-misses refused minus answerable refused, Youden's J)
wins; thresholds within ``--tolerance`` of the best J (a dev item or two) count as equal, and the lowest of
them is taken: a refusal costs the asker the answer. Prints the threshold curve; ``--write`` stores the
model in qa/relevance.json.

By default it reads the blind sets (fresh10's dev split; all of fresh to fresh9, whose test
splits are used up), the whole regression set and the questions on whole cases; the test split of a set
still held out (``jiceng.evals.goldset.HELD_OUT``) is never read.

With several ``--data-dir``, every question is asked of each index and all their candidates are examples
together. Fitting on the bundled corpus and on the two source texts ingested as a user's own folder keeps
the trees from leaning on what only the editors' headings give (a candidate's section is part of what
its vector embeds).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from jiceng.evals.goldset import HELD_OUT, EvalItem, bundled_set_path, load_eval_set
from jiceng.evals.metrics import covered_gold
from jiceng.qa.answer import Evidence, analyse_question, candidate_sentences, score_relevance
from jiceng.qa.pipeline import Pipeline, build_pipeline
from jiceng.qa.relevance import NODE_ARRAYS, RELEVANCE_FILE, RelevanceModel, feature_rows
from jiceng.settings import Settings

DEFAULT_SETS = [bundled_set_path(name) for name in ("fresh10", "fresh9", "fresh8", "fresh7", "fresh6", "fresh5", "fresh4", "fresh3", "fresh2", "fresh", "regression", "overview")]
# Scores nothing (one tree, one leaf): the features come out of score_relevance unchanged.
_NO_TREES = RelevanceModel(**{name: np.zeros((1, 1), dtype=dtype) for name, dtype in NODE_ARRAYS},
                           baseline=0.0, depth=0, threshold=0.0)
# Fixed, not searched per fit: chosen by 5-fold cross-validation by question on the dev candidates of
# both indexes among depth 3 to 5, 100 to 300 trees and 40 or 80 candidates per leaf (first sentence
# right: 0.846 to 0.858 on the bundled corpus; these did best).
TREE_PARAMETERS = {"max_iter": 300, "max_depth": 4, "learning_rate": 0.05, "min_samples_leaf": 80,
                   "early_stopping": False, "random_state": 0}
FOLDS = 5


def candidates_of(pipeline: Pipeline, question: str):
    """The answerer's candidates for ``question`` with their features (cosine included)."""
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


def labels_of(item: EvalItem, scored: Sequence[Evidence]) -> np.ndarray:
    """Whether each candidate covers a gold string (the eval's matching rule); all wrong for a near-miss."""
    return np.array([item.answerable and bool(covered_gold(e.text, item.gold)) for e in scored], dtype=bool)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", type=Path, help="eval set(s); default: the blind sets (no held-out test split), regression, overview")
    parser.add_argument("--data-dir", action="append", type=Path,
                        help="index(es) whose candidates are examples; default: the settings' data dir")
    parser.add_argument("--max-false-refusal", type=float, default=0.05, help="share of answerable ones refused at most")
    parser.add_argument("--tolerance", type=float, default=0.005, help="J this close to the best counts as equal")
    parser.add_argument("--write", action="store_true", help="write qa/relevance.json")
    args = parser.parse_args()
    settings = Settings()
    pipelines = [build_pipeline(settings.model_copy(update={"data_dir": d}) if d else settings, relevance=_NO_TREES)
                 for d in args.data_dir or [None]]
    items = dev_items(args.set)
    # Each question's fold, the same on every index: its copies are never on both sides of a split.
    questions = sorted({(name, item.id) for name, item in items})
    order = np.random.default_rng(0).permutation(len(questions))
    fold_of = {questions[j]: i % FOLDS for i, j in enumerate(order)}
    rows = []  # (fold, features of every candidate, labels, answerable, cue ok, qualified)
    for pipeline in pipelines:
        for name, item in items:
            analysed, scored = candidates_of(pipeline, item.question)
            feats = feature_rows([e.features for e in scored])
            labels = labels_of(item, scored)
            rows.append((fold_of[name, item.id], feats, labels, item.answerable, [e.cue_ok for e in scored],
                         bool(analysed.qualifiers)))

    def groups(fold_out: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(feats, labels) for fold, feats, labels, _, _, _ in rows if len(feats) and fold != fold_out]

    examples = groups(None)
    model = fit_trees(examples)
    y = np.concatenate([labels for _, labels in examples])
    print(f"{len(y)} candidates, {int(y.sum())} positive, {len(model.feature)} trees")
    # Out of fold: the best candidate's probability (0 when the answerer abstains for its type) and
    # whether it is right, from trees that never saw the question.
    best: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
    for k in range(FOLDS):
        held = fit_trees(groups(k))
        for i, (fold, feats, labels, _, cue_ok, qualified) in enumerate(rows):
            if fold == k and len(feats):
                p = held.probability(feats)
                top = int(np.argmax(p))
                best[i] = (float(p[top]) if cue_ok[top] and not qualified else 0.0, bool(labels[top]))
    answerable = np.array([row[3] for row in rows])
    probability = np.array([p for p, _ in best])
    right = np.array([r for _, r in best])
    print("out of fold: threshold  answerable refused  near-miss refused  first sentence right")
    curve = []
    for t in np.round(np.arange(0.05, 1.0, 0.025), 3):
        fr = float(np.mean(probability[answerable] < t))
        nr = float(np.mean(probability[~answerable] < t))
        hit = float(np.mean((probability >= t) & right & answerable) / np.mean(answerable))
        curve.append((t, fr, nr))
        print(f"  {t:.3f}     {fr:.3f}              {nr:.3f}              {hit:.3f}")
    allowed = [(nr - fr, t) for t, fr, nr in curve if fr <= args.max_false_refusal] or [(0.0, 0.0)]
    best_j = max(j for j, _ in allowed)
    threshold = min(t for j, t in allowed if j >= best_j - args.tolerance)
    sets = ", ".join(p.name for p in (args.set or DEFAULT_SETS))
    data_dirs = "".join(f" --data-dir {d}" for d in args.data_dir or [])
    model = replace(model, threshold=float(threshold),
                    fitted_on=f"python -m bench.fit_relevance{data_dirs} --max-false-refusal {args.max_false_refusal} "
                              f"--tolerance {args.tolerance}; items not of split test in {sets}")
    print(f"chosen threshold {threshold} (the lowest whose near-miss minus answerable refusal is within "
          f"{args.tolerance} of the best, with the latter <= {args.max_false_refusal})")
    if args.write:
        RELEVANCE_FILE.write_text(model.to_json() + "\n", encoding="utf-8")
        print("wrote qa/relevance.json")


if __name__ == "__main__":
    main()
