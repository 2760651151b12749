"""``KGRetriever``: kg's hybrid search as a LangChain ``BaseRetriever``, for any LCEL chain.

Each chunk comes back as a LangChain ``Document`` whose metadata says where it is (document
path and id, character span in the document), how it scored (fused and per retriever) and which
graph facts of the question's linked entities it states, so a chain can cite as kg does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from kg.config import Settings
from kg.models import GraphFact, SearchHit
from kg.retrieval import SEARCH_MODES

FACTS_LIMIT = 50  # facts of the linked entities looked at per query
FACT_FIELDS = {"head", "type", "tail", "head_type", "tail_type"}


class KGRetriever(BaseRetriever):
    """Chunks of a kg workspace for a query (``mode``: hybrid, bm25, vector or graph).

    ``KGRetriever(workspace=".kg")`` opens the workspace that ``kg extract`` wrote;
    ``settings`` (a ``kg.config.Settings``) overrides everything else when given.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    mode: str = "hybrid"
    k: int = Field(default=6, ge=1, le=100)
    workspace: Path | None = None
    settings: Settings | None = None
    _retriever: Any = PrivateAttr(default=None)

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, mode: str) -> str:
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        return mode

    @classmethod
    def from_retriever(cls, retriever: Any, **kw: Any) -> KGRetriever:
        """Wrap an already open ``kg.retrieval.Retriever`` (a server that holds one)."""
        out = cls(**kw)
        out._retriever = retriever
        return out

    def _settings(self) -> Settings:
        if self.settings is not None:
            return self.settings
        if self.workspace is not None:
            return Settings.from_env(workspace=Path(self.workspace))
        return Settings.from_env()

    @property
    def retriever(self) -> Any:
        """kg's retriever, opened on first use (it loads the indexes once)."""
        if self._retriever is None:
            from kg.retrieval import Retriever
            from kg.workspace import Workspace

            settings = self._settings()
            workspace = Workspace(settings.workspace)
            workspace.manifest()  # a clear error when nothing was extracted there
            self._retriever = Retriever.open(workspace, settings)
        return self._retriever

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        if not query.strip():
            raise ValueError("the query is empty")
        hits = self.retriever.search(query, mode=self.mode, k=self.k)
        facts = self._facts(query)
        return [as_document(hit, facts) for hit in hits]

    def _facts(self, query: str) -> list[GraphFact]:
        linked = self.retriever.link_entities(query)
        if not linked:
            return []
        return list(self.retriever.facts([e.id for e in linked], limit=FACTS_LIMIT))


def as_document(hit: SearchHit, facts: Sequence[GraphFact] = ()) -> Document:
    """A search hit as a LangChain Document; ``facts``: those whose evidence is in this chunk."""
    mine = [f for f in facts if hit.chunk_id in f.chunk_ids]
    return Document(
        page_content=hit.text,
        id=hit.chunk_id,
        metadata={
            "chunk_id": hit.chunk_id,
            "doc_id": hit.doc_id,
            "document": hit.path or hit.doc_id,
            "span": {"start": hit.start, "end": hit.end},
            "score": hit.score,
            "scores": dict(hit.scores),
            "facts": [f.model_dump(include=FACT_FIELDS) for f in mine],
        },
    )


class KGEmbeddings(Embeddings):
    """kg's chunk embedding model (MiniLM int8 ONNX) as LangChain ``Embeddings``: a vector
    store over the ``embedding`` property kg writes on chunks must embed queries with it."""

    def __init__(self, embedder: Any = None) -> None:
        self._embedder = embedder

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from kg.retrieval.embed import shared_embedder

            self._embedder = shared_embedder()
        return self._embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self.embedder.embed(texts, batch_size=8)]

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()
