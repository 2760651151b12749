"""What every `kg` command shares: options, consoles, settings and one-line error handling."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from kg.config import Settings
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


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors that deserve one clear line, not a traceback."""
    from kg.workspace import WorkspaceError

    errors: list[type[BaseException]] = [
        WorkspaceError,
        FileNotFoundError,
        NotADirectoryError,
        PermissionError,
        ValueError,
        ConnectionError,
    ]
    for module, name in (
        ("kg.store.base", "StoreError"),
        ("kg.llm.client", "LLMUnavailable"),
        ("kg.cypher_guard", "UnsafeCypherError"),
        ("pipelines.load", "LoadMismatch"),
        ("redis", "RedisError"),
    ):
        with suppress(ImportError, AttributeError):
            errors.append(getattr(__import__(module, fromlist=[name]), name))
    return tuple(errors)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/] — finished work is kept; re-run to resume")
        raise typer.Exit(130) from None
    except Exception as exc:
        if not isinstance(exc, _known_errors()) or os.environ.get("KG_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] {' '.join(str(exc).split())}")
        raise typer.Exit(2 if _is_bad_query(exc) else 1) from None


def _is_bad_query(exc: BaseException) -> bool:
    """A refused, invalid or under-parameterised query: a usage error (exit 2, like Click's)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"UnsafeCypherError", "MissingParameter", "QueryError"})


def _existing_workspace(settings: Settings) -> Settings:
    """Refuse a workspace folder that is not there (opening the store would create it)."""
    from kg.workspace import WorkspaceError

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
