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


def test_cypher_tab_parameters_field_and_entity_search_without_a_match() -> None:
    import pytest

    from app.ui import parse_params, run_cypher, search_entities, show_entity
    from kg.models import GraphNode, Subgraph
    from tests.fake_kg import FakeKG

    assert parse_params('{"top": 5}') == {"top": 5}
    assert parse_params("top=5\nname=K-means") == {"top": 5, "name": "K-means"}
    assert parse_params("") == {}
    with pytest.raises(ValueError, match="name=value"):
        parse_params("noequals")
    kg = FakeKG()
    _, bad = run_cypher(kg, "RETURN 1", params_text="{not json")
    assert bad.startswith("⚠️") and "JSON" in bad
    # a search without a match says so, and the graph loses the old highlight
    from app.graph_view import render_svg

    _update, detail, _mentions = search_entities(kg, "zzzqqq-no-such")
    assert "No entity matches" in detail
    sub = Subgraph(nodes=[GraphNode(id="e1", label="BERT", type="Method")])
    graph, kept_detail, *_ = show_entity(kg, None, sub)  # what the search's .then() calls
    assert graph == render_svg(sub, selected=None) != render_svg(sub, selected="e1")
    assert not isinstance(kept_detail, str)  # gr.skip(): the "no match" message stays
