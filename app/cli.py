"""The `kg` command line: extract, load, ask, query, serve, status, eval, export."""

from __future__ import annotations

from app import quiet_start  # isort: skip  (first: a Ctrl-C while importing exits quietly)
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from app.cli_common import (
    JsonOpt,
    ModeOpt,
    Neo4jOpt,
    WorkspaceOpt,
    _existing_workspace,
    _friendly_errors,
    _print_json,
    _settings,
    _workspace,
    err,
    out,
)
from app.cli_eval import eval_app
from app.cli_help import KgCommand, KgGroup
from app.cli_integrations import mcp as mcp_command
from app.cli_integrations import store_app
from app.cli_merges import merges_app
from kg import __version__
from kg.errors import BadInput, MissingDependency, NotFound

app = typer.Typer(
    help=(
        "kg turns a folder of notes into a knowledge graph and answers questions from it.\n\n"
        'Typical run: `kg extract notes/` → `kg load` → `kg ask "…"` or `kg serve`.'
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=KgGroup,
)

@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print kg's version.")] = False,
) -> None:
    if version:
        out.print(f"kg {__version__}")
        raise typer.Exit()


@app.command(cls=KgCommand)
def extract(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to read (recursive).")],
    workspace: WorkspaceOpt = None,
    spacy_only: Annotated[
        bool, typer.Option("--spacy-only", help="No LLM tier (the same as --llm off).")
    ] = False,
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            help="The LLM tier, which checks the trained tier's uncertain relations (true/false), "
            "adds the kinds it has no label for (a course COVERS a topic ...) and writes the "
            "map-reduce summaries: auto (default: run it when its estimate is at most 10 min, "
            "else print how to run it), on, off. Env: KG_LLM.",
        ),
    ] = None,
    llm_budget: Annotated[
        str | None,
        typer.Option(
            "--llm-budget",
            help="Spend at most this long on LLM calls this run (90s, 10m, 1.5h); the next run "
            "continues where this one stopped. Implies --llm on.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show files, chunks and estimated LLM work; write nothing."),
    ] = False,
    ontology: Annotated[
        str | None, typer.Option(help="Built-in ontology name (default, scierc) or a YAML file.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="LLM-tier calls in flight at once (default: the offline server's slots, "
            "KG_LLM_SLOTS; with KG_LLM_BASE_URL at a served pool, raise it to the pool's size)."
        ),
    ] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Characters per chunk.")] = None,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links", help="Also read links that point outside the given folders."
        ),
    ] = False,
    cooccurrence: Annotated[
        bool,
        typer.Option(
            "--cooccurrence", help="Also relate names that share a sentence (weak RELATED_TO)."
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Make PATHS the workspace's only sources (by default they are added to the "
            "folders and uploads it already has); what goes is listed first.",
        ),
    ] = False,
    no_trained: Annotated[
        bool,
        typer.Option(
            "--no-trained",
            help="Skip the trained tier (kg's SciERC model for methods, tasks, metrics, datasets, "
            "concepts and their relations); spaCy noun phrases stand in for it.",
        ),
    ] = False,
    no_self_train: Annotated[
        bool,
        typer.Option(
            "--no-self-train",
            help="Do not learn a relation head from the corpus's own tables and lists "
            "(its edges carry extractor 'learned').",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes for the per-chunk work (spaCy, the trained tier), each loading the "
            "models once; default: the machine's cores. The output is the same for any number.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(help="local (a process pool) or ray (a Ray cluster; needs the ray extra)."),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="With --engine ray: the cluster (default: start one)."),
    ] = None,
) -> None:
    """Read documents, find entities and relations, write the graph to the workspace.

    The trained tier (kg's model) and spaCy write the graph first: it can be loaded and asked at
    once. Then the LLM tier refines it chunk by chunk, checkpointing every answer, so Ctrl-C or
    --llm-budget stops it and the next run continues. Re-runs only redo what changed; an
    unchanged corpus makes no LLM calls."""
    from pipelines.extraction.llm_speed import parse_duration
    from pipelines.extraction.pipeline import run_extract

    with _friendly_errors():
        if llm is not None and llm not in {"auto", "on", "off"}:
            raise typer.BadParameter(f"{llm!r} is not one of auto, on, off", param_hint="--llm")
        if engine not in {"local", "ray"}:
            raise typer.BadParameter(f"{engine!r} is not one of local, ray", param_hint="--engine")
        try:
            budget = parse_duration(llm_budget) if llm_budget is not None else None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--llm-budget") from None
        settings = _settings(
            workspace,
            ontology=ontology,
            llm_concurrency=concurrency,
            chunk_size=chunk_size,
            follow_links=follow_links or None,
            cooccurrence=cooccurrence or None,
            trained=False if no_trained else None,
            self_train=False if no_self_train else None,
            llm_mode="off" if spacy_only else ("on" if budget and llm is None else llm),
            llm_budget_s=budget,
        )
        for p in paths:
            if not p.exists():
                raise NotFound(f"no such file or folder: {p}")
        manifest = run_extract(
            paths, _workspace(settings), settings, spacy_only=spacy_only, dry_run=dry_run,
            workers=workers, engine=engine, ray_address=ray_address, replace=replace,
        )  # fmt: skip
        if dry_run:
            return
        for skipped in manifest.skipped:
            err.print(f"[yellow]skipped[/] {skipped.path}: {skipped.reason}")
        if not manifest.counts.get("documents"):
            err.print(
                "[bold red]error:[/] no readable documents found in " + ", ".join(map(str, paths))
            )
            raise typer.Exit(1)
        counts = ", ".join(f"{v} {k}" for k, v in manifest.counts.items())
        usage = manifest.llm_usage
        out.print(
            f"[green]extracted[/] {counts} into {settings.workspace}/ in {manifest.seconds:.1f}s "
            f"(LLM calls {usage.calls}, cached {usage.cached}, "
            f"tokens {usage.prompt_tokens}+{usage.completion_tokens}; {_fmt_coverage(manifest)})"
        )


