"""A small real workspace for the tests that run the real ``KG`` (API and browser tests).

It extracts the sample corpus ``examples/notes/`` with spaCy only (no LLM) and loads the result
into the embedded FalkorDB.
"""

from __future__ import annotations

from pathlib import Path

from kg.config import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "notes"


def build_workspace(tmp: Path) -> Settings:
    """Extract the notes into ``tmp/.kg`` (spaCy only); returns the settings that point at it."""
    from kg.workspace import Workspace
    from pipelines.extraction.pipeline import run_extract

    settings = Settings(workspace=tmp / ".kg", graph_name="kgtest")
    run_extract(
        [EXAMPLES], Workspace(settings.workspace), settings, spacy_only=True, progress=False
    )
    return settings


def load_into_store(kg: object) -> bool:
    """Load the workspace into the facade's store; False when the load stage is not there yet."""
    try:
        from pipelines.load import load_workspace
    except ImportError:
        return False
    load_workspace(kg.workspace, kg.store, progress=False)  # type: ignore[attr-defined]
    return True
