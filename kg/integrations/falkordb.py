"""The embedded FalkorDB on a loopback TCP port, for tools that take a host and a port.

LangChain's ``FalkorDBGraph`` / ``GraphCypherQAChain``, ``redis-cli`` and FalkorDB Browser
cannot use the unix socket kg's embedded server listens on; ``expose`` adds a TCP listener on
127.0.0.1 (``kg store serve --port N``, ``kg serve --store-port N``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kg.store.base import StoreUnavailable

HOST = "127.0.0.1"
# where kg keeps chunk text and vectors, for LangChain's FalkorDBVector (node_label,
# text_node_property, embedding_node_property); kg's vector index is on Chunk.embedding
CHUNK_LABEL = "Chunk"
TEXT_PROPERTY = "text"
EMBEDDING_PROPERTY = "embedding"


@dataclass(frozen=True)
class Endpoint:
    """Where a client finds the graph: ``FalkorDBGraph(database=graph, host=host, port=port)``."""

    host: str
    port: int
    graph: str

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"


def expose(store: Any, port: int = 0) -> Endpoint:
    """Make ``store`` (a FalkorDBStore on kg's embedded server) reachable on 127.0.0.1:port;
    0 picks a free port. An external FalkorDB or Neo4j already has its own address."""
    server = getattr(store, "server", None)
    if server is None:
        where = getattr(store, "identity", type(store).__name__)
        raise StoreUnavailable(
            f"the store is not kg's embedded FalkorDB ({where}); connect to it directly"
        )
    return Endpoint(HOST, server.expose(port), str(store.graph_name))
