"""Fit the relevance stage's logistic model and its abstention threshold on dev questions.

    python -m bench.fit_relevance [--set FILE ...] [--data-dir DIR ...] [--max-false-refusal 0.05] [--write]

For every answerable dev question, each candidate sentence of the answerer's passage pool is labelled
by whether it covers a gold string (the eval's matching rule); the weights order each question's
candidates, right above wrong (``fit_ranker``). The threshold is
then chosen on the best candidate's probability: among those that refuse at most ``--max-false-refusal``
of the answerable questions, the one that best separates them (near-misses refused minus answerable
refused, Youden's J). Thresholds within ``--tolerance`` of the best J (a dev item or two) count as equal,
and the lowest of them is taken: a refusal costs the asker the answer. Prints the threshold curve; ``--write`` stores the model in
qa/relevance.json.
By default it reads the blind sets (fresh10's and fresh9's dev splits; all of fresh to fresh8, whose test splits are used up), the whole
regression set and the questions on whole cases; the test split of a set still held out
(``jiceng.evals.goldset.HELD_OUT``) is never read.

With several ``--data-dir``, every question is asked of each index and all their candidates are examples
together. Fitting on the bundled corpus and on the two source texts ingested as a user's own folder keeps
the weights from leaning on what only the editors' headings give (a candidate's section is part of what
its vector embeds).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from jiceng.evals.goldset import HELD_OUT, bundled_set_path, load_eval_set
from jiceng.evals.metrics import covered_gold
from jiceng.qa.answer import analyse_question, candidate_sentences, score_relevance
from jiceng.qa.pipeline import Pipeline, build_pipeline
from jiceng.qa.relevance import FEATURES, QUESTION_FEATURES, RELEVANCE_FILE, RelevanceModel, feature_rows
from jiceng.settings import Settings

DEFAULT_SETS = [bundled_set_path(name) for name in ("fresh10", "fresh9", "fresh8", "fresh7", "fresh6", "fresh5", "fresh4", "fresh3", "fresh2", "fresh", "regression", "overview")]
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


def fit_ranker(
    groups: list[tuple[np.ndarray, np.ndarray]], c: float, question_columns: Sequence[int] = ()
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Weights, bias, mean and scale of a logistic model over standardised features, from each answerable
    question's candidates (features, covers-a-gold labels); ``question_columns`` are features of the
    question, the same for all its candidates.

    The answerer quotes a question's best candidate, so the weights are fitted to order candidates
    within a question (pairwise: every right candidate against every wrong one of the same question, each
    question weighing the same), not to tell right from wrong across questions; a candidate-by-candidate
    fit lets the many easy wrong candidates of all questions set the weights. The score is then turned
    into a probability by one scale and bias (Platt), plus a weight on each of ``QUESTION_FEATURES``
    (the same for all of a question's candidates, so they keep the order), which gives the abstention
    threshold something calibrated to read."""
    x = np.concatenate([feats for feats, _ in groups])
    y = np.concatenate([labels for _, labels in groups])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    pairs, pair_weights = [], []
    for feats, labels in groups:
        z = (feats - mean) / scale
        right, wrong = z[labels], z[~labels]
        if len(right) and len(wrong):
            differences = (right[:, None, :] - wrong[None, :, :]).reshape(-1, z.shape[1])
            pairs.append(differences)
            pair_weights.append(np.full(len(differences), 1.0 / len(differences)))
    d, w = np.concatenate(pairs), np.concatenate(pair_weights)
    w *= len(w) / w.sum()  # weights average 1, so C regularises as for that many pairs
    ranker = LogisticRegression(C=c, fit_intercept=False, max_iter=1000).fit(
        np.concatenate([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=np.r_[w, w]
    )
    direction = ranker.coef_[0]
    z = (x - mean) / scale
    columns = list(question_columns)
    platt = LogisticRegression(class_weight="balanced").fit(np.column_stack([z @ direction, z[:, columns]]), y)
    weights = direction * platt.coef_[0][0]
    weights[columns] += platt.coef_[0][1:]
    return weights, float(platt.intercept_[0]), mean, scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", type=Path, help="eval set(s); default: the blind sets (no held-out test split), regression, overview")
    parser.add_argument("--data-dir", action="append", type=Path,
                        help="index(es) whose candidates are examples; default: the settings' data dir")
    parser.add_argument("--max-false-refusal", type=float, default=0.05, help="share of answerable ones refused at most")
    parser.add_argument("--tolerance", type=float, default=0.005, help="J this close to the best counts as equal")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--write", action="store_true", help="write qa/relevance.json")
    args = parser.parse_args()
    settings = Settings()
    pipelines = [build_pipeline(settings.model_copy(update={"data_dir": d}) if d else settings, relevance=_COSINE_ONLY)
                 for d in args.data_dir or [None]]
    items = [item for path in args.set or DEFAULT_SETS for item in load_eval_set(path)
             if not (path.stem in HELD_OUT and item.split == "test")]
    groups, best_rows = [], []  # best_rows: (features of every candidate, answerable, cue ok, qualified)
    for pipeline in pipelines:
        for item in items:
            analysed, scored = candidates_of(pipeline, item.question)
            feats = feature_rows([e.features for e in scored])
            if item.answerable and len(feats):
                groups.append((feats, np.array([bool(covered_gold(e.text, item.gold)) for e in scored])))
            best_rows.append((feats, item.answerable, [e.cue_ok for e in scored], bool(analysed.qualifiers)))
    weights, bias, mean, scale = fit_ranker(groups, args.C, [FEATURES.index(f) for f in QUESTION_FEATURES])
    model = RelevanceModel(
        weights=tuple(float(w) for w in weights), bias=bias,
        mean=tuple(float(m) for m in mean), scale=tuple(float(s) for s in scale), threshold=0.0,
    )
    y = np.concatenate([labels for _, labels in groups])
    print(f"{len(y)} candidates, {int(y.sum())} positive; weights:")
    for name, weight in zip(FEATURES, model.weights):
        print(f"  {name:9s} {weight:+.3f}")
    # The best candidate's probability as the answerer sees it (it abstains when that one's type is wrong).
    best = []
    for feats, answerable, cue_ok, qualified in best_rows:
        p = model.probability(feats) if len(feats) else np.zeros(0)
        top = int(np.argmax(p)) if len(p) else -1
        best.append((float(p[top]) if top >= 0 and cue_ok[top] and not qualified else 0.0, answerable))
    print("threshold  answerable refused  near-miss refused")
    curve = []
    for t in np.round(np.arange(0.05, 1.0, 0.025), 3):
        refused = [p < t for p, _ in best]
        fr = np.mean([r for r, a in zip(refused, [a for _, a in best]) if a])
        nr = np.mean([r for r, a in zip(refused, [a for _, a in best]) if not a])
        curve.append((t, fr, nr))
        print(f"  {t:.3f}     {fr:.3f}              {nr:.3f}")
    allowed = [(nr - fr, t) for t, fr, nr in curve if fr <= args.max_false_refusal] or [(0.0, 0.0)]
    best_j = max(j for j, _ in allowed)
    threshold = min(t for j, t in allowed if j >= best_j - args.tolerance)
    sets = ", ".join(p.name for p in (args.set or DEFAULT_SETS))
    data_dirs = "".join(f" --data-dir {d}" for d in args.data_dir or [])
    model = replace(model, threshold=float(threshold),
                    fitted_on=f"python -m bench.fit_relevance{data_dirs} --max-false-refusal {args.max_false_refusal} "
                              f"--tolerance {args.tolerance} --C {args.C}; items not of split test in {sets}")
    print(f"chosen threshold {threshold} (the lowest whose near-miss minus answerable refusal is within "
          f"{args.tolerance} of the best, with the latter <= {args.max_false_refusal})")
    if args.write:
        RELEVANCE_FILE.write_text(model.to_json() + "\n", encoding="utf-8")
        print("wrote qa/relevance.json")


if __name__ == "__main__":
    main()