def _fmt_coverage(manifest: Any) -> str:
    cov = manifest.llm_coverage
    if cov.state == "off":
        return "LLM tier off"
    share = 100 * cov.done / cov.needed if cov.needed else 100.0
    return f"LLM tier {cov.done}/{cov.needed} chunks ({share:.0f} %, {cov.state})"


@app.command(cls=KgCommand)
def load(
    workspace: WorkspaceOpt = None,
    neo4j: Neo4jOpt = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Clear the graph and load it all.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 1000,
    entity_vectors: Annotated[
        bool,
        typer.Option("--entity-vectors", help="Also write entity-name vectors (Entity.embedding)."),
    ] = False,
) -> None:
    """Write the workspace graph into the store (embedded FalkorDB, or Neo4j with --neo4j).

    Idempotent and incremental: only changed documents are rewritten."""
    from kg.store import open_store
    from pipelines.load import load_workspace

    with _friendly_errors():
        settings = _settings(workspace, neo4j)
        ws = _workspace(settings)
        ws.manifest()
        with open_store(settings, ws) as store:
            report = load_workspace(
                ws, store, rebuild=rebuild, batch_size=batch_size, entity_vectors=entity_vectors
            )
        out.print(f"[green]loaded[/] into {settings.store}: {_fmt_counts(report.written)}")


def _fmt_counts(counts: Any) -> str:
    data = counts if isinstance(counts, dict) else dict(counts)
    return ", ".join(f"{v} {k}" for k, v in data.items())


@app.command(cls=KgCommand)
def ask(
    question: Annotated[str, typer.Argument(help="A question about your documents.")],
    workspace: WorkspaceOpt = None,
    mode: ModeOpt = "hybrid",
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Chunks to retrieve.")] = 6,
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="Retrieval only: quote the best sentences.")
    ] = False,
    neo4j: Neo4jOpt = False,
    as_json: JsonOpt = False,
    path: Annotated[
        str,
        typer.Option(
            "--path",
            help="How the answer is chosen: sentence (the LLM picks a candidate and writes a "
            "sentence with it), choice (the LLM picks), candidates (the ranking, no LLM).",
        ),
    ] = "sentence",
) -> None:
    """Answer a question from the graph and the chunks, with numbered citations."""
    from app.service import KG
    from kg.answer import PATHS

    if path not in PATHS:
        raise typer.BadParameter(f"--path must be one of {', '.join(PATHS)}")
    with _friendly_errors():
        kg = KG(_settings(workspace, neo4j), use_llm=not no_llm and path != "candidates")
        try:
            answer = kg.ask(question, mode=mode, k=k, path=path)
        finally:
            kg.close()
        answer = _renumber(answer)
        if as_json:
            _print_json(answer.model_dump())
            return
        out.print(answer.answer, markup=False, highlight=False, soft_wrap=True)
        for w in answer.warnings:
            err.print(f"[yellow]warning:[/] {escape(w)}")
        if answer.citations:
            out.print("\n[bold]Sources[/]")
            for c in answer.citations:
                snippet = " ".join(c.snippet.split())[:160]
                out.print(f"  [{c.n}] {c.path} (chars {c.start}–{c.end}): {snippet}",
                          markup=False, highlight=False, soft_wrap=True)  # fmt: skip
        if answer.facts:
            out.print("\n[bold]Graph facts used[/]")
            for f in answer.facts:
                out.print(f"  {f.head} -{f.type}-> {f.tail}", markup=False, highlight=False,
                          soft_wrap=True)  # fmt: skip


