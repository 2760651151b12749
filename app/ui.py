"""The Gradio chatbot: Chat, Graph, Cypher and Corpus tabs over one ``KG`` facade.

Every handler catches the facade's errors and shows them as a message, so a down store or LLM
never puts a traceback in front of the user. Theme and CSS are launch/mount arguments in
Gradio 6, hence ``THEME``/``CSS`` here for ``app.api`` and ``launch``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from app import render
from app.errors import message
from app.graph_view import CLICK_JS, GRAPH_CSS, render_svg
from kg.models import MODES, Answer, Subgraph

if TYPE_CHECKING:
    from app.service import KG

log = logging.getLogger("kg.app")

# system fonts only: the default theme fonts would be fetched from Google Fonts, and kg is offline
THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="teal",
    font=("ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"),
    font_mono=("ui-monospace", "SFMono-Regular", "Menlo", "monospace"),
)
CSS = (
    GRAPH_CSS
    + """
.kg-sources { margin-top: 6px; font-size: 0.92em; }
.kg-source { border-left: 3px solid var(--color-accent); padding: 2px 8px; margin: 4px 0; }
.kg-source summary { cursor: pointer; }
.kg-snippet { color: var(--body-text-color-subdued); }
.kg-chunk { white-space: pre-wrap; font-size: 0.9em; max-height: 260px; overflow: auto;
  background: var(--background-fill-secondary); padding: 6px; border-radius: 4px; }
