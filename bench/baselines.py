"""The two baselines jiceng is measured against, as a user would set them up in an afternoon.

- ``naive``: llama-index defaults — ``SimpleDirectoryReader`` -> ``VectorStoreIndex`` (default
  ``SentenceSplitter``, 1024 tokens) on a ``ChromaVectorStore``, with the same embedding model as jiceng.
- ``bm25``: bm25s over jieba tokens of ~300-character ``SentenceSplitter`` chunks, no vectors.

Both answer "extractively" with their top chunk, so their ``/ask`` costs what their retrieval costs.
A small FastAPI app serves either with the same routes and bodies as jiceng's API, so HTTP latency
compares like with like.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from jiceng.evals.naive import llama_embed_model, llama_settings_offline
from jiceng.progress import progress_display, stage
from jiceng.text import tokenize

BASELINES = ("naive", "bm25")
_COLLECTION = "naive"


class Baseline(Protocol):
    def search(self, query: str, k: int) -> list[dict[str, Any]]: ...


class NaiveLlamaIndex:
    """Default ``VectorStoreIndex`` over Chroma persisted in ``index_dir``."""

    def __init__(self, index_dir: Path, settings) -> None:
        import chromadb
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        llama_settings_offline()
        client = chromadb.PersistentClient(path=str(index_dir))
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection(_COLLECTION))
        self.index = VectorStoreIndex.from_vector_store(store, embed_model=llama_embed_model(settings))

    @staticmethod
    def build(source_dir: Path, index_dir: Path, settings, cache_passages: bool = False, progress: bool = False) -> int:
        """Ingest every file of ``source_dir``; returns the number of nodes (chunks)."""
        import chromadb
        from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        llama_settings_offline()
        documents = SimpleDirectoryReader(str(source_dir), recursive=True).load_data()
        client = chromadb.PersistentClient(path=str(index_dir))
        collection = client.get_or_create_collection(_COLLECTION)
        store = ChromaVectorStore(chroma_collection=collection)
        with progress_display(progress) as bar:
            # llama-index splits inside from_documents, so the number of nodes is known only at the end.
            on_progress = stage(bar, "naive 向量化 / embedding", None)
            VectorStoreIndex.from_documents(
                documents,
                storage_context=StorageContext.from_defaults(vector_store=store),
                embed_model=llama_embed_model(settings, cache_passages, on_progress),
            )
        return collection.count()

    def search(self, query: str, k: int) -> list[dict[str, Any]]:
        nodes = self.index.as_retriever(similarity_top_k=k).retrieve(query)
        return [{"text": n.node.get_content(), "score": float(n.score or 0.0),
                 "source": n.node.metadata.get("file_name", "")} for n in nodes]


class BM25Only:
    """bm25s over jieba search-mode tokens (``jiceng.text.tokenize``), index saved with its corpus."""

    def __init__(self, index_dir: Path) -> None:
        import bm25s

        self.retriever = bm25s.BM25.load(str(index_dir), load_corpus=True)

    @staticmethod
    def build(source_dir: Path, index_dir: Path) -> int:
        import bm25s
        from llama_index.core import SimpleDirectoryReader
        from llama_index.core.node_parser import SentenceSplitter

        # tokenizer=list makes chunk_size count characters, matching jiceng's ~300-character chunks.
        splitter = SentenceSplitter(chunk_size=300, chunk_overlap=0, tokenizer=list)
        nodes = splitter.get_nodes_from_documents(
            SimpleDirectoryReader(str(source_dir), recursive=True).load_data()
        )
        corpus = [{"text": n.get_content(), "source": n.metadata.get("file_name", "")} for n in nodes]
        retriever = bm25s.BM25()
        retriever.index([tokenize(c["text"]) for c in corpus], show_progress=False)
        retriever.save(str(index_dir), corpus=corpus, show_progress=False)
        return len(corpus)

    def search(self, query: str, k: int) -> list[dict[str, Any]]:
        tokens = tokenize(query)
        if not tokens:
            return []
        k = min(k, len(self.retriever.corpus))
        docs, scores = self.retriever.retrieve([tokens], k=k, show_progress=False)
        return [{"text": d["text"], "score": float(s), "source": d["source"]}
                for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


def load_baseline(kind: str, index_dir: Path, settings) -> Baseline:
    return NaiveLlamaIndex(index_dir, settings) if kind == "naive" else BM25Only(index_dir)


def build_baseline(
    kind: str, source_dir: Path, index_dir: Path, settings, cache_passages: bool = False, progress: bool = False
) -> int:
    if kind == "naive":
        return NaiveLlamaIndex.build(source_dir, index_dir, settings, cache_passages, progress)
    return BM25Only.build(source_dir, index_dir)


class AskBody(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    top_k: int = Field(5, ge=1, le=50)


def create_baseline_app(baseline: Baseline):
    """``GET /search`` and ``POST /ask`` over a baseline; the answer is the top chunk, as naive RAG demos do."""
    from fastapi import FastAPI, Query

    app = FastAPI(title="jiceng bench baseline")

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/search")
    def search(q: str = Query(min_length=1, max_length=500), k: int = Query(10, ge=1, le=50)) -> dict[str, Any]:
        return {"results": baseline.search(q, k)}

    @app.post("/ask")
    def ask(body: AskBody) -> dict[str, Any]:
        started = time.perf_counter()
        passages = baseline.search(body.question, body.top_k)
        return {"question": body.question, "answer": passages[0]["text"] if passages else "",
                "abstained": not passages, "passages": passages,
                "timings_ms": {"total": (time.perf_counter() - started) * 1000}}

    return app
