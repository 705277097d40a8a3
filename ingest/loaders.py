"""File -> ``Document``: one registry of file formats, each with its suffixes, its loader and what its
bytes must look like. The CLI ingest (``load_document``) and uploads (``jiceng.ingest.uploads``) both read
it, so a format registered here is ingested and uploaded alike.

Every loader returns the canonical text later stages cite into. Formats with structure (.docx, .html)
write their headings as Markdown ``#`` lines, so chunking and the block anchors treat all formats alike.
Bad files raise ``InputError`` with a reason in Chinese and English; the pipeline records it and goes on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import frontmatter

from jiceng.corpus import FrontMatter
from jiceng.errors import InputError
from jiceng.settings import Settings
from jiceng.types import Document

# A loader gets the path and the file's bytes; it returns (title or "", canonical text, metadata).
LoadedText = tuple[str, str, dict]
Loader = Callable[[Path, bytes], LoadedText | Document]


@dataclass(frozen=True)
class FileFormat:
    """One format users can ingest: its suffixes (lower case, with the dot), its loader, and what
    ``filetype.guess`` must say of its bytes. ``sniffed`` None: a text format, whose bytes must be no
    known binary type (NUL bytes are refused too); else the binary type's extension (``"pdf"``)."""

    suffixes: tuple[str, ...]
    load: Loader
    sniffed: str | None = None

    @property
    def is_text(self) -> bool:
        return self.sniffed is None


FORMATS: dict[str, FileFormat] = {}  # suffix -> its format; registration order is the order shown to users


def register_loader(*suffixes: str, sniffed: str | None = None) -> Callable[[Loader], Loader]:
    """Register a loader for file suffixes (lower case, with the dot); ``sniffed`` as in ``FileFormat``."""

    def decorate(loader: Loader) -> Loader:
        file_format = FileFormat(tuple(suffixes), loader, sniffed)
        for suffix in suffixes:
            FORMATS[suffix] = file_format
        return loader

    return decorate


def supported_suffixes() -> tuple[str, ...]:
    """Every registered suffix, in registration order."""
    return tuple(FORMATS)


def file_format(suffix: str) -> FileFormat | None:
    """The registered format of ``suffix`` (any case), or None."""
    return FORMATS.get(suffix.lower())


def _bad(path: Path, zh: str, en: str, code: str = "bad_file") -> InputError:
    return InputError(f"{path.name}：{zh}", f"{path.name}: {en}", code=code)


_DOC_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")  # same rule as corpus front-matter ids


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "doc"


def user_doc_id(path: Path) -> str:
    """Stable id for a user file: a readable slug of its name plus a hash of its resolved path.

    Hashing the absolute path (not the path relative to the folder given on the command line) keeps the
    id the same whether the file is ingested alone or with its folder, so it never becomes two documents.
    """
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{_slug(path.stem)}-{digest}"


def content_hash(title: str, kind: str, text: str, metadata: dict) -> str:
    payload = json.dumps([title, kind, text, metadata], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _looks_binary(data: bytes) -> bool:
    # NUL bytes never occur in UTF-8/GBK text; UTF-16 files start with a BOM and are decoded separately.
    return b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff"))


def decode_text(path: Path, data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding): UTF-8 first, else charset-normalizer's guess (GBK/GB18030 common)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or _looks_binary(data):
        raise _bad(path, "无法识别文本编码（可能是二进制文件）", "cannot detect the text encoding (binary file?)")
    encoding = best.encoding
    # GB2312 and GBK are subsets of GB18030: decoding with the superset never loses a character.
    if encoding.replace("_", "").lower() in {"gb2312", "gbk", "hzgb2312", "gb18030"}:
        encoding = "gb18030"
    return data.decode(encoding, errors="replace"), encoding


def _first_heading(text: str) -> str:
    match = re.search(r"^#{1,6}\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


@register_loader(".md", ".markdown")
def load_markdown(path: Path, data: bytes) -> LoadedText | Document:
    """Markdown; corpus files (front matter ``kind`` policy/case) are validated against the corpus schema."""
    text, _ = decode_text(path, data)
    try:
        post = frontmatter.loads(text)
    except Exception as exc:  # YAML errors come in many types
        raise _bad(path, f"front matter 无法解析：{exc}", f"cannot parse front matter: {exc}") from exc
    meta = dict(post.metadata)
    if meta.get("kind") in ("policy", "case"):
        from jiceng.corpus import load_corpus_file

        corpus_file = load_corpus_file(path)
        fm: FrontMatter = corpus_file.meta
        return Document(
            doc_id=fm.id,
            title=fm.title,
            kind=fm.kind,
            text=corpus_file.body,
            metadata=fm.model_dump(mode="json"),
            source_path=str(path.resolve()),
        )
    title = str(meta.get("title") or _first_heading(post.content))
    return title, post.content, {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool, list))}


