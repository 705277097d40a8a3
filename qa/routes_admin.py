"""Write endpoints: upload a document, delete one, re-index. Disabled unless ``JICENG_API_KEY`` is set.

Every write runs under one lock file (``jiceng.ingest.uploads.write_lock``), so two uploads (or two server
workers) never interleave storing a file and ingesting it; a write that finds the lock taken gets 409 at
once instead of queueing behind a minute-long ingest. The ingest itself also takes ``ingest.lock``, so a
``jiceng ingest`` run from the shell makes writes answer 409 too. Readers are never blocked: /ask keeps
answering from the current generation until the pointer switches.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jiceng.errors import InputError, NotFoundError, Refused
from jiceng.ingest import store
from jiceng.ingest.loaders import supported_suffixes
from jiceng.ingest.pipeline import IngestReport, ingest_paths, remove_documents
from jiceng.ingest.uploads import (
    check_content,
    client_name,
    forget_upload,
    safe_filename,
    store_and_ingest,
    uploads_dir,
    write_lock,
)
from jiceng.qa.deps import WRITE_ERRORS, AppSettings, require_api_key
from jiceng.qa.schemas import DocumentSummary

# Room for the multipart envelope (boundaries, part headers) around a file of the maximum size.
_ENVELOPE_BYTES = 64 * 1024
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


class UploadResult(BaseModel):
    document: DocumentSummary
    report: IngestReport
    stored_as: str  # the file's name under uploads/ (another client name may have taken the plain one)


admin_router = APIRouter(
    tags=["写入 / writes (X-API-Key)"], responses=WRITE_ERRORS, dependencies=[Depends(require_api_key)]
)


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": " ".join(supported_suffixes())}
                    },
                }
            }
        },
    }
}


@admin_router.post("/documents", status_code=201, response_model=UploadResult, openapi_extra=UPLOAD_BODY)
async def upload_document(request: Request, settings: AppSettings) -> UploadResult:
    """上传一个文件并导入（同名文件覆盖旧版本）/ Upload one file (md, txt, docx, pdf, html) and ingest it;
    a file of the same name replaces its earlier version; a different name that makes the same safe name
    is kept beside it (``stored_as``). Needs ``X-API-Key``."""
    # The body is parsed here, after the key check, and only when its declared size is within the
    # limit: an anonymous or oversized upload is refused before a byte of it is spooled to disk.
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise Refused(
            411, "length_required", "上传需要 Content-Length 请求头", "uploads need a Content-Length header"
        )
    if int(length) > settings.server.max_upload_mb * 1024 * 1024 + _ENVELOPE_BYTES:
        raise Refused(
            413,
            "file_too_large",
            f"上传内容过大（上限 {settings.server.max_upload_mb} MB）",
            f"upload too large (limit {settings.server.max_upload_mb} MB)",
        )
    # A malformed multipart body becomes Starlette's 400, which the app's handler words like any other.
    async with request.form(max_files=1, max_fields=1) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Refused(400, "missing_file", "缺少文件字段 file", "the multipart field 'file' is missing")
        filename = safe_filename(upload.filename)
        data = await upload.read()
    check_content(filename, data, settings)
    stored = await run_in_threadpool(store_and_ingest, filename, client_name(upload.filename), data, settings)
    doc = stored.document
    summary = DocumentSummary(doc_id=doc.doc_id, title=doc.title, kind=doc.kind, metadata=doc.metadata)
    return UploadResult(document=summary, report=stored.report, stored_as=stored.stored_as)


@admin_router.delete("/documents/{doc_id}", response_model=IngestReport)
def delete_document(
    doc_id: Annotated[str, PathParam(pattern=DOC_ID_PATTERN, description="文档编号 / document id")],
    settings: AppSettings,
) -> IngestReport:
    """从索引删除一篇文档（上传的文件一并删除）/ Remove a document from the index (and its uploaded file)."""
    with write_lock(settings):
        current = store.read_current(settings)
        doc = current.documents.get(doc_id) if current else None
        if doc is None:
            raise NotFoundError(f"没有编号为 {doc_id} 的文档", f"no document with id {doc_id!r}")
        report = remove_documents([doc_id], settings, progress=False)
        forget_upload(doc.source_path, settings)  # only a file we stored ourselves; a corpus file stays
    return report


@admin_router.post("/reindex", response_model=IngestReport)
def reindex(settings: AppSettings) -> IngestReport:
    """重新读取语料目录和已上传文件，建立新索引版本 / Re-read the corpus folder and the uploads into a new
    generation. Nothing is pruned: documents whose files are gone stay until deleted explicitly."""
    paths = [p for p in (settings.corpus_dir, uploads_dir(settings)) if p.is_dir()]
    if not paths:
        raise InputError(
            f"没有可重建的内容：语料目录 {settings.corpus_dir} 不存在，也没有上传的文件",
            f"nothing to reindex: corpus folder {settings.corpus_dir} does not exist and nothing was uploaded",
            code="nothing_to_index",
        )
    with write_lock(settings):
        return ingest_paths(paths, settings, progress=False)
