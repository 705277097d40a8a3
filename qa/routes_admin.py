"""Write endpoints: upload a document, delete one, re-index. Disabled unless ``JICENG_API_KEY`` is set.

Every write runs under one lock file, ``data_dir/admin.lock``, so two uploads (or two server workers)
never interleave storing a file and ingesting it; a write that finds the lock taken gets 409 at once
instead of queueing behind a minute-long ingest. The ingest itself also takes ``ingest.lock``, so a
``jiceng ingest`` run from the shell makes writes answer 409 too. Readers are never blocked: /ask keeps
answering from the current generation until the pointer switches.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import re
import unicodedata
import uuid
from pathlib import Path
from typing import Annotated

import filetype
from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jiceng.errors import BusyError, InputError, JicengError, NotFoundError
from jiceng.ingest import store
from jiceng.ingest.loaders import load_document
from jiceng.ingest.pipeline import IngestReport, ingest_paths, remove_documents
from jiceng.qa.schemas import DocumentSummary, ErrorBody
from jiceng.settings import Settings

UPLOADS_DIR = "uploads"
# Stored name -> the name the client sent, so two names that sanitise alike (楼道 花园.md, 楼道_花园.md) stay
# two files, while sending a name again replaces its own earlier version. A dot file: ingest skips it.
CLIENT_NAMES = ".client-names.json"
# The loaders' suffixes for the five formats users send (md, txt, docx, pdf, html).
UPLOAD_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".docx", ".pdf", ".html", ".htm")
# What filetype.guess must say for binary formats; text formats must be no known binary type at all.
_SNIFFED = {".pdf": "pdf", ".docx": "docx"}
# Room for the multipart envelope (boundaries, part headers) around a file of the maximum size.
_ENVELOPE_BYTES = 64 * 1024
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


class Refused(JicengError):
    """A write refused before anything changed, with the HTTP status that says why."""

    def __init__(self, status: int, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh, message_en, code=code)
        self.http_status = status


class UploadResult(BaseModel):
    document: DocumentSummary
    report: IngestReport
    stored_as: str  # the file's name under uploads/ (another client name may have taken the plain one)


def uploads_dir(settings: Settings) -> Path:
    """Where uploaded files are kept, so ``POST /reindex`` (or ``jiceng ingest``) can read them again."""
    return settings.data_dir / UPLOADS_DIR


def _settings(request: Request) -> Settings:
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(_settings)]


def require_api_key(
    settings: AppSettings,
    x_api_key: Annotated[str | None, Header(alias="X-API-Key", description="settings.api_key")] = None,
) -> None:
    """403 while no key is configured (writes are off, not open); 401 for a missing or wrong key."""
    if not settings.api_key:
        raise Refused(
            403,
            "writes_disabled",
            "写入接口未启用：设置环境变量 JICENG_API_KEY（或 jiceng.toml 中的 api_key）并重启服务后可用",
            "write endpoints are disabled: set JICENG_API_KEY (or api_key in jiceng.toml) and restart the server",
        )
    # compare_digest: the time taken does not reveal how much of a guessed key was right.
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), settings.api_key.encode()):
        raise Refused(
            401, "unauthorized", "缺少或错误的 X-API-Key 请求头", "missing or wrong X-API-Key header"
        )


ERRORS = {s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 411, 413, 415, 422, 503)}
admin_router = APIRouter(
    tags=["写入 / writes (X-API-Key)"], responses=ERRORS, dependencies=[Depends(require_api_key)]
)


def write_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """One write at a time per data dir, across threads and worker processes."""
    return store.exclusive_lock(
        settings.data_dir / "admin.lock",
        BusyError(
            "另一个写入操作（上传、删除或重建索引）正在进行，请稍后再试",
            "another write (upload, delete or reindex) is running; try again when it finishes",
        ),
    )


def client_name(name: str | None) -> str:
    """The client's file name without folders, width-folded (NFKC)."""
    return unicodedata.normalize("NFKC", name or "").replace("\\", "/").rsplit("/", 1)[-1]


def safe_filename(name: str | None) -> str:
    """The client's file name as one harmless path component: no folders, no leading dots, only
    letters (Chinese included), digits, ``_`` and ``-`` in the stem, a lower-case known suffix."""
    stem, dot, suffix = client_name(name).rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in UPLOAD_SUFFIXES:
        raise Refused(
            415,
            "unsupported_type",
            f"不支持的文件类型 {suffix or '（无后缀）'}，支持：{' '.join(UPLOAD_SUFFIXES)}",
            f"unsupported file type {suffix or '(no suffix)'}; supported: {' '.join(UPLOAD_SUFFIXES)}",
        )
    stem = re.sub(r"[^\w-]+", "_", stem).strip("._-")[:80]
    return f"{stem or 'upload'}{suffix}"


