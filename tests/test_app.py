"""Chatbot handlers and renderers over a fake facade (the browser tests drive the real one)."""

from __future__ import annotations

import itertools
import re

import gradio as gr
import pytest

from app import render
from app.errors import describe, message
from app.graph_view import render_svg, type_colour
from app.server import exposure_warning, is_loopback
from app.ui import (
    answer_subgraph,
    build_app,
    find_entities,
    health_banner,
    ingest_files,
    respond,
    run_cypher,
    show_entity,
    status_text,
)
from kg.errors import BadInput
from kg.models import GraphEdge, GraphNode, Subgraph
from tests.fake_kg import FakeKG, StoreUnavailable, UnsafeCypherError


def _last(gen):
    items = list(gen)
    return items, items[-1]


def test_respond_streams_then_shows_numbered_sources_and_remembers_the_turn() -> None:
    kg = FakeKG()
    steps, (history, box, pairs, sub) = _last(respond(kg, "GPT-2 WebText", [], [], "bm25", 3))
    partial = [s[0][-1]["content"] for s in steps[1:-1]]
    assert len(partial) >= 3 and all(len(a) < len(b) for a, b in itertools.pairwise(partial))
    final = history[-1]["content"]
    assert history[0] == {"role": "user", "content": "GPT-2 WebText"}
    assert "<details" in final and "[1]" in final and "notes/transformers.md" in final
    assert "GPT-2 was trained on WebText" in final  # the expandable chunk text
    assert box == "" and pairs[0][0] == "GPT-2 WebText"
    assert kg.calls[-1] == ("ask", ("GPT-2 WebText", "bm25", 3, []))
    # a follow-up passes the earlier turn as history
    _last(respond(kg, "and who made it?", history, pairs, "hybrid", 6))
    assert kg.calls[-1][1][3] == [("GPT-2 WebText", pairs[0][1])]
    assert isinstance(sub, Subgraph)


def test_respond_reports_errors_as_a_message() -> None:
    _, (history, *_rest) = _last(respond(FakeKG(store_down=True), "BERT", [], [], "hybrid", 6))
    assert history[-1]["content"].startswith("⚠️ Graph store unavailable")
    assert "Traceback" not in history[-1]["content"]
    steps = list(respond(FakeKG(), "   ", [], [], "hybrid", 6))
    assert steps[-1][0] == []


def test_answer_subgraph_links_facts_and_question_entities() -> None:
    kg = FakeKG()
    answer = kg.ask("Tell me about BERT")
    sub = answer_subgraph(kg, answer)
    ids = {n.id for n in sub.nodes}
    assert {"ent_bert", "ent_tr"} <= ids
    assert any(n.highlighted for n in sub.nodes)


def test_graph_svg_has_a_node_per_entity_coloured_by_type_with_a_legend() -> None:
    sub = Subgraph(
        nodes=[
            GraphNode(id="a", label="BERT", type="Model", highlighted=True),
            GraphNode(id="b", label="<Transformer>", type="Concept"),
            GraphNode(id="c", label="${evil}", type="Weird"),
        ],
        edges=[GraphEdge(source="a", target="b", type="IS_A")],
    )
    svg = render_svg(sub, selected="a")
    assert len(re.findall(r'<g class="kg-node', svg)) == 3
    assert 'data-node="a"' in svg and type_colour("Model") in svg and type_colour("Weird") in svg
    assert "&lt;Transformer&gt;" in svg and "<Transformer>" not in svg
    assert "${" not in svg  # gr.HTML templates must not see template syntax from the data
    assert svg.count('class="kg-legend-item"') == 3 and "IS_A" in svg
    assert "kg-graph-empty" in render_svg(Subgraph())


def test_entity_explorer() -> None:
    kg = FakeKG()
    update = find_entities(kg, "bert")
    assert update["value"] == "ent_bert"
    html, md, mentions, sub = show_entity(kg, "ent_bert", Subgraph())
    assert "BERT" in md and "**IS\\_A** Transformer" in md
    assert "notes/transformers.md" in mentions
    assert {n.id for n in sub.nodes} >= {"ent_bert", "ent_tr"} and 'data-node="ent_tr"' in html
    assert show_entity(kg, "ent_missing", Subgraph())[1] == "Entity not found."


def test_cypher_table_refusal_and_example_params() -> None:
    kg = FakeKG()
    table, info = run_cypher(kg, "MATCH (e) RETURN e.name AS name, e.type AS type")
    assert table["headers"] == ["name", "type"] and ["BERT", "Model"] in table["data"]
    assert info == "4 row(s)."
    table, info = run_cypher(kg, "CREATE (n:Hack)")
    assert info.startswith("⚠️ Query refused") and table["data"] == [[""]]
    example = kg.browser_queries()[1]
    run_cypher(kg, example.query, example)
    assert kg.calls[-1] == ("cypher", (example.query, {"name": "BERT"}))
    run_cypher(kg, example.query + " LIMIT 1", example)  # edited: the example's params drop
    assert kg.calls[-1][1][1] == {}


