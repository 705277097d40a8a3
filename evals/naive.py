"""The naive llama-index set-up jiceng is compared with: llama-index's defaults, embedding with jiceng's model.

``jiceng eval --mode naive`` builds its index this way, and the benchmark's naive baseline (bench/baselines.py,
in a source checkout) serves one built the same way, so both comparisons use one adapter.
"""

from __future__ import annotations

from collections.abc import Callable


def llama_embed_model(settings, cache_passages: bool = False, on_progress: Callable[[int], None] | None = None):
    """jiceng's own embedder behind llama-index's ``BaseEmbedding`` (llama-index defaults to OpenAI).

    The bare model, without jiceng's passage cache and query LRU: a naive pipeline has neither. Only a
    benchmark run with ``--reuse-embeddings`` (``cache_passages``) keeps the build's passage vectors in
    a cache of its own data dir, so a 100k build can be spread over sittings like jiceng's; its ingest
    is then reported warm, and questions are never cached. ``on_progress(n)`` follows passages embedded.
    """
    from llama_index.core.embeddings import BaseEmbedding

    from jiceng.ingest.embedding import get_embedder

    cached = get_embedder(settings)
    model = getattr(cached, "backend", cached)
    passages = cached if cache_passages else model

    class JicengEmbedding(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return model.embed_queries([query])[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embeddings([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            vectors = passages.embed_passages(texts).tolist()
            if on_progress:
                on_progress(len(texts))
            return vectors

    return JicengEmbedding(model_name=model.model_id)


def llama_settings_offline() -> None:
    """No LLM for llama-index: its default is OpenAI, which cannot be reached here; retrieval needs none."""
    from llama_index.core import Settings as LlamaSettings

    LlamaSettings.llm = None
