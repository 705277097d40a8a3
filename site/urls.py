"""Library URLs of corpus documents; answers' citations and the site's anchors both come from here."""

from __future__ import annotations

from typing import Protocol

from jiceng.text import block_anchor

LIBRARY_PREFIX = "/library/"
# Folder per document kind; "policy" reads better as "policies" than as "policys".
KIND_FOLDERS = {"case": "cases", "policy": "policies"}


class DocumentLike(Protocol):
    doc_id: str
    kind: str
    text: str


def page_path(kind: str, doc_id: str) -> str:
    """Path of a document's page inside the library, e.g. ``cases/foo/``."""
    try:
        return f"{KIND_FOLDERS[kind]}/{doc_id}/"
    except KeyError:
        raise ValueError(f"only corpus documents have library pages, not kind {kind!r}") from None


def library_url(doc: DocumentLike, offset: int) -> str:
    """``/library/{cases|policies}/{doc_id}/#p-N`` for the paragraph block holding ``offset``, ``#h-N`` for
    a heading's title. Elsewhere (a blank line, a heading's ``#`` marker) the URL opens the top of the page.
    """
    anchor = block_anchor(doc.text, offset)
    return LIBRARY_PREFIX + page_path(doc.kind, doc.doc_id) + (f"#{anchor}" if anchor else "")
