"""One facade over the stages, shared by the CLI, the Gradio app and the HTTP API.

Heavy parts (indexes, the store, the LLM) are opened lazily and kept for the life of the
object, so a chatbot process pays for them once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from kg.config import Settings
from kg.errors import BadInput, WorkspaceLocked
from kg.models import (
    Answer,
    Citation,
    CypherTable,
    Entity,
    EntityDetail,
    GraphEdge,
    GraphFact,
    GraphNode,
    Manifest,
    SearchHit,
    Status,
    Subgraph,
)
from kg.ontology import Ontology, load_ontology
from kg.workspace import Workspace, WorkspaceError

RETRIEVAL_MODES = ("hybrid", "bm25", "vector", "graph")
CYPHER_TIMEOUT_MS = 10_000  # user and chatbot Cypher; enforced by the store and its client
UPLOAD_LLM_BUDGET_S = 60.0  # an upload in the chatbot waits this long at most for the LLM tier

log = logging.getLogger(__name__)


class KG:
    def __init__(self, settings: Settings, *, use_llm: bool = True) -> None:
        self.settings = settings
        self.workspace = Workspace(settings.workspace)
        self.use_llm = use_llm
        self._lock = threading.RLock()  # the indexes
        self._store_lock = threading.RLock()  # the store's life (open, restart, close)
        self._ingest_lock = threading.Lock()  # one ingest at a time; reads never wait for it
        self._retriever: Any = None
        self._opened: tuple[int, int] | None = None  # the workspace version the indexes show
        self._store: Any = None
        self._llm_error: str | None = None
        self.cypher_timeout_ms = CYPHER_TIMEOUT_MS

    # ---- lazily opened parts ----

    @cached_property
    def ontology(self) -> Ontology:
        manifest = self.workspace.manifest() if self.workspace.exists() else None
        return load_ontology(manifest.ontology if manifest else self.settings.ontology)

    @property
    def retriever(self) -> Any:
        self._refresh_if_changed()
        current = self._retriever
        if current is not None:
            return current
        with self._lock:
            if self._retriever is None:
                self.workspace.manifest()  # a clear error when there is nothing to search
                self._opened = _workspace_version(self.workspace)
                self._retriever = self._open_retriever()
            return self._retriever

    def _open_retriever(self) -> Any:
        """Store-backed once the workspace is loaded (or the store is external): the retriever
        reads through ``self.store``, so a restarted store is picked up."""
        from kg.retrieval import Retriever
        from kg.retrieval.retriever import store_wanted

        wanted = store_wanted(self.workspace, self.settings, None)
        store = (lambda: self.store) if wanted else None
        return Retriever.open(self.workspace, self.settings, store=store)

    _CACHED = ("_entities", "_chunks", "_doc_paths", "_relations", "_summaries", "_answer_sources")

    def _refresh_if_changed(self) -> None:
        """A CLI `kg extract` / `kg load` of this workspace while we serve it: reopen the
        indexes, so no answer cites a document that is gone (two stat calls a request)."""
        if self._opened is None:
            return
        seen = _workspace_version(self.workspace)
        if seen == self._opened or _extract_running(self.workspace):
            return  # unchanged, or half-written: keep serving the old indexes until it ends
        with self._lock:
            if seen == self._opened:
                return
            log.info("workspace changed on disk: reopening the indexes")
            self._retriever = None
            for name in self._CACHED:
                self.__dict__.pop(name, None)
            self.__dict__.pop("ontology", None)
            self._opened = None

    @property
    def store(self) -> Any:
        """The open store; one whose server died (killed, or crashed by a query) is closed
        and opened again here, which restarts the embedded FalkorDB on its data."""
        with self._store_lock:
            if self._store is not None and not _alive(self._store):
                self._drop_store()
            if self._store is None:
                from kg.store import open_store

                self._store = open_store(self.settings, self.workspace)
            return self._store

    def _drop_store(self) -> None:
        with self._store_lock:
            store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception as exc:  # a dead server cannot be shut down cleanly
                log.warning("closing the lost store: %s", exc)

    @property
    def chat(self) -> Any:
        """The chat model, or None when the LLM is off or down (``llm_problem`` says why); a
        dead offline server is restarted in the background (kg.llm.runtime.ChatKeeper)."""
        if not self.use_llm:
            return None
        chat = self._llm.get()
        self._llm_error = self._llm.problem() if chat is None else None
        return chat

    @cached_property
    def _llm(self) -> Any:
        from kg.llm.runtime import ChatKeeper

        def build() -> Any:
            from kg.llm.client import chat_model

            return chat_model(self.settings, max_tokens=512)

        return ChatKeeper(self.settings, build)

    # ---- reading ----

    def status(self) -> Status:
        status = Status(workspace=str(self.workspace.root), store=self.settings.store)
        if self.workspace.exists():
            status.manifest = self.workspace.manifest()
        try:
            status.store_counts = self.store.counts()
        except Exception as exc:
            status.store_error = str(exc)
        else:
            if status.manifest is not None:
                status.store_warning = store_behind(self.workspace, status.store_counts)
        if not self.use_llm:
            status.llm = "off (retrieval-only answers)"
        else:
            self._llm_error = self._llm.problem()  # a dead server is noticed (and restarted)
            if self._llm_error is not None:
                status.llm = "unavailable"
            elif self._llm.started:
                status.llm = self.settings.llm_base_url or f"offline {self.settings.llm_model}"
            else:
                status.llm = "not started"
        status.llm_error = self._llm_error
        return status

    def search(self, query: str, mode: str = "hybrid", k: int = 8) -> list[SearchHit]:
        query = _check_query(query)
        if mode not in RETRIEVAL_MODES:
            mode = "hybrid"
        return self.retriever.search(query, mode=mode, k=k)

    def _context(
        self, question: Any, mode: str, k: int
    ) -> tuple[list[SearchHit], list[GraphFact], str | None, list[str]]:
        """Retrieve chunks and graph facts for the analysed question; in cypher mode also run
        text-to-Cypher."""
        from kg.answer.context import linked_facts

        warnings: list[str] = []
        cypher_query: str | None = None
        facts: list[GraphFact] = []
        if mode == "cypher":
            cypher_query, facts, warning = self._cypher_facts(question.text)
            if warning:
                warnings.append(warning)
            mode = "hybrid"
        hits = self.search(question.search_text, mode=mode, k=k)
        facts = facts + linked_facts(question, self._relations, self._entities, limit=20)
        return hits, facts, cypher_query, warnings

    @cached_property
    def _answer_sources(self) -> Any:
        """What the answer flow reads from the workspace (kg.answer.sources)."""
        from kg.answer import Plain
        from kg.answer.sources import WorkspaceSources

        if not self.workspace.exists():
            return Plain(ontology=self.ontology)
        return WorkspaceSources(
            self._chunks, self._doc_paths, self._entities, self._relations, self._summaries,
            self.ontology, search=lambda q, k: self.search(q, k=k),
            embedder=lambda: self.retriever.embedder,
        )  # fmt: skip

    def _cypher_facts(self, question: str) -> tuple[str | None, list[GraphFact], str | None]:
        if self.chat is None:
            return None, [], "text-to-Cypher needs the LLM; fell back to hybrid retrieval"
        from kg.text2cypher import text_to_cypher

        try:
            result = text_to_cypher(question, self.ontology, self.store, self.chat)
        except Exception as exc:
            return None, [], f"text-to-Cypher failed ({exc}); fell back to hybrid retrieval"
        if result.error:
            return result.query, [], f"text-to-Cypher: {result.error}; fell back to hybrid"
        facts = [
            GraphFact(
                head=", ".join(f"{c}={v}" for c, v in zip(result.columns, row, strict=False)),
                type="ROW",
                tail="",
            )
            for row in result.rows[:20]
        ]
        return result.query, facts, None

    def ask(
        self,
        question: str,
        mode: str = "hybrid",
        k: int = 6,
        history: Sequence[tuple[str, str]] = (),
        path: str = "sentence",
    ) -> Answer:
        final: Answer | None = None
        for item in self.stream_ask(question, mode=mode, k=k, history=history, path=path):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream_ask(
        self,
        question: str,
        mode: str = "hybrid",
        k: int = 6,
        history: Sequence[tuple[str, str]] = (),
        on_retrieval: Callable[[list[SearchHit], list[GraphFact]], None] | None = None,
        path: str = "sentence",
    ) -> Iterator[str | Answer]:
        """The chosen answer's text as soon as it is known, then the Answer (kg.answer);
        ``on_retrieval(hits, facts)`` is called as soon as the sources are known, before the
        LLM is started or asked (the stream's first event). ``path``: "candidates" (no LLM),
        "choice" or "sentence" (the LLM chooses; with a sentence)."""
        from kg.answer import analyse, stream_answer

        started = time.perf_counter()
        previous = history[-1][0] if history else ""
        link = self.retriever.link_entities if self.workspace.exists() else None
        q = analyse(_check_query(question), self.ontology, link, previous)
        hits, facts, cypher_query, warnings = self._context(q, mode, k)
        retrieved = time.perf_counter()
        if on_retrieval is not None:
            on_retrieval(hits, facts)
        path = path if self.use_llm else "candidates"  # no LLM: the ranking's choice, quietly
        chat = self.chat if path != "candidates" else None
        if self.use_llm and chat is None and self._llm_error:
            warnings.append(f"{self._llm_error}: this answer quotes the sources")
        for item in stream_answer(q, hits, facts, chat, self._answer_sources, path):
            if isinstance(item, Answer):
                item.mode = mode
                item.cypher = cypher_query
                item.warnings = [*warnings, *item.warnings]
                item.timings = {
                    "retrieval_s": round(retrieved - started, 4),
                    "answer_s": round(time.perf_counter() - retrieved, 4),
                    **item.timings,
                }
            yield item

    def warm(self) -> None:
        """Load what the first answer would otherwise wait for: indexes, embedders, spaCy."""
        from kg.answer.candidates import nlp

        self.retriever.build()
        nlp()
        _ = self._answer_sources, self.chat  # (the chat model starts the offline server)

    def find_entities(self, q: str, limit: int = 10) -> list[Entity]:
        q = _check_query(q)
        return self.retriever.link_entities(q)[:limit] or self._name_search(q, limit)

    def _name_search(self, q: str, limit: int) -> list[Entity]:
        from kg.entity_search import search_names  # whole words: no 3-letter substring hits

        return search_names(q, self._entities.values(), limit)

    @cached_property
    def _entities(self) -> dict[str, Entity]:
        return {e.id: e for e in self.workspace.iter("entities")}

    @cached_property
    def _chunks(self) -> dict[str, Any]:
        return {c.id: c for c in self.workspace.iter("chunks")}

    @cached_property
    def _summaries(self) -> list[Any]:
        return list(self.workspace.iter("summaries"))

    @cached_property
    def _doc_paths(self) -> dict[str, str]:
        return {d.id: d.path for d in self.workspace.iter("documents")}

    # ---- merge review (`kg merges`, the entity tab) ----

    def merges(self) -> list[dict[str, Any]]:
        """Applied and candidate entity merges with rule, reason, evidence and any decision."""
        from pipelines.extraction.resolution import review_list

        self.workspace.manifest()  # a clear error when there is no workspace
        return [m.model_dump(mode="json") for m in review_list(self.workspace)]

    def decide_merge(self, merge_id: str, decision: str) -> dict[str, Any]:
        """Record accept/reject for one merge; every later ``kg extract`` applies it."""
        from pipelines.extraction.resolution import record_decision

        self.workspace.manifest()
        with self._lock:
            return record_decision(self.workspace, merge_id.strip(), decision).model_dump(
                mode="json"
            )

    def entity(self, entity_id: str) -> EntityDetail | None:
        self._refresh_if_changed()
        entity = self._entities.get(entity_id)
        if entity is None:
            return None
        snippets = []
        for n, m in enumerate(entity.mentions[:10], 1):
            chunk = self._chunks.get(m.chunk_id)
            text = chunk.text if chunk else m.text
            lo = max(0, m.start - (chunk.start if chunk else m.start) - 120)
            if lo > 0:  # start the snippet on a word boundary
                space = text.find(" ", lo)
                lo = space + 1 if 0 <= space < m.start - (chunk.start if chunk else 0) else lo
            snippets.append(
                Citation(
                    n=n,
                    chunk_id=m.chunk_id,
                    doc_id=m.doc_id,
                    path=self._doc_paths.get(m.doc_id, m.doc_id),
                    start=m.start,
                    end=m.end,
                    snippet=text[lo : lo + 300],
                    text=text,
                )
            )
        return EntityDetail(
            entity=entity, facts=self.retriever.facts([entity_id], limit=50), snippets=snippets
        )

    def subgraph(self, entity_ids: Sequence[str], hops: int = 1, limit: int = 60) -> Subgraph:
        """Entities, their neighbours and the relations between them, for the graph view."""
        self._refresh_if_changed()
        seeds = [e for e in entity_ids if e in self._entities]
        nodes: dict[str, GraphNode] = {}
        edges: dict[tuple[str, str, str], GraphEdge] = {}
        frontier = list(dict.fromkeys(seeds))
        for e in frontier:
            ent = self._entities[e]
            nodes[e] = GraphNode(id=e, label=ent.name, type=ent.type, highlighted=True)
        for _ in range(max(hops, 0)):
            nxt: list[str] = []
            for rel in self._relations:
                if len(nodes) >= limit:
                    break
                if rel.head_id in frontier or rel.tail_id in frontier:
                    for end in (rel.head_id, rel.tail_id):
                        ent = self._entities.get(end)
                        if ent and end not in nodes:
                            nodes[end] = GraphNode(id=end, label=ent.name, type=ent.type)
                            nxt.append(end)
                    if rel.head_id in nodes and rel.tail_id in nodes:
                        key = (rel.head_id, rel.tail_id, rel.type)
                        edges[key] = GraphEdge(
                            source=rel.head_id, target=rel.tail_id, type=rel.type
                        )
            frontier = nxt
        return Subgraph(nodes=list(nodes.values()), edges=list(edges.values()))

    @cached_property
    def _relations(self) -> list[Any]:
        return list(self.workspace.iter("relations"))

    def cypher(self, query: str, params: dict[str, Any] | None = None) -> CypherTable:
        from kg.cypher_guard import ensure_read_only, missing_parameters

        query = ensure_read_only(_check_query(query, limit=20_000))
        missing_parameters(query, params)
        rows = self.store.read(query, params or {}, timeout_ms=self.cypher_timeout_ms)
        columns = list(rows[0].keys()) if rows else []
        return CypherTable(
            query=query,
            columns=columns,
            rows=[[_jsonable(r.get(c)) for c in columns] for r in rows],
        )

    def browser_queries(self) -> list[Any]:
        from kg.cypher import browser_queries

        return browser_queries()

    # ---- writing ----

    def _upload_settings(self) -> Settings:
        """An upload waits for its LLM tier at most UPLOAD_LLM_BUDGET_S (unless a budget is set):
        the trained graph is loaded at once, and the next upload or `kg extract` continues."""
        if self.settings.llm_budget_s is not None or self.settings.llm_mode == "off":
            return self.settings
        return self.settings.model_copy(update={"llm_budget_s": UPLOAD_LLM_BUDGET_S})

    def ingest(
        self, paths: Sequence[Path], progress: Callable[[float, str], None] | None = None
    ) -> Manifest:
        """Extract new files into the workspace and load the difference into the store.

        All or nothing: a store that is down fails the ingest before anything is written, a
        store lost mid-load is restarted and the load redone once, and any other failure puts
        the workspace back as it was (kg.rollback) so it never runs ahead of the store."""
        from kg.rollback import Snapshot
        from pipelines.extraction.pipeline import run_extract

        notify = progress or (lambda _f, _m: None)
        if not self._ingest_lock.acquire(blocking=False):
            raise WorkspaceLocked("another upload is being processed; try again when it finishes")
        try:
            self.store  # noqa: B018 - opens (or restarts) the store: down means no changes
            snapshot = Snapshot(self.workspace.root)
            loading = False
            try:
                notify(0.05, "extracting")
                uploads = self.workspace.root / "uploads"
                for path in paths:
                    snapshot.add_file(Path(path), uploads / Path(path).name)
                manifest = run_extract(  # added to the workspace's sources (kg.sources)
                    [uploads],
                    self.workspace,
                    self._upload_settings(),
                    spacy_only=not self.use_llm,
                    progress=False,
                    chat=self.chat,
                )
                notify(0.7, "loading into the graph store")
                loading = True
                self._load()
            except BaseException:
                snapshot.restore(drop=("loaded.json",) if loading else ())
                if loading:
                    self._resync()
                raise
            snapshot.discard()
            notify(0.9, "refreshing indexes")
            fresh = self._open_retriever()  # opened while chat goes on
            with self._lock:
                self._retriever = fresh
                self._opened = _workspace_version(self.workspace)
                for name in self._CACHED:
                    self.__dict__.pop(name, None)
            notify(1.0, "done")
            return manifest
        finally:
            self._ingest_lock.release()

    def _load(self) -> None:
        """Load the workspace; a store lost on the way is restarted and the load redone."""
        from kg.store import StoreUnavailable
        from pipelines.load import load_workspace

        try:
            load_workspace(self.workspace, self.store, progress=False)
        except StoreUnavailable as exc:
            log.warning("store lost during the load (%s); restarting it", exc)
            self._drop_store()
            load_workspace(self.workspace, self.store, progress=False)

    def _resync(self) -> None:
        """After a failed load and a restored workspace: make the store match it again."""
        from pipelines.load import load_workspace

        try:
            load_workspace(self.workspace, self.store, progress=False)
        except Exception as exc:  # the store stays behind; status says so, `kg load` fixes it
            log.warning("could not reload the restored workspace: %s", exc)

    def close(self) -> None:
        with self._store_lock:  # not the index lock: a stop never waits for indexes to load
            if self._store is not None:
                self._store.close()
                self._store = None


def _workspace_version(workspace: Workspace) -> tuple[int, int]:
    """The manifest's and the last load's mtimes: both change when the CLI rewrites them."""
    from pipelines.load import STATE_FILE

    def mtime(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0

    return mtime(workspace.manifest_path), mtime(workspace.root / STATE_FILE)


def _extract_running(workspace: Workspace) -> bool:
    """Whether a `kg extract` holds the workspace's extract lock (its files are changing)."""
    from kg.workspace import WorkspaceLocked

    try:
        with workspace.lock("extract"):
            return False
    except WorkspaceLocked:
        return True


def _alive(store: Any) -> bool:
    """Whether the store still answers (stores without the check are assumed to)."""
    check = getattr(store, "alive", None)
    return bool(check()) if callable(check) else True


def store_behind(workspace: Workspace, counts: dict[str, int]) -> str | None:
    """Why the store does not hold the workspace's graph (an interrupted or missing load)."""
    from pipelines.load import STATE_FILE

    state_path = workspace.root / STATE_FILE
    try:
        state = json.loads(state_path.read_bytes())
        loaded_at = state_path.stat().st_mtime_ns
    except (OSError, ValueError):
        what = "partly loaded" if any(counts.values()) else "not loaded"
        return f"the workspace is {what} into the store (no completed load): run `kg load`"
    if not isinstance(state, dict) or state.get("counts") != counts:
        return "the store is behind the workspace (an interrupted load?): run `kg load`"
    if workspace.manifest_path.stat().st_mtime_ns > loaded_at:
        return "the workspace changed since the last load: run `kg load`"
    return None


MAX_QUERY_CHARS = 4000


def _check_query(text: str, limit: int = MAX_QUERY_CHARS) -> str:
    text = (text or "").strip()
    if not text:
        raise BadInput("the question is empty")
    if len(text) > limit:
        raise BadInput(f"the question is too long ({len(text)} characters, limit {limit})")
    return text


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    props = getattr(value, "properties", None)
    if isinstance(props, dict):
        return _jsonable(props)
    return str(value)


__all__ = ["KG", "WorkspaceError"]
