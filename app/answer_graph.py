"""The graph behind an answer: centred on the entities the answer and the question name, with
a few of their best-connected neighbours, so the view stays readable on a dense graph.

The graph facts given to the LLM are a poor centre: they are the linked entities' whole
neighbourhoods, often generic noun chunks ("technique", "course").
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.errors import message
from kg.models import Answer, Entity, Subgraph

if TYPE_CHECKING:
    from app.service import KG

log = logging.getLogger("kg.app")

MAX_CENTRE = 4
MAX_NEIGHBOURS = 12
_GENERIC_TYPES = frozenset({"Concept"})  # spaCy's bare noun chunks


def _specific(entity: Entity) -> bool:
    """A named thing (a capital, a digit or several words) rather than a common noun."""
    name = entity.name
    return entity.type not in _GENERIC_TYPES or any(c.isupper() or c.isdigit() for c in name) or (
        len(name.split()) > 1
    )


def centre_entities(kg: KG, answer: Answer, limit: int = MAX_CENTRE) -> list[str]:
    """Entity ids at the centre: those named in both the question and the answer, then the
    question's (what was asked about), then the answer's (an LLM answer names the result);
    specific names only, unless nothing specific is named at all."""
    question = _named(kg, answer.question)
    said = _named(kg, answer.answer)
    both = [e for e in question if e in said]
    ordered = list(dict.fromkeys([*both, *question, *said]))
    found = {**question, **said}
    specific = [i for i in ordered if _specific(found[i])]
    return (specific or ordered)[:limit]


def _named(kg: KG, text: str) -> dict[str, Entity]:
    text = (text or "").strip()[:4000]
    if not text:
        return {}
    try:
        return {e.id: e for e in kg.find_entities(text, limit=20)}
    except Exception as exc:  # the graph is a bonus: never fail the answer for it
        log.warning("no entities for the answer graph: %s", message(exc))
        return {}


def centred(sub: Subgraph, centre: Sequence[str], keep: int = MAX_NEIGHBOURS) -> Subgraph:
    """The centre entities and their ``keep`` best neighbours: most links to the centre first,
    then most links overall; edges only between kept nodes."""
    middle = set(centre)
    to_centre: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for e in sub.edges:
        degree[e.source] += 1
        degree[e.target] += 1
        if e.source in middle:
            to_centre[e.target] += 1
        if e.target in middle:
            to_centre[e.source] += 1
    others = [n for n in sub.nodes if n.id not in middle]
    others.sort(key=lambda n: (-to_centre[n.id], -degree[n.id], n.label.lower()))
    kept = middle | {n.id for n in others[:keep]}
    nodes = [
        n.model_copy(update={"highlighted": n.id in middle}) for n in sub.nodes if n.id in kept
    ]
    edges = [e for e in sub.edges if e.source in kept and e.target in kept]
    return Subgraph(nodes=nodes, edges=edges)


def answer_subgraph(kg: KG, answer: Answer, keep: int = MAX_NEIGHBOURS) -> Subgraph:
    """The subgraph the Graph tab draws after an answer."""
    centre = centre_entities(kg, answer)
    if not centre:
        return Subgraph()
    try:
        sub = kg.subgraph(centre, hops=1, limit=200)
    except Exception as exc:
        log.warning("no subgraph for the answer: %s", message(exc))
        return Subgraph()
    return centred(sub, centre, keep)
