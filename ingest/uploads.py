"""Files users send over the API: where they are kept, what is accepted, and storing one together with
its ingest so that the uploads folder always matches the index.

What is accepted comes from the loader registry (``jiceng.ingest.loaders``): a format registered there is
ingested from the CLI and accepted on upload alike. Every write runs under one lock file,
``data_dir/admin.lock``, so two uploads (or two server workers) never interleave storing a file and
ingesting it; a write that finds the lock taken fails at once (``BusyError``) instead of queueing behind a
minute-long ingest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import filetype

from jiceng.errors import BusyError, Refused
from jiceng.ingest import store
from jiceng.ingest.loaders import file_format, load_document, supported_suffixes
from jiceng.ingest.pipeline import IngestReport, ingest_paths
from jiceng.settings import Settings
from jiceng.types import Document

UPLOADS_DIR = "uploads"
# Stored name -> the name the client sent, so two names that sanitise alike (楼道 花园.md, 楼道_花园.md) stay
# two files, while sending a name again replaces its own earlier version. A dot file: ingest skips it.
CLIENT_NAMES = ".client-names.json"


@dataclass
class StoredUpload:
    """An uploaded file kept under uploads/ and ingested: its document, the ingest's report, and the name
    it is stored under (another client name may have taken the plain one)."""

    document: Document
    report: IngestReport
    stored_as: str


def uploads_dir(settings: Settings) -> Path:
    """Where uploaded files are kept, so a reindex (or ``jiceng ingest``) can read them again."""
    return settings.data_dir / UPLOADS_DIR


def write_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """One write (upload, delete, reindex) at a time per data dir, across threads and worker processes."""
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
    letters (Chinese included), digits, ``_`` and ``-`` in the stem, a lower-case registered suffix."""
    stem, dot, suffix = client_name(name).rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if file_format(suffix) is None:
        supported = " ".join(supported_suffixes())
        raise Refused(
            415,
            "unsupported_type",
            f"不支持的文件类型 {suffix or '（无后缀）'}，支持：{supported}",
            f"unsupported file type {suffix or '(no suffix)'}; supported: {supported}",
        )
    stem = re.sub(r"[^\w-]+", "_", stem).strip("._-")[:80]
    return f"{stem or 'upload'}{suffix}"


def check_content(filename: str, data: bytes, settings: Settings) -> None:
    """Size, emptiness and what the bytes really are (a renamed .exe is not a .txt): ``filetype.guess``
    must name the registered format's binary type, or, for a text format, no known type at all."""
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
    expected = file_format(suffix)
    guess = filetype.guess(data)
    found = guess.extension if guess else None
    if expected is None or found != expected.sniffed:
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


def store_and_ingest(filename: str, sent: str, data: bytes, settings: Settings) -> StoredUpload:
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
    return StoredUpload(document=doc, report=report, stored_as=target.name)


def forget_upload(source_path: str, settings: Settings) -> None:
    """After its document left the index: delete the file if it is one we stored under uploads/ (a corpus
    file stays, and a reindex brings it back) and its client name. Call it under ``write_lock``."""
    source = Path(source_path).resolve()
    folder = uploads_dir(settings).resolve()
    if source.parent == folder:
        source.unlink(missing_ok=True)
        names = _client_names(folder)
        if names.pop(source.name, None) is not None:
            _save_client_names(folder, names)