footer { display: none !important; }
"""
)
EXAMPLE_QUESTIONS = (
    "Who teaches the course I am taking?",
    "Which tools and libraries did I use?",
    "What is K-means clustering?",
)
_EMPTY_TABLE: dict[str, Any] = {"headers": ["result"], "data": [[""]]}


def build_app(kg: KG) -> gr.Blocks:
    """The Blocks app; queue it (``.queue``) and launch or mount it with ``THEME`` and ``CSS``."""
    with gr.Blocks(title="kg — chat with your notes") as demo:
        gr.Markdown("## kg · chat with your knowledge graph")
        banner = gr.Markdown(elem_id="kg-banner")
        graph_state = gr.State(Subgraph())
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                answered = chat_tab(kg, graph_state)
            with gr.Tab("Graph", id="graph"):
                graph_tab(kg, graph_state)
                merges_outputs = merges_section(kg)
            with gr.Tab("Cypher", id="cypher"):
                cypher_tab(kg)
            with gr.Tab("Corpus", id="corpus"):
                corpus_status = corpus_tab(kg, demo)
        demo.load(lambda: health_banner(kg), None, banner)
        demo.load(lambda: merges_view(kg), None, merges_outputs)

        def refresh() -> tuple[str, str]:
            """An answer may have started the LLM (or found the store down): say so."""
            return health_banner(kg), status_text(kg)

        for event in answered:
            event.then(refresh, None, [banner, corpus_status], queue=False)
    demo.queue(default_concurrency_limit=4)
    return demo


_LLM_OFF = re.compile(r"off\b")


def health_banner(kg: KG) -> str:
    """One line above the tabs when something is degraded (store down, LLM off or missing)."""
    try:
        status = kg.status()
    except Exception as exc:
        return f"⚠️ {render._md(message(exc))}"
    notes = []
    if status.manifest is None:
        notes.append("No documents yet: add some in the Corpus tab.")
    if status.store_error:
        notes.append(f"Graph store unavailable ({render._md(status.store_error)}): Cypher is off.")
    if status.llm_error:
        notes.append(f"{render._md(status.llm_error)}: answers are retrieval-only.")
    elif _LLM_OFF.match(status.llm or ""):  # "off (…)", not "offline qwen…"
        notes.append("LLM off: answers are extractive, built from the retrieved chunks.")
    return " ".join(f"⚠️ {n}" if "unavailable" in n else f"ℹ️ {n}" for n in notes)


# ---- Chat ----


def chat_tab(kg: KG, graph_state: gr.State) -> list[Any]:
    """The chat; returns its ask events so the page can refresh its status after an answer."""
    turns = gr.State([])  # (question, answer text) pairs for follow-up questions
    chatbot = gr.Chatbot(
        label="Conversation",
        height=520,
        elem_id="kg-chatbot",
        placeholder="Ask about your notes. Every answer cites the chunks it used.",
        sanitize_html=True,
        feedback_options=None,
        buttons=["copy", "copy_all"],
    )
    with gr.Row():
        question = gr.Textbox(
            placeholder="Ask a question…",
            show_label=False,
            scale=8,
            elem_id="kg-question",
            max_lines=4,
        )
        send = gr.Button("Ask", variant="primary", scale=1, elem_id="kg-ask")
    with gr.Row():
        mode = gr.Radio(list(MODES), value="hybrid", label="Retrieval mode", elem_id="kg-mode")
        k = gr.Slider(1, 20, value=6, step=1, label="Top-k chunks", elem_id="kg-k")
        clear = gr.Button("New conversation", size="sm")
    gr.Examples(list(EXAMPLE_QUESTIONS), inputs=question, label="Try")

    def on_ask(
        q: str, history: list[dict[str, Any]], pairs: list[tuple[str, str]], m: str, top: float
    ) -> Iterator[tuple[Any, ...]]:
        yield from respond(kg, q, history, pairs, m, top)

    outputs = [chatbot, question, turns, graph_state]
    inputs = [question, chatbot, turns, mode, k]
    asked = [
        send.click(on_ask, inputs, outputs, concurrency_id="chat"),
        question.submit(on_ask, inputs, outputs, concurrency_id="chat"),
    ]
    clear.click(lambda: ([], [], Subgraph()), None, [chatbot, turns, graph_state], queue=False)
    return asked


def respond(
    kg: KG,
    q: str,
    history: list[dict[str, Any]] | None,
    pairs: list[tuple[str, str]],
    m: str,
    top: float,
) -> Iterator[tuple[Any, ...]]:
    """Stream one answer: yields (chat history, cleared textbox, turns, subgraph) updates."""
    history = [*(history or [])]
    q = (q or "").strip()
    if not q:
        yield [*history], "", pairs, gr.skip()
        return
    history.append({"role": "user", "content": q})
    history.append({"role": "assistant", "content": "…"})
    yield [*history], "", pairs, gr.skip()
    text = ""
    final: Answer | None = None
    try:
        for item in kg.stream_ask(q, mode=m, k=int(top), history=list(pairs)):
            if isinstance(item, Answer):
                final = item
            else:
                text += item
                history[-1] = {"role": "assistant", "content": render.text_md(text)}
                yield [*history], "", pairs, gr.skip()
    except Exception as exc:
        history[-1] = {"role": "assistant", "content": f"⚠️ {render._md(message(exc))}"}
        yield [*history], "", pairs, gr.skip()
        return
    if final is None:
        return
    history[-1] = {"role": "assistant", "content": render.answer_message(final)}
    yield [*history], "", [*pairs, (q, final.answer)], answer_subgraph(kg, final)


def answer_subgraph(kg: KG, answer: Answer) -> Subgraph:
    """Entities behind an answer: those it and its question name, and their best neighbours."""
    from app.answer_graph import answer_subgraph as centred_subgraph

    return centred_subgraph(kg, answer)


# ---- Graph + entity explorer ----


def graph_tab(kg: KG, graph_state: gr.State) -> gr.HTML:
    gr.Markdown(
        "The entities behind the last answer and their neighbours. Click a node (or pick it "
        "below) to see where it is mentioned; search any entity to explore its neighbourhood."
    )
    with gr.Row():
        with gr.Column(scale=3):
            graph_html = gr.HTML(
                render_svg(Subgraph()), elem_id="kg-graph", js_on_load=CLICK_JS, padding=False
            )
        with gr.Column(scale=2):
            search = gr.Textbox(
                label="Find an entity", placeholder="a person, method, tool…", elem_id="kg-entity-q"
            )
            node = gr.Dropdown(label="Entity", choices=[], interactive=True, elem_id="kg-entity")
            detail = gr.Markdown(elem_id="kg-entity-detail")
            mentions = gr.HTML(elem_id="kg-entity-mentions")

    def redraw(sub: Subgraph, current: str | None) -> tuple[str, Any]:
        """A new subgraph (an answer, or an explored entity): redraw it and list its nodes."""
        opts = sorted((f"{n.label} ({n.type})", n.id) for n in sub.nodes)
        keep = current if current in {n.id for n in sub.nodes} else None
        return render_svg(sub, selected=keep), gr.update(choices=opts, value=keep)

    def on_show(entity: str | None, sub: Subgraph) -> tuple[Any, ...]:
        return show_entity(kg, entity, sub)

    def on_find(q: str) -> tuple[Any, Any, Any]:
        return search_entities(kg, q)

    def clicked(sub: Subgraph, evt: gr.EventData) -> Any:
        node_id = getattr(evt, "node", None) or (evt._data or {}).get("node")
        return node_id or gr.skip()

    shown = [graph_html, detail, mentions, graph_state]
    graph_state.change(redraw, [graph_state, node], [graph_html, node])
    node.input(on_show, [node, graph_state], shown)
    graph_html.click(clicked, graph_state, node).then(on_show, [node, graph_state], shown)
    found = search.submit(on_find, search, [node, detail, mentions])
    found.then(on_show, [node, graph_state], shown)
    return graph_html


# ---- merge review: the same list and decisions as `kg merges` ----


def merges_section(kg: KG) -> list[Any]:
    """The entity merges resolution applied or proposed, with accept/reject for each."""
    with gr.Accordion("Entity merges to review", open=True, elem_id="kg-merges-box"):
        gr.Markdown(
            "Why entities were merged (or could be). A decision is kept in the workspace and "
            "applied by every later `kg extract`: a rejected merge is undone, an accepted "
            "candidate applied."
        )
        table = gr.HTML(elem_id="kg-merges")
        with gr.Row():
            pick = gr.Dropdown(label="Merge", choices=[], interactive=True, elem_id="kg-merge-id")
            accept = gr.Button("Accept", elem_id="kg-merge-accept", scale=0)
            reject = gr.Button("Reject", elem_id="kg-merge-reject", scale=0)
        said = gr.Markdown(elem_id="kg-merge-said")
    outputs = [table, pick]
    accept.click(lambda m: decide_merge(kg, m, "accept"), pick, [*outputs, said])
    reject.click(lambda m: decide_merge(kg, m, "reject"), pick, [*outputs, said])
    return outputs


def merges_view(kg: KG, selected: str | None = None) -> tuple[str, Any]:
    """(table html, dropdown update) for the workspace's merges."""
    import html

    try:
        rows = kg.merges()
    except Exception as exc:  # a missing workspace shows as a message, not a traceback
        return f"<p>{html.escape(message(exc))}</p>", gr.update(choices=[], value=None)
    if not rows:
        return "<p>No merges yet.</p>", gr.update(choices=[], value=None)
    cells = ["<table class='kg-merges'><tr><th>id</th><th>status</th><th>decision</th>"
             "<th>keeps</th><th>merges</th><th>rule</th><th>why</th></tr>"]  # fmt: skip
    for r in rows:
        why = "; ".join([r["reason"], *r["evidence"]])
        values = [r["id"], r["status"], r["decision"] or "–", f"{r['kept_name']} ({r['type']})",
                  r["merged_name"], r["rule"], why]  # fmt: skip
        cells.append(
            f"<tr data-merge='{html.escape(r['id'])}'>"
            + "".join(f"<td>{html.escape(str(v))}</td>" for v in values)
            + "</tr>"
        )
    cells.append("</table>")
    choices = [(f"{r['kept_name']} ~ {r['merged_name']} ({r['status']})", r["id"]) for r in rows]
    return "".join(cells), gr.update(choices=choices, value=selected)


