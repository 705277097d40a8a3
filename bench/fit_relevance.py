"""Fit the relevance stage's logistic model and its abstention threshold on dev questions.

    python -m bench.fit_relevance [--set FILE ...] [--max-false-refusal 0.05] [--write]

For every answerable dev question, each candidate sentence of the answerer's passage pool is an
example, labelled by whether it covers a gold string (the eval's matching rule). The threshold is
then chosen on the best candidate's probability: among those that refuse at most ``--max-false-refusal``
of the answerable questions, the one that best separates them (near-misses refused minus answerable
refused, Youden's J; the lowest of equals). Between the two, ``rank_gap`` is chosen: how much more the
ordering of a question's candidates weighs their closeness to the question than the probability does
(the least value whose share of questions with a gold candidate first is within ``RANK_GAP_TOLERANCE``
of the best). ``--only-rank-gap`` fits that alone and keeps the stored weights and threshold. Prints
the curves; ``--write`` stores the model in qa/relevance.json.
By default it reads the blind sets (the dev splits of fresh6 and fresh7; all of fresh to fresh5, whose test splits are used up), the whole
regression set and the questions on whole cases; the test split of a set still held out
(``jiceng.evals.goldset.HELD_OUT``) is never read.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from jiceng.evals.goldset import HELD_OUT, bundled_set_path, load_eval_set
from jiceng.evals.metrics import covered_gold
from jiceng.qa.answer import analyse_question, candidate_sentences, closeness_counts, score_relevance
from jiceng.qa.pipeline import Pipeline, build_pipeline
from jiceng.qa.relevance import FEATURES, RELEVANCE_FILE, RelevanceModel, feature_rows
from jiceng.settings import Settings

DEFAULT_SETS = [bundled_set_path(name) for name in ("fresh7", "fresh6", "fresh5", "fresh4", "fresh3", "fresh2", "fresh", "regression", "overview")]
# Scores only the cosine: the features come out of score_relevance unchanged by the weights.
_COSINE_ONLY = RelevanceModel(weights=(0.0,) * len(FEATURES), bias=0.0, mean=(0.0,) * len(FEATURES),
                              scale=(1.0,) * len(FEATURES), threshold=0.0)


def candidates_of(pipeline: Pipeline, question: str):
    """The answerer's candidates for ``question`` with their features (cosine included)."""
    settings = pipeline.settings
    pool = pipeline.retriever.retrieve(question, max(settings.retrieval.top_k, settings.answer.pool))
    analysed = analyse_question(question, pipeline.stats)
    scored = score_relevance(
        candidate_sentences(analysed, pool, pipeline.snapshot.documents), pipeline.question_vector(question),
        pipeline.sentence_vectors, pipeline.snapshot.documents, _COSINE_ONLY,
    )
    return analysed, scored


def first_is_gold(model: RelevanceModel, questions) -> float:
    """Share of answerable questions whose first candidate in ``model``'s order covers a gold string."""
    hits = [labels[int(np.argmax(model.ranking(feats, counts)))] for feats, labels, counts in questions if len(feats)]
    return float(np.sum(hits)) / len(questions)


# Shares of gold-first questions this close to the best count as equal: the least rank_gap of them is kept
# (the smallest change that does as well; the curve is flat near its top).
RANK_GAP_TOLERANCE = 0.005


def fit_rank_gap(model: RelevanceModel, questions, grid=np.arange(0.0, 6.01, 0.25)) -> RelevanceModel:
    """The model with the least ``rank_gap`` (of ``grid``) that puts a gold candidate first in as many
    answerable questions as the best one, within ``RANK_GAP_TOLERANCE``; its probability, and so
    abstention, is unchanged."""
    shares = [first_is_gold(replace(model, rank_gap=float(g)), questions) for g in grid]
    print("rank_gap  gold first: " + ", ".join(f"{g:.2f} {v:.3f}" for g, v in zip(grid, shares)))
    chosen = next(i for i, v in enumerate(shares) if v >= max(shares) - RANK_GAP_TOLERANCE)
    print(f"rank_gap {grid[chosen]:.2f}: gold first in {shares[chosen]:.3f} of answerable questions (0: {shares[0]:.3f})")
    return replace(model, rank_gap=float(grid[chosen]))