def test_corpus_status_and_ingest(tmp_path) -> None:
    kg = FakeKG(store_down=True, llm_error="LLM unavailable: connection refused")
    text = status_text(kg)
    assert "3 chunks" in text and "unavailable" in text and "retrieval-only" in text
    f = tmp_path / "new.md"
    f.write_text("hello")
    seen: list[tuple[float, str]] = []
    result, _ = ingest_files(kg, [str(f)], lambda frac, msg: seen.append((frac, msg)))
    assert result.startswith("✅ Ingested 1 file") and kg.ingested == [f]
    assert seen == [(1.0, "ingesting new.md")]
    assert ingest_files(kg, [], print)[0] == "Choose files to ingest first."


def test_sources_stay_one_html_block() -> None:
    answer = FakeKG().ask("GPT-2 WebText")
    answer.citations[0].text = "# Heading\n\nSecond *paragraph*"
    html = render.sources_html(answer.citations)
    assert "\n" not in html and "# Heading&#10;&#10;Second *paragraph*" in html


def test_render_escapes_untrusted_text() -> None:
    answer = FakeKG().ask("BERT")
    answer.warnings = ["<script>alert(1)</script>"]
    out = render.answer_message(answer)
    assert "<script>" not in out and "\\<script\\>" in out  # escaped for Markdown


def test_error_classification() -> None:
    assert describe(UnsafeCypherError("no writes")).status == 400
    assert describe(StoreUnavailable("down")).status == 503
    assert describe(BadInput("empty")).status == 400
    assert describe(ValueError("a bug")).status == 500  # a bare ValueError is kg's bug
    assert message(RuntimeError("secret internals")) == (
        "Internal error: internal error, please report (set KG_DEBUG=1 for the traceback) "
        "[RuntimeError]"
    )


def test_build_app_wires_every_tab() -> None:
    demo = build_app(FakeKG())
    assert isinstance(demo, gr.Blocks)
    labels = {getattr(b, "label", None) for b in demo.blocks.values()}
    assert {"Chat", "Graph", "Cypher", "Corpus"} <= labels
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"kg-chatbot", "kg-mode", "kg-graph", "kg-table", "kg-upload"} <= ids


@pytest.mark.parametrize(
    ("host", "auth", "key", "warns"),
    [
        ("127.0.0.1", None, None, False),
        ("localhost", None, None, False),
        ("::1", None, None, False),
        ("0.0.0.0", None, None, True),
        ("0.0.0.0", "a:b", None, True),
        ("0.0.0.0", "a:b", "k", False),
    ],
)
def test_exposure_warning(host: str, auth: str | None, key: str | None, warns: bool) -> None:
    assert (exposure_warning(host, auth, key) is not None) is warns
    assert is_loopback(host) is (host in ("127.0.0.1", "localhost", "::1"))


def test_health_banner_reports_degraded_parts() -> None:
    banner = health_banner(FakeKG(store_down=True, llm_error="LLM unavailable: refused"))
    assert "Graph store unavailable" in banner and "retrieval-only" in banner
    assert health_banner(FakeKG()).startswith("ℹ️ LLM off")


def test_layout_keeps_nodes_inside_and_a_stray_node_does_not_squeeze_the_graph() -> None:
    from app.graph_view import layout

    hub = [GraphNode(id=f"n{i}", label=f"n{i}", type="Concept") for i in range(10)]
    edges = [GraphEdge(source="n0", target=f"n{i}", type="RELATED_TO") for i in range(1, 10)]
    stray = GraphNode(id="stray", label="stray", type="Concept")
    width, height, margin = 860, 520, 60
    pos = layout(Subgraph(nodes=[*hub, stray], edges=edges), width, height, margin)
    assert set(pos) == {n.id for n in [*hub, stray]}
    for x, y in pos.values():
        assert margin <= x <= width - margin and margin <= y <= height - margin
    xs = [pos[n.id][0] for n in hub]
    assert max(xs) - min(xs) > (width - 2 * margin) / 2
    assert len({(round(x), round(y)) for x, y in pos.values()}) == len(pos)  # no overlaps


class _LLMOnKG(FakeKG):
    """The facade once the offline model is running: its status names the model."""

    def status(self):  # type: ignore[override]
        status = super().status()
        status.llm = "offline qwen2.5-coder-1.5b-instruct-q4_k_m"
        return status


def test_banner_does_not_call_a_running_offline_llm_off() -> None:
    assert "LLM off" not in health_banner(_LLMOnKG())
    assert health_banner(FakeKG()).startswith("ℹ️ LLM off")  # really off: still said


def test_answer_time_counts_the_llm_once() -> None:
    answer = FakeKG().ask("BERT")
    # answer_s is the whole answer step; llm_s is the model's share of it
    answer.timings = {"retrieval_s": 0.4, "answer_s": 141.0, "llm_s": 139.4, "prompt_tokens": 9}
    out = render.answer_message(answer)
    assert "141.40 s" in out and "280" not in out