def decide_merge(kg: KG, merge_id: str | None, decision: str) -> tuple[str, Any, str]:
    """Record the decision; (table, dropdown, what was done)."""
    if not merge_id:
        return (*merges_view(kg), "Pick a merge first.")
    try:
        row = kg.decide_merge(merge_id, decision)
    except Exception as exc:
        return (*merges_view(kg, merge_id), message(exc))
    verb = "Accepted" if decision == "accept" else "Rejected"
    said = (
        f"{verb}: {render._md(row['kept_name'])} ~ {render._md(row['merged_name'])}. "
        "The next `kg extract` applies it."
    )
    return (*merges_view(kg, merge_id), said)


def show_entity(kg: KG, entity: str | None, sub: Subgraph) -> tuple[Any, ...]:
    """(graph html, entity markdown, mentions html, subgraph) for the chosen entity."""
    if not entity:  # no match: un-highlight the old node, keep the "no match" message
        return render_svg(sub, selected=None), gr.skip(), gr.skip(), gr.skip()
    try:
        d = kg.entity(entity)
    except Exception as exc:
        return gr.skip(), f"⚠️ {render._md(message(exc))}", "", gr.skip()
    if d is None:
        return gr.skip(), "Entity not found.", "", gr.skip()
    try:
        sub = merge_subgraphs(sub, kg.subgraph([entity], hops=1, limit=40))
    except Exception as exc:
        log.warning("no neighbourhood: %s", message(exc))
    mentions_html = render.sources_html(d.snippets) or "<i>No recorded mentions.</i>"
    return render_svg(sub, selected=entity), render.entity_md(d), mentions_html, sub


