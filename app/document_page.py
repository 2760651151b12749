"""A document with one span marked: where a chat source or an entity mention links to.

Self-contained HTML (inline CSS, no script), so it works offline; the ``#kg-span`` fragment
scrolls the browser to the marked text.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import quote

from kg.models import Document

if TYPE_CHECKING:
    from kg.workspace import Workspace

SPAN_ID = "kg-span"
_CSS = """
body { font: 15px/1.55 ui-sans-serif, system-ui, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #1f2933; background: #f7f7fb; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #d9dce3;
  padding: 10px 24px; }
header h1 { font-size: 17px; margin: 0; } header p { margin: 2px 0 0; color: #616e7c; }
main { max-width: 900px; margin: 16px auto; padding: 0 24px; }
pre { white-space: pre-wrap; word-wrap: break-word; font: inherit; }
mark { background: #ffe58f; padding: 1px 0; scroll-margin-top: 120px; }
"""


_link_key: bytes | None = None  # set under --api-key: links carry a signature instead


def sign_links(api_key: str | None) -> None:
    """Under ``--api-key`` the chat's links cannot send a bearer token: sign them instead."""
    global _link_key
    _link_key = api_key.encode() if api_key else None


def link_signature(doc_id: str, key: bytes | None = None) -> str:
    """HMAC of the document id: opens that one document's page, nothing else."""
    import hashlib
    import hmac

    return hmac.new(key or _link_key or b"", doc_id.encode(), hashlib.sha256).hexdigest()[:32]


def span_url(doc_id: str, start: int, end: int) -> str:
    """The link for a citation: the document page with ``start..end`` marked and in view."""
    sig = f"&sig={link_signature(doc_id)}" if _link_key else ""
    return f"/v1/documents/{quote(doc_id, safe='')}?start={start}&end={end}{sig}#{SPAN_ID}"


def find_document(workspace: Workspace, doc_id: str) -> Document | None:
    for doc in workspace.iter("documents"):
        if doc.id == doc_id:
            return doc
    return None


def document_page(doc: Document, start: int | None = None, end: int | None = None) -> str:
    """The whole document as escaped text, ``start..end`` (document offsets) in a <mark>."""
    text = doc.text
    lo = max(0, min(start if start is not None else 0, len(text)))
    hi = max(lo, min(end if end is not None else lo, len(text)))
    esc = html.escape
    body = esc(text[:lo])
    if hi > lo:
        body += f'<mark id="{SPAN_ID}">{esc(text[lo:hi])}</mark>'
    else:
        body += f'<span id="{SPAN_ID}"></span>'
    body += esc(text[hi:])
    where = f"characters {lo}–{hi} of {len(text)}" if hi > lo else f"{len(text)} characters"
    title = doc.title or doc.path
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(doc.path)} · kg</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p><code>{esc(doc.path)}</code> · {where}</p></header>"
        f"<main><pre>{body}</pre></main></body></html>"
    )
