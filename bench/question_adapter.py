"""Would a question adapter fitted on dev questions order the candidates better? A measurement; not shipped.

    python -m bench.question_adapter [--data-dir DIR] [--cross-document] [--rank 32] [--steps 200]

A low-rank linear map of the question's vector, q -> q + U Vᵀ q (starting as the identity), is fitted with
PyTorch so that each dev question's answering sentences outscore its other candidates: a softmax over the
question's candidates, each scored by its cosine to the mapped question (the sentence's vectors in context
and alone, averaged), at temperature 0.02. The sentence vectors stay as ingested. Two splits:

- **leave set out**: each blind set (fresh5 to fresh9, and fresh10's dev split) is predicted by an adapter
  and relevance trees (``fit_relevance.fit_trees``) fitted on all other questions: new questions, same text;
- **cross document** (``--cross-document``, for an index of a few documents such as the two source
  texts): an adapter and trees fitted on the questions answered in one document (and the unanswerable
  ones), scored on the questions answered in the others: new text, as a user's own folder is to the
  bundled questions.

For each, the share of answerable questions whose top candidate covers a gold string, by the cosine alone
and by the trees (no abstention), without the adapter and with it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.fit_relevance import _NO_TREES, candidates_of, dev_items, fit_trees, labels_of
from jiceng.qa.answer import candidate_vectors
from jiceng.qa.pipeline import build_pipeline
from jiceng.qa.relevance import FEATURES, feature_rows
from jiceng.settings import Settings

LEFT_OUT = ("fresh10", "fresh9", "fresh8", "fresh7", "fresh6", "fresh5")
TEMPERATURE = 0.02
# The cosine columns score_relevance fills, which the adapter changes: (score, its gap below the best).
_COSINE_COLUMNS = ((FEATURES.index("cosine"), FEATURES.index("cosine_gap")),
                   (FEATURES.index("bare_cosine"), FEATURES.index("bare_gap")))


@dataclass
class Question:
    """One dev question asked of the index: its vector, its candidates' features, vectors and labels."""

    set_name: str
    answerable: bool
    vector: np.ndarray  # (dim,)
    features: np.ndarray  # (candidates, features)
    in_context: np.ndarray  # (candidates, dim)
    alone: np.ndarray  # (candidates, dim)
    right: np.ndarray  # (candidates,) bool
    documents: tuple[str, ...]  # each candidate's document

    @property
    def answer_document(self) -> str | None:
        hits = np.flatnonzero(self.right)
        return self.documents[hits[0]] if len(hits) else None


def gather(data_dir: Path | None) -> list[Question]:
    """Every non-held-out dev question's candidates on the index at ``data_dir``."""
    settings = Settings()
    pipeline = build_pipeline(settings.model_copy(update={"data_dir": data_dir}) if data_dir else settings,
                              relevance=_NO_TREES)
    questions = []
    for name, item in dev_items():
        _, scored = candidates_of(pipeline, item.question)
        if scored:
            in_context, alone = candidate_vectors(scored, pipeline.sentence_vectors, pipeline.snapshot.documents)
            questions.append(Question(
                name, item.answerable, np.asarray(pipeline.question_vector(item.question)),
                feature_rows([e.features for e in scored]), np.asarray(in_context), np.asarray(alone),
                labels_of(item, scored), tuple(e.span.doc_id for e in scored)))
    return questions