def _renumber(answer: Any) -> Any:
    """Citations as [1], [2]… in the order listed (the answer cites passage numbers)."""
    import re

    new = {c.n: i for i, c in enumerate(answer.citations, 1)}
    if all(k == v for k, v in new.items()):
        return answer
    text = re.sub(r"\[(\d+)\]", lambda m: f"[{new.get(int(m.group(1)), m.group(1))}]",
                  answer.answer)  # fmt: skip
    citations = [c.model_copy(update={"n": new[c.n]}) for c in answer.citations]
    return answer.model_copy(update={"answer": text, "citations": citations})


@app.command(cls=KgCommand)
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    workspace: WorkspaceOpt = None,
    mode: ModeOpt = "hybrid",
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Chunks to show.")] = 10,
    neo4j: Neo4jOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rank chunks for a query (no LLM), from the store once the workspace is loaded."""
    from app.service import KG, RETRIEVAL_MODES

    if mode not in RETRIEVAL_MODES:  # cypher is a way to answer (kg ask), not to rank chunks
        raise typer.BadParameter(
            f"{mode!r} is not a search mode (use {', '.join(RETRIEVAL_MODES)}; "
            "text-to-Cypher is `kg ask --mode cypher`)",
            param_hint="--mode",
        )
    with _friendly_errors():
        kg = KG(_settings(workspace, neo4j), use_llm=False)
        try:
            hits = kg.search(query, mode=mode, k=k)
        finally:
            kg.close()
        if as_json:
            _print_json({"query": query, "mode": mode, "hits": [h.model_dump() for h in hits]})
            return
        table = Table("#", "score", "document", "span", "text")
        for i, h in enumerate(hits, 1):
            table.add_row(
                str(i),
                f"{h.score:.3f}",
                h.path,
                f"{h.start}–{h.end}",
                " ".join(h.text.split())[:90],
            )
        out.print(table)


@app.command(cls=KgCommand)
def query(
    cypher: Annotated[str, typer.Argument(help="A read-only Cypher query.")],
    workspace: WorkspaceOpt = None,
    neo4j: Neo4jOpt = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Query parameter name=value.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a read-only Cypher query against the store (writes are refused)."""
    from app.service import KG

    with _friendly_errors():
        params: dict[str, Any] = {}
        for item in param or []:
            name, eq, value = item.partition("=")
            if not eq or not name.strip():
                raise typer.BadParameter(
                    f"{item!r} is not name=value (e.g. -p top=5)", param_hint="--param"
                )
            try:
                params[name] = json.loads(value)
            except json.JSONDecodeError:
                params[name] = value
        kg = KG(_existing_workspace(_settings(workspace, neo4j)), use_llm=False)
        try:
            result = kg.cypher(cypher, params)
            not_loaded = _not_loaded_warning(kg)
        finally:
            kg.close()
        if not_loaded:
            err.print(f"[yellow]warning:[/] {not_loaded}")
        if as_json:
            _print_json(result.model_dump())
            return
        table = Table(*result.columns) if result.columns else Table("(no rows)")
        for row in result.rows:
            table.add_row(
                *[json.dumps(v, default=str) if not isinstance(v, str) else v for v in row]
            )
        out.print(table)


def _not_loaded_warning(kg: Any) -> str | None:
    """Why a query's answer may be empty: the embedded store never got a completed load."""
    from pipelines.load import STATE_FILE

    if kg.settings.store != "falkordb" or kg.settings.falkordb_url:
        return None  # another store: its contents are the user's business
    if (kg.workspace.root / STATE_FILE).is_file():
        return None
    return "the store is not loaded (no completed `kg load` of this workspace): run `kg load`"