def test_ingest_result_names_each_skipped_file_and_why(tmp_path) -> None:
    from kg.models import Manifest, SkippedFile

    class _SkippingKG(FakeKG):
        def ingest(self, paths, progress=None):  # type: ignore[override]
            return Manifest(
                kg_version="0",
                created_at="now",
                counts={"documents": 3},
                skipped=[
                    SkippedFile(path="uploads/broken.pdf", reason="unreadable PDF (EOF marker)"),
                    SkippedFile(path="uploads/<b>x</b>.png", reason="unsupported file type .png"),
                ],
            )

    f = tmp_path / "broken.pdf"
    f.write_bytes(b"%PDF-1.4")
    result, _ = ingest_files(_SkippingKG(), [str(f)], lambda *_: None)
    assert "Skipped 2" in result
    assert "broken.pdf" in result and "unreadable PDF (EOF marker)" in result
    assert "unsupported file type .png" in result and "<b>" not in result


class _DenseKG(FakeKG):
    """A hub with 40 neighbours, generic names beside the specific ones (as spaCy finds them)."""

    def __init__(self) -> None:
        super().__init__()
        from kg.models import Entity

        names = [("Andrew Ng", "Person"), ("K-means clustering", "Method"),
                 ("course", "Concept"), ("technique", "Concept")]  # fmt: skip
        names += [(f"Neighbour number {i:02d} with a long name", "Concept") for i in range(40)]
        self.ents = {f"e{i}": Entity(id=f"e{i}", name=n, type=t) for i, (n, t) in enumerate(names)}
        self.rels = [("e0", "TEACHES", "e1"), ("e2", "COVERS", "e3"), ("e2", "COVERS", "e1")]
        self.rels += [("e1", "RELATED_TO", f"e{4 + i}") for i in range(40)]
        self.rels += [("e0", "KNOWS", f"e{4 + i}") for i in range(0, 40, 7)]  # linked to both

    def find_entities(self, q: str, limit: int = 10):  # type: ignore[override]
        q = q.lower()
        return [e for e in self.ents.values() if e.name.lower() in q][:limit]

    def subgraph(self, entity_ids, hops=1, limit=60):  # type: ignore[override]
        seeds = set(entity_ids)
        edges = [GraphEdge(source=h, target=t, type=r) for h, r, t in self.rels
                 if h in seeds or t in seeds]  # fmt: skip
        ids = seeds | {e.source for e in edges} | {e.target for e in edges}
        nodes = [GraphNode(id=i, label=self.ents[i].name, type=self.ents[i].type,
                           highlighted=i in seeds) for i in sorted(ids)][:limit]  # fmt: skip
        return Subgraph(nodes=nodes, edges=edges)


def test_answer_graph_centres_on_the_answers_entities_and_caps_neighbours() -> None:
    from kg.models import Answer, GraphFact

    kg = _DenseKG()
    answer = Answer(
        question="Who teaches the course on K-means clustering?",
        answer="Andrew Ng teaches it [1].",
        facts=[
            GraphFact(
                head="course", head_type="Concept", type="COVERS", tail="technique",
                tail_type="Concept",
            )
        ],
    )
    sub = answer_subgraph(kg, answer)
    centre = {n.label for n in sub.nodes if n.highlighted}
    assert centre == {"Andrew Ng", "K-means clustering"}  # not the generic "course"/"technique"
    others = [n for n in sub.nodes if not n.highlighted]
    assert 0 < len(others) <= 12
    # the neighbours linked to both centre entities rank first
    both = {f"e{4 + i}" for i in range(0, 40, 7)}
    assert both <= {n.id for n in others}
    kept = {n.id for n in sub.nodes}
    assert all(e.source in kept and e.target in kept for e in sub.edges)


def test_entity_search_with_no_match_clears_and_says_so() -> None:
    from app.ui import search_entities

    update, detail, mentions = search_entities(FakeKG(), "zzzqqq-no-such")
    assert update["value"] is None and update["choices"] == []
    assert "No entity matches" in detail and "zzzqqq-no-such" in detail and mentions == ""
    update, detail, _ = search_entities(FakeKG(), "bert")
    assert update["value"] == "ent_bert"


def test_banner_and_corpus_status_refresh_after_each_answer() -> None:
    demo = build_app(FakeKG())
    config = demo.get_config_file()
    ids = {c.get("props", {}).get("elem_id"): c["id"] for c in config["components"]}
    ask_button = ids["kg-ask"]
    deps = config["dependencies"]
    asks = [i for i, d in enumerate(deps) if [ask_button, "click"] in map(list, d["targets"])]
    assert asks
    chained = [d for d in deps if d.get("trigger_after") in asks]
    assert any({ids["kg-banner"], ids["kg-status"]} <= set(d["outputs"]) for d in chained)
