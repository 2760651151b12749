"""What every `kg` command shares: options, consoles, settings and one-line error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from app.errors import debug
from kg.config import Settings
from kg.errors import EXIT_INTERNAL, INTERNAL_MESSAGE, WorkspaceError, as_user_error
from kg.models import Mode

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the width

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default ./.kg or $KG_WORKSPACE)."),
]
Neo4jOpt = Annotated[
    bool,
    typer.Option(
        "--neo4j",
        help="Use Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD) instead of the embedded FalkorDB.",
    ),
]
ModeOpt = Annotated[
    Mode,
    typer.Option(
        "--mode",
        "-m",
        help=(
            "bm25: words, vector: meaning, graph: entities, hybrid: all three, "
            "cypher: LLM-written Cypher."
        ),
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _settings(workspace: Path | None = None, neo4j: bool = False, **kw: Any) -> Settings:
    overrides: dict[str, Any] = {"workspace": workspace, **kw}
    if neo4j:
        overrides["store"] = "neo4j"
    settings = Settings.from_env(**overrides)
    if settings.store == "neo4j" and not settings.neo4j_uri:
        settings = settings.model_copy(update={"neo4j_uri": "bolt://localhost:7687"})
    return settings


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """A user's error (``kg.errors.as_user_error``) is one line and its exit code; anything else
    is a bug: a short "internal error, please report" and exit 70, or the traceback under
    ``KG_DEBUG=1``."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # typer.Exit, typer.BadParameter (a TyperException): Typer prints and exits
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/] — finished work is kept; re-run to resume")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug():
            raise
        user = as_user_error(exc)
        if user is not None:
            err.print(f"[bold red]error:[/] {escape(user.message)}")
            raise typer.Exit(user.exit_code) from None
        err.print(f"[bold red]error:[/] {escape(f'{INTERNAL_MESSAGE} [{type(exc).__name__}]')}")
        raise typer.Exit(EXIT_INTERNAL) from None


def _existing_workspace(settings: Settings) -> Settings:
    """Refuse a workspace folder that is not there (opening the store would create it)."""
    embedded = settings.store == "falkordb" and not settings.falkordb_url
    if embedded and not settings.workspace.is_dir():
        raise WorkspaceError(
            f"workspace {settings.workspace} does not exist (run `kg extract PATH` first, "
            "or pass --workspace)"
        )
    return settings


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _workspace(settings: Settings) -> Any:
    from kg.workspace import Workspace

    return Workspace(settings.workspace)
