"""Fit the relevance stage's logistic model and its abstention threshold on dev questions.

    python -m bench.fit_relevance [--set FILE ...] [--max-false-refusal 0.05] [--write]

For every answerable dev question, each candidate sentence of the answerer's passage pool is an
example, labelled by whether it covers a gold string (the eval's matching rule). The threshold is
then chosen on the best candidate's probability: among those that refuse at most ``--max-false-refusal``
of the answerable questions, the one that best separates them (near-misses refused minus answerable
refused, Youden's J; the lowest of equals). Prints the threshold curve; ``--write`` stores the model in
qa/relevance.json.
By default it reads the blind sets (fresh8's dev split; all of fresh to fresh7, whose test splits are used up), the whole
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
from jiceng.qa.answer import analyse_question, candidate_sentences, score_relevance
from jiceng.qa.pipeline import Pipeline, build_pipeline
from jiceng.qa.relevance import FEATURES, RELEVANCE_FILE, RelevanceModel, feature_rows
from jiceng.settings import Settings

DEFAULT_SETS = [bundled_set_path(name) for name in ("fresh8", "fresh7", "fresh6", "fresh5", "fresh4", "fresh3", "fresh2", "fresh", "regression", "overview")]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", type=Path, help="eval set(s); default: the blind sets (no held-out test split), regression, overview")
    parser.add_argument("--max-false-refusal", type=float, default=0.05, help="share of answerable ones refused at most")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--write", action="store_true", help="write qa/relevance.json")
    args = parser.parse_args()
    pipeline = build_pipeline(Settings(), relevance=_COSINE_ONLY)
    rows, labels, best_rows = [], [], []  # best_rows: (features of every candidate, answerable, cue ok)
    for path in args.set or DEFAULT_SETS:
        held_out = path.stem in HELD_OUT
        for item in load_eval_set(path):
            if held_out and item.split == "test":
                continue
            analysed, scored = candidates_of(pipeline, item.question)
            feats = feature_rows([e.features for e in scored])
            if item.answerable:
                rows.append(feats)
                labels.extend(bool(covered_gold(e.text, item.gold)) for e in scored)
            best_rows.append((feats, item.answerable, [e.cue_ok for e in scored], bool(analysed.qualifiers)))
    x, y = np.concatenate(rows), np.array(labels)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    fit = LogisticRegression(C=args.C, class_weight="balanced", max_iter=1000).fit((x - mean) / scale, y)
    model = RelevanceModel(
        weights=tuple(float(w) for w in fit.coef_[0]), bias=float(fit.intercept_[0]),
        mean=tuple(float(m) for m in mean), scale=tuple(float(s) for s in scale), threshold=0.0,
    )
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
    allowed = [(nr - fr, -t, t) for t, fr, nr in curve if fr <= args.max_false_refusal] or [(0.0, 0.0, 0.0)]
    threshold = max(allowed)[2]
    sets = ", ".join(p.name for p in (args.set or DEFAULT_SETS))
    model = replace(model, threshold=float(threshold),
                    fitted_on=f"python -m bench.fit_relevance --max-false-refusal {args.max_false_refusal} --C {args.C}; "
                              f"items not of split test in {sets}")
    print(f"chosen threshold {threshold} (best near-miss minus answerable refusal with the latter <= "
          f"{args.max_false_refusal})")
    if args.write:
        RELEVANCE_FILE.write_text(model.to_json() + "\n", encoding="utf-8")
        print("wrote qa/relevance.json")


if __name__ == "__main__":
    main()
