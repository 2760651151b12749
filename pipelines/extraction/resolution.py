"""The resolution hook: one node per real thing across the corpus (rules in kg/resolution.py)."""

from __future__ import annotations

from kg.models import Entity, Merge
from kg.resolution import resolve


def resolve_entities(
    entities: list[Entity], fallback_type: str = "Concept"
) -> tuple[list[Entity], list[Merge]]:
    """The surviving entities and a ``Merge`` audit record for each one folded into another."""
    return resolve(sorted(entities, key=lambda e: e.id), fallback_type=fallback_type)