def merge_subgraphs(old: Subgraph, new: Subgraph, limit: int = 80) -> Subgraph:
    """Grow the drawn graph with an entity's neighbourhood; start afresh when it gets crowded."""
    if len(old.nodes) + len(new.nodes) > limit:
        return new
    nodes = {n.id: n for n in old.nodes}
    for n in new.nodes:
        nodes.setdefault(n.id, n)
    edges = {(e.source, e.target, e.type): e for e in [*old.edges, *new.edges]}
    return Subgraph(nodes=list(nodes.values()), edges=list(edges.values()))


def find_entities(kg: KG, q: str) -> Any:
    """Dropdown update listing the entities that match ``q`` (the best one selected)."""
    if not (q or "").strip():
        return gr.skip()
    try:
        found = kg.find_entities(q, limit=15)
    except Exception as exc:
        gr.Warning(message(exc))
        return gr.skip()
    opts = [(f"{e.name} ({e.type})", e.id) for e in found]
    return gr.update(choices=opts, value=opts[0][1] if opts else None)


def search_entities(kg: KG, q: str) -> tuple[Any, Any, Any]:
    """(dropdown, entity markdown, mentions) for a search; no match empties them and says so,
    rather than leaving the previous entity on screen as if it were the answer."""
    update = find_entities(kg, q)
    if isinstance(update, dict) and update.get("value") is None:
        return update, f"No entity matches “{render._md(q.strip())}”.", ""
    return update, gr.skip(), gr.skip()


# ---- Cypher ----


def cypher_tab(kg: KG) -> None:
    try:
        examples = {q.name: q for q in kg.browser_queries()}
    except Exception as exc:
        log.warning("no example queries: %s", message(exc))
        examples = {}
    gr.Markdown("Read-only Cypher against the graph store. Writes are refused before they run.")
    with gr.Row():
        example = gr.Dropdown(
            choices=list(examples), label="Examples", value=None, scale=2, elem_id="kg-examples"
        )
        about = gr.Markdown()
    query = gr.Code(
        language="sql",  # Gradio has no Cypher highlighter; SQL's keywords are close enough
        label="Query",
        lines=5,
        interactive=True,
        elem_id="kg-cypher",
        value="MATCH (e:Entity) RETURN e.type AS type, count(*) AS entities ORDER BY entities DESC",
    )
    params = gr.Code(
        language="json",
        label="Parameters: a JSON object, or name=value lines ($name in the query)",
        lines=2,
        interactive=True,
        elem_id="kg-cypher-params",
        value="",
    )
    run = gr.Button("Run", variant="primary", elem_id="kg-cypher-run")
    info = gr.Markdown(elem_id="kg-cypher-info")
    table = gr.Dataframe(value=_EMPTY_TABLE, interactive=False, wrap=True, elem_id="kg-table")

    def pick(name: str | None) -> tuple[Any, Any, Any]:
        q = examples.get(name or "")
        if q is None:
            return gr.skip(), gr.skip(), gr.skip()
        about_md = f"_{render._md(q.description)}_" if q.description else ""
        shown = json.dumps(dict(q.params), indent=1) if q.params else ""
        return q.query.strip(), about_md, shown  # the example's parameters, editable

    def on_run(text: str, params_text: str | None) -> tuple[Any, str]:
        return run_cypher(kg, text, params_text=params_text or "")

    example.change(pick, example, [query, about, params])
    run.click(on_run, [query, params], [table, info], concurrency_id="cypher")


