"""Settings, read once from the environment (``KG_*``, ``NEO4J_*``) and overridden by CLI flags."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from kg.errors import BadInput


def default_cache_dir() -> Path:
    """``$KG_CACHE_DIR``, else ``$XDG_CACHE_HOME/kg``, else ``~/.cache/kg``."""
    if os.environ.get("KG_CACHE_DIR"):
        return Path(os.environ["KG_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kg"


LANGUAGE_FLAGS = ("relation_cues", "open_relations", "notes_types", "coreference")


def _env(*names: str) -> AliasChoices:
    """Read a field from these environment variables (first set wins), not from ``KG_<field>``."""
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob, from ``KG_<FIELD>`` (or the variable named in ``_env``); an empty variable
    counts as unset. ``from_env(**overrides)`` lays CLI flags (not None) over the environment."""

    model_config = SettingsConfigDict(
        env_prefix="KG_", env_ignore_empty=True, extra="ignore", validate_by_name=True
    )

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
    llm_api_key: SecretStr = Field(
        SecretStr("not-needed"), validation_alias=_env("KG_LLM_API_KEY", "OPENAI_API_KEY")
    )
    # requests at once (KG_LLM_CONCURRENCY); from_env: unset means llm_slots for kg's own server
    llm_concurrency: int = 1
    # the LLM tier: "auto" runs it when its estimate is short, "on" always, "off" never (KG_LLM)
    llm_mode: Literal["auto", "on", "off"] = Field("auto", validation_alias=_env("KG_LLM"))
    llm_budget_s: float | None = None  # stop starting LLM calls after this many seconds
    # slots of kg's offline llama.cpp server (parallel sequences it batches); KG_LLM_SLOTS.
    # 2 measured 1.13x the throughput of 1 on 2 cores (bench/results/llm_slots.md)
    llm_slots: int = 2
    llm_threads: int = 0  # its CPU threads (KG_LLM_THREADS); 0: one per core
    llm_timeout: float = 300.0
    llm_ctx: int = 8192
    # graph store
    store: Literal["falkordb", "neo4j"] = "falkordb"
    graph_name: str = Field("kg", validation_alias=_env("KG_GRAPH"))
    falkordb_url: str | None = None  # an already running FalkorDB (redis://host:port)
    neo4j_uri: str | None = Field(None, validation_alias=_env("NEO4J_URI"))
    neo4j_user: str = Field("neo4j", validation_alias=_env("NEO4J_USER"))
    neo4j_password: SecretStr = Field(SecretStr(""), validation_alias=_env("NEO4J_PASSWORD"))
    neo4j_database: str = Field("neo4j", validation_alias=_env("NEO4J_DATABASE"))
    batch_size: int = 1000
    cache_dir: Path = Field(default_factory=default_cache_dir)

    @field_validator("cooccurrence", mode="before")
    @classmethod
    def _on_only_when_said(cls, value: Any) -> Any:
        return value.lower() in {"1", "true", "yes"} if isinstance(value, str) else value

    @field_validator("trained", mode="before")
    @classmethod
    def _on_unless_said(cls, value: Any) -> Any:
        return value.lower() not in {"0", "false", "no"} if isinstance(value, str) else value

    @field_validator("store", mode="before")
    @classmethod
    def _falkordb_unless_neo4j(cls, value: Any) -> Any:
        return "neo4j" if value == "neo4j" else "falkordb"

    @field_validator("llm_mode", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("llm_slots", "llm_concurrency")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        return max(1, value)

    @field_validator("llm_threads")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        return max(0, value)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """The environment with ``overrides`` (CLI flags; None means "not given") on top."""
        try:
            settings = cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
            raise BadInput(f"bad setting {where}: {first.get('msg', exc)}") from exc
        if "llm_concurrency" not in settings.model_fields_set and not settings.llm_base_url:
            # kg's own server is only kept busy with as many requests at once as it has slots
            settings.llm_concurrency = settings.llm_slots
        return settings

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
