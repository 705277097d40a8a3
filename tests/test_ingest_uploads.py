"""Uploads accept what the loader registry can load, judged by the registry's own suffixes and content
sniff: a format registered once is ingested from the CLI and accepted on upload alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiceng.errors import Refused
from jiceng.ingest import loaders
from jiceng.ingest.loaders import FileFormat, load_document, register_loader, supported_suffixes
from jiceng.ingest.uploads import check_content, safe_filename
from jiceng.settings import Settings

TEXT = "网格员每天巡查社区，发现问题及时上报。".encode()


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, FileFormat]:
    """The registry, restored after the test (formats registered in it are the test's own)."""
    formats = dict(loaders.FORMATS)
    monkeypatch.setattr(loaders, "FORMATS", formats)
    return formats


def test_every_registered_suffix_is_accepted_on_upload() -> None:
    for suffix in supported_suffixes():
        assert safe_filename(f"社区 巡查{suffix.upper()}") == f"社区_巡查{suffix}"


def test_a_format_registered_once_is_ingested_and_uploaded_alike(registry, tmp_path: Path) -> None:
    @register_loader(".rst")
    def load_rst(path: Path, data: bytes):
        return "巡查", data.decode(), {}

    file = tmp_path / "xuncha.rst"
    file.write_bytes(TEXT)
    assert load_document(file, Settings(data_dir=tmp_path / "data")).text == TEXT.decode()  # the CLI's path
    assert safe_filename("xuncha.rst") == "xuncha.rst"  # the upload's
    check_content("xuncha.rst", TEXT, Settings(data_dir=tmp_path / "data"))


def test_the_registry_says_what_a_binary_format_must_contain(registry, tmp_path: Path) -> None:
    register_loader(".odt", sniffed="odt")(lambda path, data: ("", "", {}))
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(Refused) as refused:
        check_content("notes.odt", TEXT, settings)  # text renamed .odt
    assert refused.value.http_status == 415 and refused.value.code == "content_mismatch"
    with pytest.raises(Refused) as refused:
        check_content("notes.txt", b"%PDF-1.4\n" + bytes(200), settings)  # a PDF renamed .txt
    assert refused.value.code == "content_mismatch"


def test_a_suffix_no_loader_knows_is_refused_naming_the_supported_ones() -> None:
    with pytest.raises(Refused) as refused:
        safe_filename("tool.exe")
    assert refused.value.http_status == 415 and ".docx" in refused.value.message_en
