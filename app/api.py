"""The HTTP API: FastAPI over the ``KG`` facade, with the Gradio chatbot mounted at ``/ui``.

Errors are JSON problems ``{title, detail, status}`` (never a traceback); ``/v1/*`` needs a
bearer token when an API key is set; request bodies and query strings are capped.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api_docs import mount_docs
from app.errors import describe
from kg import __version__
from kg.errors import BadInput
from kg.models import Answer, CypherTable, Entity, EntityDetail, Mode, SearchHit

if TYPE_CHECKING:
    from app.service import KG

MAX_QUERY_CHARS = 4000
MAX_CYPHER_CHARS = 20_000
MAX_BODY_BYTES = 256 * 1024
MAX_HISTORY = 20
KEEPALIVE_S = 10.0  # an SSE comment this often while the model is busy (proxies drop idle)
NOT_BLANK = r"\S"  # at least one non-space character


# ---- request / response bodies ----


class SearchRequest(BaseModel):
    query: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK, description="Search text."
    )
    mode: Mode = "hybrid"
    k: int = Field(8, ge=1, le=100)


class SearchResponse(BaseModel):
    query: str
    mode: str
    hits: list[SearchHit]
    took_ms: float


class Turn(BaseModel):
    question: str = Field(max_length=MAX_QUERY_CHARS)
    answer: str = Field(max_length=20_000)


AnswerPath = Literal["candidates", "choice", "sentence"]


class AskRequest(BaseModel):
    question: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK, description="The question."
    )
    mode: Mode = "hybrid"
    k: int = Field(6, ge=1, le=50)
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY)
    path: AnswerPath = Field(
        "sentence",
        description="candidates: the best-ranked candidate, no LLM; choice: the LLM picks a "
        "candidate; sentence: it also writes one sentence containing it",
    )


class CypherRequest(BaseModel):
    query: str = Field(
        min_length=1,
        max_length=MAX_CYPHER_CHARS,
        pattern=NOT_BLANK,
        description="A read-only Cypher query; writes are refused.",
    )
    params: dict[str, Any] = Field(default_factory=dict)


class Problem(BaseModel):
    """An error, shaped like RFC 9457's problem details."""

    title: str
    detail: str
    status: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = __version__


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unavailable"]
    workspace: str = ""
    store: str = ""
    store_counts: dict[str, int] = Field(default_factory=dict)
    checks: dict[str, str] = Field(default_factory=dict)


class ProblemError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = Problem(status=status, title=title, detail=detail)


def _problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(),
        status_code=problem.status,
        headers=headers,
    )


@contextmanager
def _facade_errors() -> Iterator[None]:
    """Turn the facade's exceptions into problems; unknown ones become a logged 500."""
    try:
        yield
    except ProblemError:
        raise
    except Exception as exc:
        p = describe(exc)
        raise ProblemError(p.status, p.title, p.detail) from exc


def _cap(text: str, limit: int, what: str) -> str:
    if len(text) > limit:
        raise ProblemError(413, "Too large", f"{what} has {len(text)} characters (limit {limit})")
    if not text.strip():
        raise ProblemError(400, "Invalid request", f"{what} is empty")
    return text


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in {
        400: "Bad input (a refused write query, a Cypher syntax error)",
        401: "Missing or wrong bearer token",
        404: "No such entity",
        413: "Body or text too large",
        422: "Body does not match the schema",
        503: "Store, workspace or LLM unavailable",
    }.items()
}


