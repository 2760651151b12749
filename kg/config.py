"""Settings, read once from the environment (``KG_*``, ``NEO4J_*``) and overridden by CLI flags."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, SecretStr


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def default_cache_dir() -> Path:
    base = _env("KG_CACHE_DIR") or _env("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kg" if not _env("KG_CACHE_DIR") else Path(base)


LANGUAGE_FLAGS = ("relation_cues", "open_relations", "notes_types", "coreference")


class Settings(BaseModel):
    workspace: Path = Path(".kg")
    ontology: str = "default"
    # chunking
    chunk_size: int = 1500
    chunk_overlap: int = 150
    max_file_bytes: int = 20_000_000
    # extraction: two names in one sentence become a weak RELATED_TO only when asked for
    cooccurrence: bool = False
    # the trained tier (kg's SciERC joint model) types concepts, methods, tasks... and relates them
    trained: bool = True
    # language stages (issue 21): relation cues of the ontology, open relations, notes entity
    # types from context, coreference within a section (KG_RELATION_CUES=0 ... turns one off)
    relation_cues: bool = True
    open_relations: bool = True
    notes_types: bool = True
    coreference: bool = True
    follow_links: bool = False  # read links that point outside the folder given to extract
    # LLM: any OpenAI-compatible server; None starts kg's offline model
    llm_base_url: str | None = None
    llm_model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    llm_api_key: SecretStr = SecretStr("not-needed")
    llm_concurrency: int = 1
    # the LLM tier: "auto" runs it when its estimate is short, "on" always, "off" never (KG_LLM)
    llm_mode: Literal["auto", "on", "off"] = "auto"
    llm_budget_s: float | None = None  # stop starting LLM calls after this many seconds
    # slots of kg's offline llama.cpp server (parallel sequences it batches); KG_LLM_SLOTS.
    # 2 measured 1.13x the throughput of 1 on 2 cores (bench/results/llm_slots.md)
    llm_slots: int = 2
    llm_threads: int = 0  # its CPU threads (KG_LLM_THREADS); 0: one per core
    llm_timeout: float = 300.0
    llm_ctx: int = 8192
    # graph store
    store: Literal["falkordb", "neo4j"] = "falkordb"
    graph_name: str = "kg"
    falkordb_url: str | None = None  # an already running FalkorDB (redis://host:port)
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    neo4j_database: str = "neo4j"
    batch_size: int = 1000
    cache_dir: Path = default_cache_dir()

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        slots = max(1, int(_env("KG_LLM_SLOTS") or cls.model_fields["llm_slots"].default))
        # kg's own server is only kept busy with as many requests at once as it has slots
        concurrency = _env("KG_LLM_CONCURRENCY") or (1 if _env("KG_LLM_BASE_URL") else slots)
        values: dict[str, object] = {
            "workspace": Path(_env("KG_WORKSPACE", ".kg") or ".kg"),
            "ontology": _env("KG_ONTOLOGY", "default"),
            "llm_base_url": _env("KG_LLM_BASE_URL"),
            "llm_model": _env("KG_LLM_MODEL", cls.model_fields["llm_model"].default),
            "llm_api_key": SecretStr(
                _env("KG_LLM_API_KEY") or _env("OPENAI_API_KEY") or "not-needed"
            ),
            "llm_concurrency": max(1, int(concurrency)),
            "llm_mode": (_env("KG_LLM") or "auto").lower(),
            "llm_slots": slots,
            "llm_threads": max(0, int(_env("KG_LLM_THREADS") or 0)),
            "llm_timeout": float(_env("KG_LLM_TIMEOUT") or cls.model_fields["llm_timeout"].default),
            "cooccurrence": (_env("KG_COOCCURRENCE") or "").lower() in {"1", "true", "yes"},
            "trained": (_env("KG_TRAINED") or "1").lower() not in {"0", "false", "no"},
            **{name: (_env(f"KG_{name.upper()}") or "1").lower() not in {"0", "false", "no"}
               for name in LANGUAGE_FLAGS},
            "store": "neo4j" if _env("KG_STORE") == "neo4j" else "falkordb",
            "graph_name": _env("KG_GRAPH", "kg"),
            "falkordb_url": _env("KG_FALKORDB_URL"),
            "neo4j_uri": _env("NEO4J_URI"),
            "neo4j_user": _env("NEO4J_USER", "neo4j"),
            "neo4j_password": SecretStr(_env("NEO4J_PASSWORD", "") or ""),
            "neo4j_database": _env("NEO4J_DATABASE", "neo4j"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    def extraction_fingerprint(self) -> str:
        """What changes extraction output; part of the manifest and the LLM cache key."""
        keys = f"{self.ontology}|{self.chunk_size}|{self.chunk_overlap}|{self.llm_model}"
        if self.cooccurrence:  # appended only when on: default fingerprints stay as they were
            keys += "|cooccurrence"
        if not self.trained:
            keys += "|no-trained"
        off = [name for name in LANGUAGE_FLAGS if not getattr(self, name)]
        if off:  # appended only when one is off: default fingerprints stay as they were
            keys += "|no-" + ",".join(off)
        return hashlib.sha256(keys.encode()).hexdigest()[:16]
