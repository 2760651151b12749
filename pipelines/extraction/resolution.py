"""The resolution hook: one node per real thing across the corpus (rules in kg/resolution.py).

It also carries the merge review: ``kg merges accept|reject ID`` records a decision in the
workspace (``merge_decisions.json``) that every later ``kg extract`` applies (a rejected merge
is undone, an accepted candidate applied); the candidates a rule proposed but did not apply are
written to ``merge_candidates.jsonl`` next to the applied ``merges.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from kg.errors import BadInput, NotFound
from kg.models import Entity, Merge
from kg.resolution import resolve_reviewed
from kg.workspace import Workspace

DECISIONS = "merge_decisions.json"
CANDIDATES = "merge_candidates"


class Decision(BaseModel):
    """A person's word on one pair of entities (by id; names kept for reading the file)."""

    decision: Literal["accept", "reject"]
    a: str
    b: str
    a_name: str = ""
    b_name: str = ""
    at: str = ""


class UnknownMerge(NotFound):
    """No applied or candidate merge has this id (the CLI exits 2 on it)."""


@dataclass
class Review:
    """Decisions going into resolution, candidates coming out of it."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    candidates: list[Merge] = field(default_factory=list)

    @classmethod
    def from_workspace(cls, workspace: Workspace) -> Review:
        return cls(read_decisions(workspace))

    def pairs(self, kind: str) -> list[tuple[str, str]]:
        return [(d.a, d.b) for d in self.decisions.values() if d.decision == kind]


def resolve_entities(
    entities: list[Entity], fallback_type: str = "Concept", review: Review | None = None
) -> tuple[list[Entity], list[Merge]]:
    """The surviving entities and a ``Merge`` audit record for each one folded into another."""
    review = review if review is not None else Review()
    result = resolve_reviewed(
        sorted(entities, key=lambda e: e.id),
        fallback_type=fallback_type,
        accept=review.pairs("accept"),
        reject=review.pairs("reject"),
    )
    review.candidates = result.candidates
    return result.entities, result.merges


def read_decisions(workspace: Workspace) -> dict[str, Decision]:
    raw = workspace.read_json(DECISIONS, {}) or {}
    if not isinstance(raw, dict):
        raise BadInput(f"{workspace.root / DECISIONS}: expected an object of decisions")
    try:
        return {k: Decision.model_validate(v) for k, v in raw.items()}
    except ValidationError as exc:
        raise BadInput(f"{workspace.root / DECISIONS}: not a decision file ({exc})") from exc


def review_list(workspace: Workspace) -> list[Merge]:
    """Applied merges then candidates, each with the decision recorded for it (if any)."""
    decisions = read_decisions(workspace)
    rows = [
        *workspace.read("merges"),
        *workspace.read(CANDIDATES, Merge),
    ]
    for m in rows:
        d = decisions.get(m.id)
        if d is not None:
            m.decision = d.decision
    return rows


def record_decision(workspace: Workspace, merge_id: str, decision: str) -> Merge:
    """Record ``accept`` or ``reject`` for a listed merge; the next ``kg extract`` applies it."""
    if decision not in {"accept", "reject"}:
        raise BadInput(f"decision must be accept or reject, not {decision!r}")
    rows = {m.id: m for m in review_list(workspace) if m.id}
    merge = rows.get(merge_id)
    if merge is None:
        raise UnknownMerge(f"no merge {merge_id!r} in {workspace.root} (see `kg merges`)")
    decisions = read_decisions(workspace)
    decisions[merge_id] = Decision(
        decision=decision,  # type: ignore[arg-type]
        a=merge.kept_id,
        b=merge.merged_id,
        a_name=merge.kept_name,
        b_name=merge.merged_name,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    workspace.write_json(DECISIONS, {k: v.model_dump() for k, v in sorted(decisions.items())})
    merge.decision = decision  # type: ignore[assignment]
    return merge