# ---- middleware: cap /v1 bodies before they are read ----


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, prefix: str = "/v1") -> None:
        self.app, self.limit, self.prefix = app, limit, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        too_big = _problem_response(
            Problem(status=413, title="Too large", detail=f"request body over {self.limit} bytes")
        )
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await too_big(scope, receive, send)
            return
        # no (or an honest) length: read the body up to the limit, then replay it
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await too_big(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ---- the app ----


def create_app(
    kg: KG,
    *,
    api_key: str | None = None,
    mount_ui: bool = True,
    ui_auth: tuple[str, str] | None = None,
) -> FastAPI:
    """The API (``/v1``, ``/healthz``, ``/readyz``) and, unless ``mount_ui`` is off, ``/ui``."""
    api_key = api_key if api_key is not None else (os.environ.get("KG_API_KEY") or None)
    app = FastAPI(
        title="kg",
        version=__version__,
        description="Search and question answering over a knowledge graph built from your notes.",
        docs_url=None,  # app.api_docs serves /docs from local assets (no CDN)
        redoc_url=None,
    )
    mount_docs(app, "kg")
    app.state.kg = kg
    app.add_middleware(BodyLimit)

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.problem.status == 401 else None
        return _problem_response(exc.problem, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors[:5]
        )
        if any(e.get("type") == "string_too_long" for e in errors):
            return _problem_response(Problem(status=413, title="Too large", detail=details))
        return _problem_response(Problem(status=422, title="Invalid request", detail=details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem_response(
            Problem(status=exc.status_code, title="HTTP error", detail=str(exc.detail)),
            headers=getattr(exc, "headers", None),
        )

    from app.document_page import link_signature, sign_links

    sign_links(api_key)
    bearer = HTTPBearer(auto_error=False, description="the --api-key (KG_API_KEY) token")

    def authorised(request: Request) -> None:
        if api_key is None:
            return
        sig = request.query_params.get("sig")
        doc_id = request.path_params.get("doc_id")
        if sig and doc_id and request.url.path.startswith("/v1/documents/"):
            expected = link_signature(str(doc_id), api_key.encode())
            if secrets.compare_digest(sig.encode(), expected.encode()):
                return  # a signed link from the chat (it cannot send a bearer token)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            token.strip().encode(), api_key.encode()
        ):
            raise ProblemError(401, "Unauthorised", "send Authorization: Bearer <api key>")

    # the HTTPBearer dependency (it checks nothing itself) gives /docs its Authorize button;
    # declared only when a key is required, so the OpenAPI document never promises a check
    # that is not made
    guards = [Depends(bearer), Depends(authorised)] if api_key else [Depends(authorised)]
    v1 = APIRouter(prefix="/v1", dependencies=guards, responses=_ERRORS)

    @v1.post("/search", response_model=SearchResponse, summary="Ranked chunks for a query")
    def search(body: SearchRequest) -> SearchResponse:
        query = _cap(body.query, MAX_QUERY_CHARS, "query")
        started = time.perf_counter()
        with _facade_errors():
            hits = kg.search(query, mode=body.mode, k=body.k)
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(query=query, mode=body.mode, hits=hits, took_ms=round(took, 2))

    @v1.post("/ask", response_model=Answer, summary="A cited answer")
    def ask(body: AskRequest) -> Answer:
        question = _cap(body.question, MAX_QUERY_CHARS, "question")
        with _facade_errors():
            return kg.ask(
                question, mode=body.mode, k=body.k, history=_history(body), path=body.path
            )

    @v1.post(
        "/ask/stream",
        summary="A cited answer as server-sent events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
    )
    def ask_stream(body: AskRequest) -> StreamingResponse:
        """Events: ``retrieval`` ({sources, facts}) as soon as they are found, ``delta``
        ({text}: the chosen answer, as soon as the LLM has picked it), then ``answer`` (the
        Answer, with its citations, graph facts and ``selected_by``); an SSE comment
        (``: keep-alive``) at least every 15 s while the model is busy."""
        from kg.answer.stream import AnswerStream

        question = _cap(body.question, MAX_QUERY_CHARS, "question")

        def produce(on_retrieval: Any) -> Iterator[str | Answer]:
            return kg.stream_ask(
                question,
                mode=body.mode,
                k=body.k,
                history=_history(body),
                on_retrieval=on_retrieval,
                path=body.path,
            )

        stream = AnswerStream(produce, KEEPALIVE_S, describe)
        with _facade_errors():
            stream.first()  # retrieval errors still get a proper status
        return StreamingResponse(
            stream.events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @v1.get("/entities", response_model=list[Entity], summary="Entities matching a name")
    def entities(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK)],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> list[Entity]:
        _cap(q, MAX_QUERY_CHARS, "q")
        with _facade_errors():
            return kg.find_entities(q, limit=limit)

    @v1.get("/entities/{entity_id}", response_model=EntityDetail, summary="One entity")
    def entity(entity_id: Annotated[str, PathParam(max_length=200)]) -> EntityDetail:
        with _facade_errors():
            detail = kg.entity(entity_id)
        if detail is None:
            raise ProblemError(404, "Not found", f"no entity with id {entity_id!r}")
        return detail

    @v1.get(
        "/documents/{doc_id}",
        response_model=None,  # an HTML page; its errors stay JSON problems like every route's
        summary="A document as a page, the cited span marked",
        responses={
            200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "page"}
        },
    )
    def document(
        doc_id: Annotated[str, PathParam(max_length=200)],
        start: Annotated[int | None, Query(ge=0)] = None,
        end: Annotated[int | None, Query(ge=0)] = None,
    ) -> HTMLResponse:
        """Where the chat's sources link to: ``start``/``end`` are document offsets."""
        from app.document_page import document_page, find_document

        with _facade_errors():
            doc = find_document(kg.workspace, doc_id)
        if doc is None:
            raise ProblemError(404, "Not found", f"no document with id {doc_id!r}")
        return HTMLResponse(document_page(doc, start, end))

    @v1.post("/cypher", response_model=CypherTable, summary="A read-only Cypher query")
    def cypher(body: CypherRequest) -> CypherTable:
        query = _cap(body.query, MAX_CYPHER_CHARS, "query")
        with _facade_errors():
            return kg.cypher(query, body.params)

    app.include_router(v1)

    @app.get("/healthz", response_model=Health, summary="The process is up")
    def healthz() -> Health:
        return Health()

    @app.get(
        "/readyz",
        response_model=Readiness,
        summary="Store and indexes loaded; LLM reachable or reported as degraded",
        responses={503: {"model": Readiness}},
    )
    def readyz() -> JSONResponse:
        ready = readiness(kg)
        return JSONResponse(
            ready.model_dump(), status_code=503 if ready.status == "unavailable" else 200
        )

    if mount_ui:
        _mount_ui(app, kg, ui_auth)
    else:

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

    return app


def readiness(kg: KG) -> Readiness:
    """Ready when the store answers and a search runs; degraded when only the LLM is missing."""
    checks: dict[str, str] = {}
    try:
        status = kg.status()
    except Exception as exc:
        return Readiness(status="unavailable", checks={"status": describe(exc).detail})
    checks["workspace"] = "ok" if status.manifest else "no extraction yet"
    checks["store"] = status.store_error or "ok"
    try:
        kg.search("readiness probe", mode="bm25", k=1)
        checks["indexes"] = "ok"
    except Exception as exc:
        checks["indexes"] = describe(exc).detail
    checks["llm"] = status.llm_error or (status.llm or "ok")
    failed = any(checks[name] != "ok" for name in ("workspace", "store", "indexes"))
    store_empty = bool(
        status.manifest
        and status.manifest.counts.get("chunks")
        and not status.store_error
        and not any(status.store_counts.values())
    )
    if store_empty:
        checks["store"] = "empty: run `kg load` (search works; Cypher and graph views are empty)"
    state: Literal["ready", "degraded", "unavailable"] = (
        "unavailable" if failed else "degraded" if status.llm_error or store_empty else "ready"
    )
    return Readiness(
        status=state,
        workspace=status.workspace,
        store=status.store,
        store_counts=status.store_counts,
        checks=checks,
    )


def _history(body: AskRequest) -> list[tuple[str, str]]:
    return [(t.question, t.answer) for t in body.history]


def _mount_ui(app: FastAPI, kg: KG, auth: tuple[str, str] | None) -> None:
    import gradio as gr

    from app.ui import CSS, THEME, build_app

    gr.mount_gradio_app(
        app,
        build_app(kg),
        path="/ui",
        auth=auth,
        theme=THEME,
        css=CSS,
        show_error=False,
        footer_links=[],
    )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` → a tuple; ``None``/empty → no auth."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise BadInput("auth must look like user:password")
    return user, password
