"""kg as an MCP server: the tools an assistant needs to read your notes' graph.

Tools ``search``, ``ask``, ``cypher`` (read-only: the facade runs kg.cypher_guard first),
``entity`` and ``neighbours``, and every document as a resource (``kg://documents/{doc_id}``,
with ``kg://documents`` listing them). ``kg mcp`` serves it over stdio; ``kg serve`` also mounts
it as streamable HTTP at ``/mcp`` (``mount``). Everything goes through the ``KG`` facade, so the
answers are the ones the CLI, the API and the chatbot give.
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import FunctionResource

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.service import KG

MCP_PATH = "/mcp"
DOCUMENT_URI = "kg://documents/{doc_id}"
INSTRUCTIONS = (
    "kg answers from a knowledge graph built from the user's notes. Use `search` for passages, "
    "`ask` for a cited answer, `entity` and `neighbours` to explore the graph, `cypher` for "
    "read-only Cypher over it, and the kg://documents resources for whole notes."
)


def build_server(kg: KG) -> MCPServer:
    """The MCP server over one facade (tools and resources registered here)."""
    server: MCPServer = MCPServer(name="kg", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    @_clear_errors
    def search(query: str, mode: str = "hybrid", k: int = 8) -> dict[str, Any]:
        """Ranked passages (chunks) of the notes for a query, each with its document and span.
        mode: hybrid (default), bm25, vector or graph."""
        hits = kg.search(query, mode=mode, k=_bounded(k, 1, 50))
        return {"hits": [_hit(h) for h in hits]}

    @server.tool()
    @_clear_errors
    def ask(question: str, mode: str = "hybrid", k: int = 6) -> dict[str, Any]:
        """A cited answer from the notes: the answer, its citations (document and character
        span) and the graph facts it used."""
        answer = kg.ask(question, mode=mode, k=_bounded(k, 1, 20))
        return answer.model_dump(
            include={"question", "answer", "citations", "facts", "warnings", "mode"}
        )

    @server.tool()
    @_clear_errors
    def cypher(query: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a read-only Cypher query on the graph (writes are refused); returns columns and
        rows. Use $name parameters rather than literals for user text."""
        table = kg.cypher(query, params or {})
        return table.model_dump()

    @server.tool()
    @_clear_errors
    def entity(name: str) -> dict[str, Any]:
        """An entity by id or name: its type, aliases, relations (facts) and mention snippets;
        with candidates when the name matches several."""
        found = _resolve(kg, name)
        if not found:
            raise ValueError(f"no entity named {name!r}")
        detail = kg.entity(found[0].id)
        assert detail is not None
        out = detail.model_dump(exclude={"entity": {"mentions"}, "snippets": {"__all__": {"text"}}})
        out["candidates"] = [_entity(e) for e in found[1:6]]
        return out

    @server.tool()
    @_clear_errors
    def neighbours(name: str, hops: int = 1, limit: int = 60) -> dict[str, Any]:
        """The entity's neighbourhood: the entities within ``hops`` relations and the relations
        between them (nodes and edges)."""
        found = _resolve(kg, name)
        if not found:
            raise ValueError(f"no entity named {name!r}")
        graph = kg.subgraph([found[0].id], hops=_bounded(hops, 1, 3), limit=_bounded(limit, 1, 300))
        return {"entity": _entity(found[0]), **graph.model_dump()}

    @server.resource("kg://documents", name="documents", mime_type="application/json")
    def documents() -> str:
        """Every document in the workspace: id, path, title, size."""
        return json.dumps([_doc_row(d) for d in kg.workspace.iter("documents")])

    @server.resource(DOCUMENT_URI, name="document", mime_type="text/plain")
    def document(doc_id: str) -> str:
        """One document's full text (character offsets match the spans the tools return)."""
        for d in kg.workspace.iter("documents"):
            if d.id == doc_id:
                return str(d.text)
        raise ValueError(f"no document {doc_id!r}")

    if kg.workspace.exists():  # listed one by one too, so a client can browse them
        for d in kg.workspace.iter("documents"):
            server.add_resource(
                FunctionResource(
                    uri=DOCUMENT_URI.format(doc_id=d.id),
                    name=d.path,
                    title=d.title,
                    mime_type="text/plain",
                    fn=lambda doc_id=d.id: document(doc_id),
                )
            )
    return server


def run_stdio(kg: KG) -> None:
    """``kg mcp``: serve over stdin/stdout until the client closes it."""
    build_server(kg).run("stdio")


def mount(
    app: FastAPI,
    kg: KG,
    *,
    api_key: str | None = None,
    path: str = MCP_PATH,
    host: str = "127.0.0.1",
) -> None:
    """Streamable HTTP at ``path`` on kg serve's app; with ``api_key`` it wants the same
    ``Authorization: Bearer`` as /v1. Its session manager runs inside the app's lifespan. On a
    loopback ``host`` the SDK's DNS-rebinding check accepts only localhost Host headers."""
    server = build_server(kg)
    sub = server.streamable_http_app(streamable_http_path=path, host=host)
    for route in sub.routes:
        if api_key:
            route.app = _bearer(route.app, api_key)  # type: ignore[attr-defined]
        app.router.routes.append(route)
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with server.session_manager.run(), outer(a) as state:
            yield state

    app.router.lifespan_context = lifespan


def _clear_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input and refused Cypher reach the client with their message (the SDK hides the
    text of any other exception as a crash)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _known_errors() as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


@functools.cache
def _known_errors() -> tuple[type[BaseException], ...]:
    from kg.cypher_guard import UnsafeCypherError
    from kg.store.base import StoreError
    from kg.workspace import WorkspaceError

    return (ValueError, LookupError, UnsafeCypherError, StoreError, WorkspaceError)


def _bearer(inner: Any, api_key: str) -> Any:
    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode().partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(
            token.strip().encode(), api_key.encode()
        ):
            await inner(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"www-authenticate", b"Bearer"),
                                (b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"send Authorization: Bearer <key>"})

    return guarded


def _resolve(kg: KG, name: str) -> list[Any]:
    """The entity with this id, else those whose name matches (best first)."""
    name = (name or "").strip()
    if not name:
        raise ValueError("the entity name is empty")
    detail = kg.entity(name)
    if detail is not None:
        return [detail.entity]
    return list(kg.find_entities(name, limit=10))


def _bounded(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, int(value)))


def _hit(hit: Any) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "doc_id": hit.doc_id,
        "document": hit.path,
        "start": hit.start,
        "end": hit.end,
        "score": round(float(hit.score), 6),
        "text": hit.text,
    }


def _entity(e: Any) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "type": e.type}


def _doc_row(d: Any) -> dict[str, Any]:
    return {"id": d.id, "uri": DOCUMENT_URI.format(doc_id=d.id), "path": d.path,
            "title": d.title, "chars": d.chars}  # fmt: skip
