"""Graph stores: embedded FalkorDB (default), an external FalkorDB, or Neo4j."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kg.store.base import GraphStore, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.workspace import Workspace

__all__ = ["GraphStore", "StoreError", "StoreUnavailable", "open_store"]


def open_store(settings: Settings, workspace: Workspace | Path | str | None = None) -> GraphStore:
    """The store the settings name: Neo4j when ``store == "neo4j"`` (KG_STORE=neo4j or the
    CLI's --neo4j), else FalkorDB at ``falkordb_url`` (KG_FALKORDB_URL), else kg's embedded
    FalkorDB with its data in ``<workspace>/store/``."""
    if settings.store == "neo4j":
        if not settings.neo4j_uri:
            raise StoreUnavailable("store is neo4j but NEO4J_URI is not set")
        from kg.store.neo4j import Neo4jStore

        return Neo4jStore(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            settings.neo4j_database,
        )
    from kg.store.falkordb import FalkorDBStore

    if settings.falkordb_url:
        return FalkorDBStore(settings.falkordb_url, graph=settings.graph_name)
    root = workspace if workspace is not None else settings.workspace
    store_dir = Path(getattr(root, "store_dir", None) or Path(root) / "store")
    return FalkorDBStore(None, graph=settings.graph_name, store_dir=store_dir)
