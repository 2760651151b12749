"""Untrusted text in the chatbot is shown as itself (issue 25, item 5): entity names, warnings
and Cypher errors without ``&#x27;``/``&#36;``, and quoted notes as text, not Markdown. Rendered
with a real CommonMark renderer (markdown-it, what Gradio's Markdown follows)."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

from app import render
from kg.models import Answer, Citation, Entity, EntityDetail

MD = MarkdownIt("commonmark")


def _visible(markdown: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", MD.render(markdown)))


def test_entity_headings_warnings_and_errors_show_the_characters() -> None:
    name = "O'Brien's $5 <b>model</b> & [co]"
    detail = EntityDetail(entity=Entity(id="e1", name=name, type="Method"))
    shown = _visible(render.entity_md(detail))
    assert name in shown and "&#x27;" not in shown and "&#36;" not in shown
    answer = Answer(question="q", answer="fine", warnings=["LLM unavailable: can't reach $URL"])
    assert "LLM unavailable: can't reach $URL" in _visible(render.answer_message(answer))
    error = "unknown function 'foo' at $top"
    assert _visible(f"⚠️ {render._md(error)}").strip() == f"⚠️ {error}"


def test_quoted_notes_are_text_not_markdown() -> None:
    note = "# R&D notes\n<script>alert(1)</script>\n* not a list"
    cite = Citation(n=1, chunk_id="c", doc_id="d", path="n.md", start=0, end=5, snippet="s")
    html_out = MD.render(render.answer_message(Answer(question="q", answer=note,
                                                      citations=[cite])))  # fmt: skip
    assert "<h1>" not in html_out and "<script" not in html_out and "<li>" not in html_out
    shown = _visible(render.answer_message(Answer(question="q", answer=note)))
    for line in note.splitlines():
        assert line in shown, (line, shown)