def check_content(filename: str, data: bytes, settings: Settings) -> None:
    """Size, emptiness and what the bytes really are (a renamed .exe is not a .txt)."""
    limit = settings.server.max_upload_mb * 1024 * 1024
    if len(data) > limit:
        raise Refused(
            413,
            "file_too_large",
            f"{filename}：文件过大（{len(data) / 1048576:.1f} MB，上限 {settings.server.max_upload_mb} MB）",
            f"{filename}: file too large ({len(data) / 1048576:.1f} MB; limit {settings.server.max_upload_mb} MB)",
        )
    if not data.strip():
        raise Refused(400, "empty_file", f"{filename}：文件为空", f"{filename}: the file is empty")
    suffix = Path(filename).suffix
    guess = filetype.guess(data)
    found = guess.extension if guess else None
    if found != _SNIFFED.get(suffix):
        raise Refused(
            415,
            "content_mismatch",
            f"{filename}：文件内容（{found or '文本或未知格式'}）与后缀 {suffix} 不符",
            f"{filename}: the content ({found or 'text or unknown'}) does not match the suffix {suffix}",
        )


def _client_names(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / CLIENT_NAMES).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # none yet, or unreadable: files count as sent under their names
        return {}


def _save_client_names(folder: Path, names: dict[str, str]) -> None:
    if not names:
        (folder / CLIENT_NAMES).unlink(missing_ok=True)
        return
    text = json.dumps(names, ensure_ascii=False, indent=1, sort_keys=True)
    _replace_whole(folder / CLIENT_NAMES, text.encode("utf-8"))


def _replace_whole(target: Path, data: bytes) -> None:
    """Write ``data`` aside (a dot file: the ingest walker skips it), then rename it onto ``target``: a
    reindex walking the folder never reads half a file."""
    incoming = target.with_name(f".incoming-{uuid.uuid4().hex}{target.suffix}")
    incoming.write_bytes(data)
    os.replace(incoming, target)


def storage_name(folder: Path, safe: str, sent: str, names: dict[str, str]) -> str:
    """Where the file the client calls ``sent`` is kept: its own earlier file, else ``safe`` or the first
    ``stem-2``, ``stem-3`` … that no file of another client name holds. A file stored before names were
    kept counts as sent under its stored name."""
    stem, suffix = safe[: -len(Path(safe).suffix)], Path(safe).suffix
    candidate, n = safe, 2
    while (folder / candidate).exists() and names.get(candidate, candidate) != sent:
        candidate, n = f"{stem}-{n}{suffix}", n + 1
    return candidate


def _restore(target: Path, previous: bytes | None) -> None:
    if previous is None:
        target.unlink(missing_ok=True)
    else:
        target.write_bytes(previous)


def store_and_ingest(filename: str, sent: str, data: bytes, settings: Settings) -> UploadResult:
    """Keep the file (``filename``, safe, as the client ``sent`` it) under uploads/ and ingest it into a new
    generation; on any failure the file that was there before (or none) is put back, so the folder
    always matches the index."""
    with write_lock(settings):
        folder = uploads_dir(settings)
        folder.mkdir(parents=True, exist_ok=True)
        names = _client_names(folder)
        target = folder / storage_name(folder, filename, sent, names)
        previous = target.read_bytes() if target.exists() else None
        _replace_whole(target, data)
        try:
            doc = load_document(target, settings)  # a bad file is refused here, with the loader's reason
            current = store.read_current(settings)
            taken = current.documents.get(doc.doc_id) if current else None
            if taken is not None and taken.source_path != doc.source_path:
                raise Refused(
                    409,
                    "doc_id_taken",
                    f"文档编号 {doc.doc_id} 已被另一篇文档使用（{Path(taken.source_path).name}）",
                    f"document id {doc.doc_id} is already used by another document ({Path(taken.source_path).name})",
                )
            # Only this file: ingest_paths keeps every document not seen in this run (prune=False).
            report = ingest_paths([target], settings, progress=False)
            if report.failed:
                _, zh, en = report.failed[0]
                raise Refused(400, "bad_file", zh, en)
        except BaseException:
            _restore(target, previous)
            raise
        if names.get(target.name) != sent:
            _save_client_names(folder, {**names, target.name: sent})
    summary = DocumentSummary(doc_id=doc.doc_id, title=doc.title, kind=doc.kind, metadata=doc.metadata)
    return UploadResult(document=summary, report=report, stored_as=target.name)


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "md/txt/docx/pdf/html"}
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
    return await run_in_threadpool(store_and_ingest, filename, client_name(upload.filename), data, settings)


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
        # Only a file we stored ourselves is deleted; a corpus file stays (reindex brings it back).
        source = Path(doc.source_path).resolve()
        folder = uploads_dir(settings).resolve()
        if source.parent == folder:
            source.unlink(missing_ok=True)
            names = _client_names(folder)
            if names.pop(source.name, None) is not None:
                _save_client_names(folder, names)
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
