"""A small deterministic embedder for tests whose subject is not the model (store, generations, ingest
bookkeeping): no weights, no threads, the same vector for the same text in every process."""

from __future__ import annotations

import zlib

import numpy as np

from jiceng.ingest.embedding import register_backend
from jiceng.settings import Settings

HASHING = "test-hashing"


@register_backend(HASHING)
class HashingEmbedder:
    """Characters and character pairs hashed into 64 dimensions, L2-normalised: texts sharing words get
    close vectors, so dense search still ranks by overlap, but nothing here is a language model."""

    dim = 64
    model_id = "test-hashing/char-bigrams-64"

    def __init__(self, settings: Settings | None = None) -> None:
        """Takes the settings every backend factory is given; none of them changes this embedder."""

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for gram in [*text, *(text[i : i + 2] for i in range(len(text) - 1))]:
                vectors[row, zlib.crc32(gram.encode()) % self.dim] += 1.0
        vectors[:, 0] += 1e-6  # an empty text still has a direction
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts))
