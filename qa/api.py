"""The HTTP API (FastAPI; OpenAPI at /docs): /ask, /search, /documents, /healthz, plus the ask page at /
and the case library at /library/ when they are built.

Every error leaves as ``{"error": {"code", "message"}}`` with a 4xx status for bad input (FastAPI's
own validation errors included) and 503 when the index or a backend is missing; never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from jiceng.errors import JicengError
from jiceng.qa.deps import ERRORS, AppSettings, Service
from jiceng.qa.routes_admin import admin_router
from jiceng.qa.routes_feedback import feedback_router, page_config_router
from jiceng.qa.schemas import (
    AskRequest,
    AskResponse,
    DocumentOut,
    DocumentSummary,
    Health,
    SearchResponse,
)
from jiceng.qa.service import QAService
from jiceng.settings import Settings, get_settings
from jiceng.text import cilin_synonyms, function_words

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def library_dir(settings: Settings) -> Path:
    """Built case-library site served at /library/ (``jiceng site build`` writes it here)."""
    return settings.data_dir / "site"


class LaterStaticFiles(StaticFiles):
    """Static files from a folder that may not exist yet (the site can be built while the server runs):
    404 until it does, instead of Starlette's start-up error."""

    async def check_config(self) -> None:
        if Path(self.directory).is_dir():
            await super().check_config()


qa_router = APIRouter(tags=["问答 / Q&A"], responses=ERRORS)
documents_router = APIRouter(prefix="/documents", tags=["文档 / documents"], responses=ERRORS)
health_router = APIRouter(tags=["状态 / health"], responses=ERRORS)


def _json_response(content: str) -> Response:
    """JSON we serialised, sent as is. FastAPI would validate and re-encode a returned model against
    ``response_model`` (which still documents the route): 0.2–1.3 ms per /ask against 0.02 ms for this."""
    return Response(content=content, media_type="application/json")


@qa_router.post("/ask", response_model=AskResponse)
def ask(body: AskRequest, service: Service) -> Response:
    """Answer a question with verbatim citations, or abstain when the knowledge base does not say."""
    answer = service.ask(body.question, top_k=body.top_k, filters=body.filters, mode=body.mode)
    return _json_response(AskResponse.json_of(answer))


@qa_router.get("/search", response_model=SearchResponse)
def search(
    service: Service,
    q: Annotated[str, Query(description="查询 / query")],
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    kind: Annotated[list[str] | None, Query(description="文档类型 / kind: case, policy")] = None,
    region: Annotated[list[str] | None, Query(description="地区，包含即可 / region, substring match")] = None,
    path: Annotated[list[str] | None, Query(description="学习路径 / learning path")] = None,
    tag: Annotated[list[str] | None, Query(description="标签，任一即可 / tag, any")] = None,
) -> Response:
    """Ranked passages for a query (hybrid BM25 + dense retrieval), without composing an answer; the
    metadata filters are those of ``/ask`` (AND across fields, any value within one)."""
    filters = {"kind": kind, "region": region, "path": path, "tags": tag}
    passages = service.search(q, k=k, filters=filters)
    return _json_response(SearchResponse.of(passages).model_dump_json())


@documents_router.get("", response_model=list[DocumentSummary])
def list_documents(service: Service) -> list[DocumentSummary]:
    """Every indexed document with its metadata (no text)."""
    return [
        DocumentSummary(doc_id=d.doc_id, title=d.title, kind=d.kind, metadata=d.metadata)
        for d in service.documents.values()
    ]


@documents_router.get("/{doc_id}", response_model=DocumentOut)
def get_document(doc_id: str, service: Service) -> DocumentOut:
    """One document's canonical text: citations' ``start``/``end`` index into ``text``."""
    doc = service.document(doc_id)
    return DocumentOut(doc_id=doc.doc_id, title=doc.title, kind=doc.kind, text=doc.text, metadata=doc.metadata)


@health_router.get("/healthz", response_model=Health)
def healthz(service: Service, settings: AppSettings) -> Health:
    """Index loaded and its size; the LLM endpoint's state when one is configured."""
    snapshot = service.current().snapshot
    return Health(
        status="ok",
        documents=len(snapshot.documents),
        chunks=len(snapshot.chunks),
        generation=snapshot.generation,
        llm=_llm_status(settings),
    )


def _llm_status(settings: Settings) -> dict | None:
    try:
        from jiceng.qa.llm import llm_status
    except ImportError:
        return None
    return llm_status(settings)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JicengError)
    async def _jiceng_error(_: Request, exc: JicengError) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error(422, "bad_request", f"请求格式不正确：{problems}（invalid request: {problems}）")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        zh = {
            400: "请求体无法解析（需为 UTF-8 编码的 JSON 或 multipart 表单）",
            404: "没有这个地址",
            405: "不支持这种请求方法",
        }.get(exc.status_code, "请求失败")
        return _error(exc.status_code, f"http_{exc.status_code}", f"{zh}（{exc.detail}）")

    @app.exception_handler(Exception)
    async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return _error(500, "internal", f"服务器内部错误（internal error: {type(exc).__name__}）")


@contextlib.asynccontextmanager
async def _open_index_at_startup(app: FastAPI) -> AsyncIterator[None]:
    """Open the index (model, jieba dictionary, idf counts, English glossary, thesaurus, function words)
    before the first request. Without an index, or with Chroma unreachable, the server still starts:
    requests get the 503."""
    try:
        pipeline = await run_in_threadpool(app.state.service.current)
        await run_in_threadpool(pipeline.stats.glossary.warm)
        await run_in_threadpool(cilin_synonyms)
        await run_in_threadpool(function_words)
    except JicengError as exc:
        log.warning("index not opened at startup: %s", exc.message_en)
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API app; ``settings=None`` reads JICENG_* settings (what ``uvicorn --factory`` workers use)."""
    settings = settings or get_settings()
    # FastAPI with /docs and /redoc loading Swagger UI and ReDoc from this server (/static-offline-docs),
    # not from a CDN: the API docs work where the knowledge base does, offline included.
    app = FastAPIOffline(
        title="基层治理知识库 jiceng",
        description="带引文的中文问答 / cited Chinese Q&A over grassroots-governance texts.",
        version="0.1.0",
        lifespan=_open_index_at_startup,
    )
    app.state.settings = settings
    app.state.service = QAService(settings)
    _install_error_handlers(app)
    for router in (qa_router, documents_router, health_router, admin_router, feedback_router, page_config_router):
        app.include_router(router)
    if settings.server.cors_origins:  # off unless origins are configured: the ask page is same-origin
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key"],
        )
    app.mount("/library", LaterStaticFiles(directory=library_dir(settings), html=True, check_dir=False), name="library")
    # Mounted last: API routes above win over files of the ask page.
    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="ask-page")
    return app