@app.command(cls=KgCommand)
def status(
    workspace: WorkspaceOpt = None, neo4j: Neo4jOpt = False, as_json: JsonOpt = False
) -> None:
    """Show what is in the workspace and in the store."""
    from app.service import KG

    with _friendly_errors():
        kg = KG(_existing_workspace(_settings(workspace, neo4j)), use_llm=False)
        try:
            st = kg.status()
        finally:
            kg.close()
        if as_json:
            _print_json(st.model_dump())
            return
        out.print(f"[bold]workspace[/] {st.workspace}")
        if st.manifest is None:
            out.print("  empty — run `kg extract PATH` first")
        else:
            m = st.manifest
            out.print(f"  {_fmt_counts(m.counts)}")
            out.print(f"  ontology {m.ontology}, created {m.created_at}, kg {m.kg_version}")
            out.print(f"  models: {_fmt_counts(m.models)}")
            out.print(f"  {_fmt_coverage(m)}")
            _print_sources(m)
        out.print(
            f"[bold]store[/] {st.store}: "
            + (st.store_error or _fmt_counts(st.store_counts) or "empty")
        )
        if st.store_warning:
            err.print(f"[yellow]warning:[/] {escape(st.store_warning)}")


def _print_sources(m: Any) -> None:
    """The workspace's sources, missing ones, and what the last extract removed."""
    for source in m.sources:
        n = len(m.source_documents.get(source, []))
        gone = " [yellow](missing: documents kept from the last run)[/]"
        line = f"  source {escape(source)}: {n} documents"
        out.print(line + (gone if source in m.missing_sources else ""))
    for doc in m.removed:
        err.print(f"[yellow]removed by the last extract:[/] {escape(doc.path)} ({doc.reason})")


@app.command(cls=KgCommand)
def serve(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it private.")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port for the chatbot and the API.")
    ] = 7860,
    auth: Annotated[
        str | None, typer.Option(help="user:password for the chatbot (or $KG_AUTH).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Bearer token required on /v1/* (or $KG_API_KEY).")
    ] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Retrieval-only answers.")] = False,
    neo4j: Neo4jOpt = False,
    store_port: Annotated[
        int | None,
        typer.Option(help="Also serve the embedded FalkorDB on 127.0.0.1:PORT (LangChain)."),
    ] = None,
) -> None:
    """Start the Gradio chatbot (at /ui), the HTTP API (at /v1, docs at /docs) and MCP (/mcp)."""
    from kg.procs import Stopped, raise_on_stop_signals

    raise_on_stop_signals()  # from here a SIGTERM or Ctrl-C at any moment exits 0 or 130
    with _friendly_errors():
        try:
            from app.server import serve as run_server
        except Stopped as stop:
            raise typer.Exit(stop.exit_code) from None
        except ImportError as exc:  # a core install: no Gradio, FastAPI, uvicorn
            raise MissingDependency.extra("serve", "kg serve", exc) from exc
        settings = _settings(workspace, neo4j)
        if workspace is not None:  # a folder named by the user must exist: never create it
            _existing_workspace(settings)
        run_server(
            settings,
            host=host,
            port=port,
            auth=auth or os.environ.get("KG_AUTH"),
            api_key=api_key or os.environ.get("KG_API_KEY"),
            use_llm=not no_llm,
            store_port=store_port,
        )


@app.command(cls=KgCommand)
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="cypher, csv or graphml.")] = "csv",
    output: Annotated[Path, typer.Option("--out", "-o", help="Output file or folder.")] = Path(
        "kg-export"
    ),
    workspace: WorkspaceOpt = None,
) -> None:
    """Export the graph for neo4j-admin import (csv), cypher-shell (cypher) or Gephi (graphml)."""
    from kg.export import export_workspace

    with _friendly_errors():
        if fmt not in ("cypher", "csv", "graphml"):
            raise BadInput(f"unknown format {fmt!r} (use cypher, csv or graphml)")
        ws = _workspace(_settings(workspace))
        ws.manifest()
        written = export_workspace(ws, fmt, output)
        out.print(f"[green]exported[/] {fmt} to {written}")


def _register_train() -> None:
    """`kg train` lives in pipelines.train (its heavy imports happen only when it runs)."""
    from app.train_cli import train_command

    app.command("train", cls=KgCommand)(train_command)


_register_train()
app.add_typer(eval_app, name="eval")
app.add_typer(merges_app, name="merges")
app.command("mcp", cls=KgCommand)(mcp_command)
app.add_typer(store_app, name="store")
quiet_start.release()  # kg's modules are in: Ctrl-C is a KeyboardInterrupt again

if __name__ == "__main__":
    app()
