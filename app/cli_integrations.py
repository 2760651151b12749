"""`kg mcp` and `kg store serve`: kg's graph for the user's own tools (MCP clients, LangChain)."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from app.cli_common import (
    Neo4jOpt,
    WorkspaceOpt,
    _existing_workspace,
    _friendly_errors,
    _settings,
    err,
)
from app.cli_help import KgCommand, KgGroup

store_app = typer.Typer(
    help="The graph store: serve kg's embedded FalkorDB to other tools.", cls=KgGroup
)

PortOpt = Annotated[
    int, typer.Option("--port", "-p", help="TCP port on 127.0.0.1 (0: a free one).")
]


def mcp(
    workspace: WorkspaceOpt = None,
    neo4j: Neo4jOpt = False,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Retrieval-only answers.")] = False,
) -> None:
    """Serve kg to an MCP client over stdio (`kg serve` also serves MCP over HTTP at /mcp).

    Tools: search, ask, cypher (read-only), entity, neighbours; the documents as resources."""
    from app.service import KG
    from kg.errors import MissingDependency

    with _friendly_errors():
        try:
            from app.mcp_server import run_stdio
        except ImportError as exc:  # the MCP SDK is the `mcp` extra
            raise MissingDependency.extra("mcp", "kg mcp", exc) from exc
        kg = KG(_existing_workspace(_settings(workspace, neo4j)), use_llm=not no_llm)
        try:
            run_stdio(kg)
        finally:
            kg.close()


@store_app.command("serve", cls=KgCommand)
def store_serve(workspace: WorkspaceOpt = None, port: PortOpt = 6379) -> None:
    """Serve kg's embedded FalkorDB on 127.0.0.1:PORT until Ctrl-C (LangChain, redis-cli).

    Loopback only; LangChain's FalkorDBGraph(database=GRAPH, host="127.0.0.1", port=PORT)."""
    from kg.integrations.falkordb import expose
    from kg.procs import Stopped, raise_on_stop_signals
    from kg.store import open_store

    raise_on_stop_signals()
    with _friendly_errors():
        settings = _existing_workspace(_settings(workspace))
        store = open_store(settings, settings.workspace)
        try:
            where = expose(store, port)
            typer.echo(
                f"kg: FalkorDB at {where.url} (graph {where.graph!r}); "
                f'FalkorDBGraph(database="{where.graph}", host="{where.host}", '
                f"port={where.port}). Ctrl-C stops it.",
                err=True,
            )
            threading.Event().wait()
        except (Stopped, KeyboardInterrupt):
            pass
        finally:
            store.close()
    err.print("kg: store stopped")


def expose_store(kg: object, port: int) -> None:
    """`kg serve --store-port`: the facade's store on a loopback port too (printed)."""
    from kg.integrations.falkordb import expose

    where = expose(kg.store, port)  # type: ignore[attr-defined]
    print(f"kg: graph store at {where.url} (graph {where.graph!r})", flush=True)