def fit_model(questions, best_rows, args, sets: str) -> RelevanceModel:
    """The logistic model on every candidate, its ``rank_gap``, then its threshold on the best candidates."""
    x = np.concatenate([feats for feats, _, _ in questions])
    y = np.concatenate([labels for _, labels, _ in questions])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    fit = LogisticRegression(C=args.C, class_weight="balanced", max_iter=1000).fit((x - mean) / scale, y)
    model = RelevanceModel(
        weights=tuple(float(w) for w in fit.coef_[0]), bias=float(fit.intercept_[0]),
        mean=tuple(float(m) for m in mean), scale=tuple(float(s) for s in scale), threshold=0.0,
    )
    print(f"{len(y)} candidates, {int(y.sum())} positive; weights:")
    for name, weight in zip(FEATURES, model.weights):
        print(f"  {name:9s} {weight:+.3f}")
    model = fit_rank_gap(model, questions)
    # As the answerer abstains: the best probability, unless the first in order has the wrong answer type.
    best = []
    for feats, counts, cue_ok, answerable, qualified in best_rows:
        first = int(np.argmax(model.ranking(feats, counts))) if len(feats) else -1
        ok = first >= 0 and cue_ok[first] and not qualified
        best.append((float(model.probability(feats).max()) if ok else 0.0, answerable))
    print("threshold  answerable refused  near-miss refused")
    curve = []
    for t in np.round(np.arange(0.05, 1.0, 0.025), 3):
        refused = [p < t for p, _ in best]
        fr = np.mean([r for r, a in zip(refused, [a for _, a in best]) if a])
        nr = np.mean([r for r, a in zip(refused, [a for _, a in best]) if not a])
        curve.append((t, fr, nr))
        print(f"  {t:.3f}     {fr:.3f}              {nr:.3f}")
    allowed = [(nr - fr, -t, t) for t, fr, nr in curve if fr <= args.max_false_refusal] or [(0.0, 0.0, 0.0)]
    threshold = max(allowed)[2]
    print(f"chosen threshold {threshold} (best near-miss minus answerable refusal with the latter <= "
          f"{args.max_false_refusal})")
    return replace(model, threshold=float(threshold),
                   fitted_on=f"python -m bench.fit_relevance --max-false-refusal {args.max_false_refusal} --C {args.C}; "
                             f"items not of split test in {sets}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", type=Path, help="eval set(s); default: the blind sets (no held-out test split), regression, overview")
    parser.add_argument("--max-false-refusal", type=float, default=0.05, help="share of answerable ones refused at most")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--only-rank-gap", action="store_true",
                        help="keep qa/relevance.json's weights and threshold; fit only its rank_gap")
    parser.add_argument("--write", action="store_true", help="write qa/relevance.json")
    args = parser.parse_args()
    pipeline = build_pipeline(Settings(), relevance=_COSINE_ONLY)
    questions = []  # (features, labels, closeness_counts) of each answerable question's candidates
    best_rows = []  # (features, closeness_counts, cue ok of every candidate; answerable; qualified) of every question
    for path in args.set or DEFAULT_SETS:
        held_out = path.stem in HELD_OUT
        for item in load_eval_set(path):
            if held_out and item.split == "test":
                continue
            analysed, scored = candidates_of(pipeline, item.question)
            feats = feature_rows([e.features for e in scored])
            if item.answerable:
                labels = np.array([bool(covered_gold(e.text, item.gold)) for e in scored])
                questions.append((feats, labels, closeness_counts(scored)))
            best_rows.append((feats, closeness_counts(scored), [e.cue_ok for e in scored], item.answerable,
                              bool(analysed.qualifiers)))
    sets = ", ".join(p.name for p in (args.set or DEFAULT_SETS))
    if args.only_rank_gap:
        fitted = RelevanceModel.from_json(RELEVANCE_FILE.read_text("utf-8"))
        model = replace(fit_rank_gap(fitted, questions), fitted_on=f"{fitted.fitted_on.split(' | ')[0]} | rank_gap: "
                        f"python -m bench.fit_relevance --only-rank-gap; items not of split test in {sets}")
    else:
        model = fit_model(questions, best_rows, args, sets)
    if args.write:
        RELEVANCE_FILE.write_text(model.to_json() + "\n", encoding="utf-8")
        print("wrote qa/relevance.json")


if __name__ == "__main__":
    main()
