"""Where a span of a document can be read in context: one function for every answer and passage URL."""

from __future__ import annotations

from jiceng.site.urls import library_url
from jiceng.types import Document


def document_url(doc: Document, start: int, end: int) -> str:
    """Corpus documents link to their case-library page at the paragraph block holding ``start``
    (the site's own URL rule, so links and anchors agree); user documents to ``/documents/{id}``
    with the character range."""
    if doc.kind == "user":
        return f"/documents/{doc.doc_id}#{start}-{end}"
    return library_url(doc, start)