@register_loader(".txt", ".text")
def load_text(path: Path, data: bytes) -> LoadedText:
    """Plain text in UTF-8, UTF-16, GBK or GB18030 (detected); line ends normalised to ``\\n``."""
    text, encoding = decode_text(path, data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first_line = text.strip().split("\n", 1)[0].strip()
    # A long first line is body text (seed 000 is a single line), not a title.
    return (first_line if len(first_line) <= 60 else ""), text, {"encoding": encoding}


@register_loader(".docx", sniffed="docx")
def load_docx(path: Path, data: bytes) -> LoadedText:
    """Word: paragraphs and table rows in document order; ``Heading N`` styles become Markdown headings."""
    import io

    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a corrupt package fails in many ways: BadZipFile, KeyError, lxml, AttributeError
        raise _bad(path, f"不是有效的 Word 文件：{exc}", f"not a valid Word file: {exc}") from exc
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(" | ".join(c.text.strip() for c in row.cells) for row in block.rows)
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        level = re.match(r"(?:Heading|标题)\s*(\d)", style)
        if style == "Title" or level:
            text = "#" * (int(level.group(1)) if level else 1) + " " + text
        lines.append(text)
    text = "\n\n".join(lines)
    title = (document.core_properties.title or "").strip() or _first_heading(text)
    return title, text, {}


@register_loader(".pdf", sniffed="pdf")
def load_pdf(path: Path, data: bytes) -> LoadedText:
    """PDF text layer, pages separated by a blank line; scanned PDFs (no text) are rejected."""
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _bad(path, "PDF 已加密，无法读取", "the PDF is encrypted")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except InputError:
        raise
    except Exception as exc:  # corrupt PDFs fail in many ways: PyPdfError, ValueError, NotImplementedError…
        raise _bad(path, f"PDF 文件损坏或无法解析：{exc}", f"corrupt or unreadable PDF: {exc}") from exc
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise _bad(path, "PDF 没有文本层（可能是扫描件，需先做 OCR）", "the PDF has no text layer (scanned? run OCR first)")
    return title, text, {"pages": len(pages)}


@register_loader(".html", ".htm")
def load_html(path: Path, data: bytes) -> LoadedText:
    """HTML: visible text of block elements, one per line; ``h1``–``h6`` become Markdown headings."""
    from bs4 import BeautifulSoup

    text, _ = decode_text(path, data)
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "header", "footer"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    body = soup.body or soup
    lines: list[str] = []
    for element in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre", "blockquote"]):
        if element.find(["p", "li", "td", "pre", "blockquote"]):
            continue  # a container: its inner blocks are visited themselves
        line = " ".join(element.get_text(" ", strip=True).split())
        if line:
            lines.append("#" * int(element.name[1]) + " " + line if element.name[0] == "h" and element.name[1:].isdigit() else line)
    if not lines:
        lines = [line.strip() for line in body.get_text("\n").splitlines() if line.strip()]
    text = "\n\n".join(lines)
    return title or _first_heading(text), text, {}


def load_document(path: Path, settings: Settings) -> Document:
    """Load one file with the loader for its suffix; ``InputError`` says why a file is unusable."""
    suffix = path.suffix.lower()
    found = file_format(suffix)
    if found is None:
        supported = " ".join(supported_suffixes())
        raise _bad(
            path,
            f"不支持的文件类型 {suffix or '（无后缀）'}，支持：{supported}",
            f"unsupported file type {suffix or '(no suffix)'}; supported: {supported}",
            code="unsupported_type",
        )
    try:
        size = path.stat().st_size
        if size > settings.ingest.max_file_mb * 1024 * 1024:
            raise _bad(
                path,
                f"文件过大（{size / 1048576:.1f} MB，上限 {settings.ingest.max_file_mb} MB）",
                f"file too large ({size / 1048576:.1f} MB; limit {settings.ingest.max_file_mb} MB)",
                code="file_too_large",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise _bad(path, f"无法读取文件：{exc.strerror}", f"cannot read file: {exc.strerror}") from exc
    if not data.strip():
        raise _bad(path, "文件为空", "the file is empty", code="empty_file")
    if found.is_text and _looks_binary(data):
        raise _bad(path, "看起来是二进制文件，不是文本", "looks like a binary file, not text", code="binary_file")
    loaded = found.load(path, data)
    if isinstance(loaded, Document):
        doc = loaded
    else:
        title, text, metadata = loaded
        given_id = str(metadata.get("id", ""))
        doc = Document(
            doc_id=given_id if _DOC_ID.match(given_id) else user_doc_id(path),
            title=title or path.stem,
            kind="user",
            text=text,
            metadata={"file_name": path.name, **metadata},
            source_path=str(path.resolve()),
        )
    if not doc.text.strip():
        raise _bad(path, "没有可用的正文", "no text content", code="empty_file")
    doc.content_hash = content_hash(doc.title, doc.kind, doc.text, doc.metadata)
    return doc
