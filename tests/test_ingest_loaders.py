"""Loaders on files the tests generate: every supported format, and every kind of bad file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jiceng.errors import InputError
from jiceng.ingest.loaders import load_document, user_doc_id
from jiceng.settings import Settings

TEXT = "接诉即办：群众诉求十二小时内响应。办理结果当日反馈。"


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _cjk_font() -> str | None:
    """A font with Chinese glyphs for fpdf2, if the machine has one (fc-list); else the PDF is English."""
    if not shutil.which("fc-list"):
        return None
    out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False).stdout
    fonts = [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
    return next((f for f in fonts if f.endswith((".ttf", ".ttc", ".otf"))), None)


def test_markdown_front_matter_gives_id_title_and_body(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "note.md"
    path.write_text("---\nid: my-note\ntitle: 我的笔记\ntags: [德治]\n---\n# 标题\n\n正文。\n", encoding="utf-8")
    doc = load_document(path, settings)
    assert (doc.doc_id, doc.title, doc.kind) == ("my-note", "我的笔记", "user")
    assert doc.text == "# 标题\n\n正文。"
    assert doc.metadata["tags"] == ["德治"]
    assert len(doc.content_hash) == 64


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "gb18030", "utf-16"])
def test_text_in_chinese_encodings_decodes_exactly(tmp_path: Path, settings: Settings, encoding: str) -> None:
    path = tmp_path / "notice.txt"
    body = "关于加强社区治理的通知\r\n" + TEXT * 3 + "\r\n街乡吹哨、部门报到。"
    path.write_bytes(body.encode(encoding))
    doc = load_document(path, settings)
    assert doc.text == body.replace("\r\n", "\n")
    assert doc.title == "关于加强社区治理的通知"


def test_user_doc_id_is_stable_and_distinct_per_file(tmp_path: Path, settings: Settings) -> None:
    a, b = tmp_path / "a" / "通知.txt", tmp_path / "b" / "通知.txt"
    for path in (a, b):
        path.parent.mkdir()
        path.write_text(TEXT, encoding="utf-8")
    assert load_document(a, settings).doc_id == user_doc_id(a) == user_doc_id(a)
    assert user_doc_id(a) != user_doc_id(b)
    assert user_doc_id(a).startswith("doc-")  # Chinese name: no ASCII slug, hash keeps it unique


def test_docx_headings_become_markdown_and_tables_are_kept(tmp_path: Path, settings: Settings) -> None:
    import docx

    document = docx.Document()
    document.add_heading("社区议事规则", level=1)
    document.add_paragraph(TEXT)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "参与率", "70%"
    path = tmp_path / "rules.docx"
    document.save(path)
    doc = load_document(path, settings)
    assert doc.text == f"# 社区议事规则\n\n{TEXT}\n\n参与率 | 70%"
    assert doc.title == "社区议事规则"


def test_pdf_text_layer(tmp_path: Path, settings: Settings) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    font = _cjk_font()
    if font:
        pdf.add_font("cjk", fname=font)
        pdf.set_font("cjk", size=12)
        text = TEXT
    else:
        pdf.set_font("helvetica", size=12)
        text = "Complaints are answered within twelve hours."
    pdf.multi_cell(0, 8, text)
    path = tmp_path / "notice.pdf"
    pdf.output(str(path))
    doc = load_document(path, settings)
    assert doc.text == text
    assert doc.metadata["pages"] == 1


def test_html_visible_blocks_and_headings(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>网格化管理</title><style>p{color:red}</style></head><body>"
        "<nav>首页 | 关于</nav><h2>一、网格员职责</h2><p>网格员每天巡查。</p>"
        "<ul><li>发现问题</li><li>上报处置</li></ul><script>alert(1)</script></body></html>",
        encoding="utf-8",
    )
    doc = load_document(path, settings)
    assert doc.title == "网格化管理"
    assert doc.text == "## 一、网格员职责\n\n网格员每天巡查。\n\n发现问题\n\n上报处置"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "code", "reason_zh", "reason_en"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj <<>> garbage", "bad_file", "PDF", "PDF"),
        ("empty.txt", b"  \n", "empty_file", "文件为空", "empty"),
        ("blob.txt", bytes(range(256)) * 4, "binary_file", "二进制", "binary"),
        ("image.png", b"\x89PNG\r\n\x1a\n", "unsupported_type", "不支持", "unsupported"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "bad_file", "Word", "Word"),
        ("big.txt", "大".encode() * 400_000, "file_too_large", "过大", "too large"),
    ],
)
def test_bad_files_get_a_bilingual_reason(
    tmp_path: Path, name: str, data: bytes, code: str, reason_zh: str, reason_en: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data", ingest={"max_file_mb": 1})
    with pytest.raises(InputError) as info:
        load_document(_write(tmp_path / name, data), settings)
    assert info.value.code == code
    assert reason_zh in info.value.message_zh and name in info.value.message_zh
    assert reason_en in info.value.message_en