def parse_params(text: str) -> dict[str, Any]:
    """The parameters field: a JSON object, or ``name=value`` lines (JSON values, else text)."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"{exc.msg} (line {exc.lineno})"
            raise ValueError(f"parameters are not valid JSON: {where}") from None
        if not isinstance(data, dict):
            raise ValueError("parameters must be a JSON object, e.g. {\"top\": 5}")
        return data
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, eq, value = line.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"{line.strip()!r} is not name=value (e.g. top=5)")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value.strip()
    return out


def run_cypher(
    kg: KG, text: str, example: Any = None, *, params_text: str | None = None
) -> tuple[Any, str]:
    """(table value, message). Parameters come from the tab's field (``params_text``); without
    it, an example's parameters apply while its text is unchanged."""
    if params_text is not None:
        try:
            params = parse_params(params_text)
        except ValueError as exc:
            return _EMPTY_TABLE, f"⚠️ {render._md(str(exc))}"
    else:
        same = example is not None and example.query.strip() == text.strip()
        params = dict(example.params) if same else {}
    try:
        result = kg.cypher(text, params)
    except Exception as exc:
        return _EMPTY_TABLE, f"⚠️ {render._md(message(exc))}"
    if not result.columns:
        return _EMPTY_TABLE, "No rows."
    rows = [[_cell(v) for v in row] for row in result.rows]
    return {"headers": result.columns, "data": rows}, f"{len(rows)} row(s)."


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)


# ---- Corpus ----


def corpus_tab(kg: KG, demo: gr.Blocks) -> gr.Markdown:
    status = gr.Markdown(elem_id="kg-status")
    refresh = gr.Button("Refresh", size="sm")
    gr.Markdown(
        "### Add documents\nText, Markdown or PDF. New files are extracted and loaded; "
        "chat keeps working while this runs."
    )
    files = gr.File(file_count="multiple", label="Files", elem_id="kg-upload", height=150)
    ingest = gr.Button("Ingest", variant="primary", elem_id="kg-ingest")
    result = gr.Markdown(elem_id="kg-ingest-result")

    def show_status() -> str:
        return status_text(kg)

    def on_ingest(
        paths: list[str] | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, Any]:
        return ingest_files(kg, paths, lambda f, msg: progress(f, desc=msg))

    demo.load(show_status, None, status)
    refresh.click(show_status, None, status)
    ingest.click(on_ingest, files, [result, status], concurrency_limit=1, concurrency_id="ingest")
    return status


def status_text(kg: KG) -> str:
    try:
        return render.status_md(kg.status())
    except Exception as exc:
        return f"⚠️ {render._md(message(exc))}"


def ingest_files(
    kg: KG, paths: list[str] | None, progress: Callable[[float, str], None]
) -> tuple[str, Any]:
    """(result message, refreshed status) after extracting and loading the uploaded files."""
    if not paths:
        return "Choose files to ingest first.", gr.skip()
    try:
        manifest = kg.ingest([Path(p) for p in paths], progress=progress)
    except Exception as exc:
        return f"⚠️ {render._md(message(exc))}", status_text(kg)
    counts = ", ".join(f"{v:,} {k}" for k, v in sorted(manifest.counts.items()))
    skipped = render.skipped_md(manifest.skipped, first=[Path(p).name for p in paths])
    message_ = f"✅ Ingested {len(paths)} file(s). Workspace now: {counts}."
    return message_ + (f"\n\n{skipped}" if skipped else ""), status_text(kg)
