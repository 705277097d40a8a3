"""Does a question map fitted on dev questions order the candidates better? The measurement behind the map
``bench.fit_relevance`` fits and the answerer uses.

    python -m bench.question_adapter [--data-dir DIR ...] [--cross-document]

A low-rank linear map of the question's vector, q -> q + U Vᵀ q (``bench.fit_relevance.fit_question_map``),
fitted so that each dev question's answering sentences outscore its other candidates; the sentence vectors
stay as ingested. With several ``--data-dir`` (the bundled corpus first, then the two source texts
ingested as a user's folder) it measures what ``bench.fit_relevance`` ships: the map fitted on the first
index's questions and used for its documents only, with trees of their own (``fit_relevance.fit_relevance``).
Two splits:

- **leave set out**: each blind set from fresh5 on is predicted by a map and relevance trees
  fitted on all other questions: new questions, same text (of a set whose test split is held out, its dev
  split alone);
- **cross document** (``--cross-document``, on the first index, best one of a few documents such as the
  two source texts): a map and trees fitted on the questions answered in one document (and the
  unanswerable ones), scored on the questions answered in the others: new text, as a user's own folder
  is to the bundled questions. The map is used either for every document (what made the answerer scope
  it) or, as the answerer does, for the fitted document only: the other is then a user's file beside
  the bundled ones, its candidates on plain cosines competing with mapped ones.

For each, the share of answerable questions whose top candidate covers a gold string, by the cosine alone
and by the trees (no abstention), without the map and with it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.fit_relevance import _NO_TREES, Asked, ask_all, dev_items, document_digests, fit_relevance
from jiceng.evals.goldset import blind_set_names
from jiceng.qa.pipeline import build_pipeline
from jiceng.qa.relevance import FEATURES, RelevanceModel, text_digest
from jiceng.settings import Settings

LEFT_OUT = blind_set_names()[:-4]  # fresh5 and newer, each left out in turn (fresh to fresh4 always fitted on)
COSINE = FEATURES.index("cosine")


def answer_document(question: Asked) -> str | None:
    """The document of the question's first right candidate (None for a near-miss)."""
    hits = np.flatnonzero(question.right)
    return question.doc_ids[hits[0]] if len(hits) else None


def top_right(model: RelevanceModel, test: Sequence[Asked]) -> tuple[float, float]:
    """Share of ``test``'s answerable questions whose top candidate is right: by cosine (the map's where it
    covers the candidate's document: two scales in one argmax when it covers some only) and by ``model``
    (no abstention)."""
    answerable = [q for q in test if q.answerable]
    by_cosine = by_trees = 0
    for q in answerable:
        if len(q.right):
            covered = q.covered_by(model.question_map)
            cosine = q.features[:, COSINE] if covered is None else np.where(
                covered, q.features_under(model.question_map)[:, COSINE], q.features[:, COSINE])
            by_cosine += bool(q.right[int(np.argmax(cosine))])
            by_trees += bool(q.right[int(np.argmax(q.probability(model)))])
    return by_cosine / len(answerable), by_trees / len(answerable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", action="append", type=Path,
                        help="index(es) to ask; default: the settings' data dir. The map covers the first one's documents")
    parser.add_argument("--cross-document", action="store_true", help="also fit on one document, score the others")
    args = parser.parse_args()
    settings = Settings()
    data_dirs = args.data_dir or [None]
    pipelines = [build_pipeline(settings.model_copy(update={"data_dir": d}) if d else settings, relevance=_NO_TREES)
                 for d in data_dirs]
    items = dev_items()
    per_index = [ask_all(pipeline, items) for pipeline in pipelines]
    documents = document_digests(pipelines[0])
    everything = [q for index in per_index for q in index]
    print(f"{len(items)} questions on {len(pipelines)} index(es); top candidate right (cosine, trees): "
          "without -> with the map")
    for name in LEFT_OUT:
        train, train_first = ([q for q in index if q.set_name != name] for index in (everything, per_index[0]))
        models = [fit_relevance(train, train_first, scope) for scope in (None, documents)]
        for data_dir, index in zip(data_dirs, per_index):
            test = [q for q in index if q.set_name == name]
            (cos0, trees0), (cos1, trees1) = (top_right(model, test) for model in models)
            print(f"  leave out {name:8s} {data_dir or settings.data_dir!s:28s} n={sum(q.answerable for q in test):4d}"
                  f"  cosine {cos0:.3f} -> {cos1:.3f}  trees {trees0:.3f} -> {trees1:.3f}")
    if args.cross_document:
        print("fitted on the questions answered in one document, scored on the others': top candidate right "
              "(cosine, trees) without a map, with it used for every document, with it used for its own")
        questions = per_index[0]
        unanswerable = [q for q in questions if not q.answerable]
        digest_of = {doc_id: text_digest(doc.text) for doc_id, doc in pipelines[0].snapshot.documents.items()}
        for doc in sorted({answer_document(q) for q in questions} - {None}):
            train = unanswerable + [q for q in questions if answer_document(q) == doc]
            test = [q for q in questions if answer_document(q) not in (doc, None)]
            results = [top_right(fit_relevance(train, train, scope), test)
                       for scope in (None, documents, frozenset({digest_of[doc]}))]
            print(f"  fit on {doc:40s} n={sum(q.answerable for q in test):4d}  "
                  + "  ".join(f"{label} {c:.3f} {t:.3f}" for label, (c, t) in zip(("none", "every", "own"), results)))

if __name__ == "__main__":
    main()