def fit_adapter(questions: Sequence[Question], rank: int, steps: int) -> np.ndarray:
    """The map's matrix U Vᵀ, fitted on the answerable questions with a right and a wrong candidate."""
    import torch  # only this measurement trains anything with it

    usable = [q for q in questions if q.right.any() and not q.right.all()]
    dim, width = len(usable[0].vector), max(len(q.right) for q in usable)
    candidates = torch.zeros(len(usable), width, dim)
    right = torch.zeros(len(usable), width, dtype=torch.bool)
    present = torch.zeros(len(usable), width, dtype=torch.bool)
    for i, q in enumerate(usable):
        n = len(q.right)
        candidates[i, :n] = torch.tensor((q.in_context + q.alone) / 2, dtype=torch.float32)
        right[i, :n], present[i, :n] = torch.tensor(q.right), True
    asked = torch.tensor(np.stack([q.vector for q in usable]), dtype=torch.float32)
    torch.manual_seed(0)
    u = torch.nn.Parameter(torch.zeros(dim, rank))
    v = torch.nn.Parameter(torch.randn(dim, rank) * 0.01)
    optimiser = torch.optim.Adam([u, v], lr=1e-3)
    never = torch.tensor(-1e9)
    for _ in range(steps):
        mapped = asked + (asked @ v) @ u.T
        mapped = mapped / mapped.norm(dim=1, keepdim=True)
        scores = torch.einsum("qcd,qd->qc", candidates, mapped) / TEMPERATURE
        loss = (torch.logsumexp(torch.where(present, scores, never), 1)
                - torch.logsumexp(torch.where(right, scores, never), 1)).mean() + 1e-3 * ((u @ v.T) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return (u @ v.T).detach().numpy()


def adapted_features(question: Question, matrix: np.ndarray | None) -> np.ndarray:
    """The question's features with the cosine columns recomputed for the mapped question."""
    if matrix is None:
        return question.features
    mapped = question.vector + matrix @ question.vector
    mapped /= np.linalg.norm(mapped)
    features = question.features.copy()
    for (score, gap), vectors in zip(_COSINE_COLUMNS, (question.in_context, question.alone)):
        features[:, score] = vectors @ mapped
        features[:, gap] = features[:, score] - features[:, score].max()
    return features


def top_right(train: Sequence[Question], test: Sequence[Question], matrix: np.ndarray | None) -> tuple[float, float]:
    """Share of ``test``'s answerable questions whose top candidate is right: by cosine, by trees fitted on ``train``."""
    trees = fit_trees([(adapted_features(q, matrix), q.right) for q in train])
    answerable = [q for q in test if q.answerable]
    by_cosine = by_trees = 0
    for q in answerable:
        features = adapted_features(q, matrix)
        by_cosine += bool(q.right[int(np.argmax(features[:, FEATURES.index("cosine")]))])
        by_trees += bool(q.right[int(np.argmax(trees.probability(features)))])
    return by_cosine / len(answerable), by_trees / len(answerable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="the index to ask; default: the settings' data dir")
    parser.add_argument("--cross-document", action="store_true", help="also fit on one document, score the others")
    parser.add_argument("--rank", type=int, default=32, help="rank of the adapter's matrix")
    parser.add_argument("--steps", type=int, default=200, help="full-batch Adam steps")
    args = parser.parse_args()
    questions = gather(args.data_dir)
    print(f"{len(questions)} questions; top candidate right (cosine, trees): without -> with the adapter")
    splits = [(f"leave out {name}", [q for q in questions if q.set_name != name],
               [q for q in questions if q.set_name == name]) for name in LEFT_OUT]
    if args.cross_document:
        unanswerable = [q for q in questions if not q.answerable]
        for doc in sorted({q.answer_document for q in questions} - {None}):
            splits.append((f"fit on {doc}", unanswerable + [q for q in questions if q.answer_document == doc],
                           [q for q in questions if q.answer_document not in (doc, None)]))
    for label, train, test in splits:
        matrix = fit_adapter(train, args.rank, args.steps)
        (cos0, trees0), (cos1, trees1) = top_right(train, test, None), top_right(train, test, matrix)
        print(f"  {label:45s} n={sum(q.answerable for q in test):4d}  cosine {cos0:.3f} -> {cos1:.3f}"
              f"  trees {trees0:.3f} -> {trees1:.3f}")


if __name__ == "__main__":
    main()
