"""spaCy's tier: candidate entities, relations from dependency patterns, optional co-occurrence.

A verb joining two entities (subject -> object) gives the relation its lemma suggests
(``VERB_RELATIONS``), or ``RELATED_TO`` when the lemma suggests none; "A and B" gives
``CONJUNCTION``. Two names in one sentence are *not* a relation unless the user opts in
(``cooccurrence``), and then only a weak ``RELATED_TO``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kg.models import Chunk, Entity, Relation
from kg.ontology import Ontology
from pipelines.extraction.builder import ChunkBuilder
from pipelines.extraction.candidates import Candidate
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.spans import sentences

Span = tuple[int, int]
Anchored = tuple[Entity, Span]


def _each(verbs: list[str], options: list[tuple[str, bool]]) -> dict[str, list[tuple[str, bool]]]:
    return {v: list(options) for v in verbs}


# verb lemma -> relation types to try, in order, with (reversed?) direction
VERB_RELATIONS: dict[str, list[tuple[str, bool]]] = {
    **_each(
        ["use", "utilize", "employ", "apply", "leverage", "adopt", "exploit"],
        [("USES", False), ("USED_FOR", True)],
    ),
    **_each(
        ["cover", "teach", "discuss", "explain", "introduce", "present", "describe", "include"],
        [("COVERS", False), ("TAUGHT_BY", True), ("PART_OF", True)],
    ),
    **_each(["write", "author", "publish"], [("AUTHORED_BY", True)]),
    **_each(
        ["create", "develop", "build", "design", "propose", "make"],
        [("AUTHORED_BY", True), ("USED_FOR", False)],
    ),
    **_each(["offer", "host", "organize", "run"], [("OFFERED_BY", True)]),
    **_each(["work"], [("WORKS_ON", False)]),
    **_each(["compare", "outperform", "contrast"], [("COMPARE", False)]),
    **_each(["contain", "comprise", "consist"], [("PART_OF", True)]),
    **_each(["evaluate", "measure", "assess"], [("EVALUATE_FOR", False)]),
    **_each(["be"], [("IS_A", False), ("HYPONYM_OF", False)]),
}
DEP_CONFIDENCE = 0.5
WEAK_CONFIDENCE = 0.3  # a verb with no known meaning, or a conjunction
COOCCURRENCE_CONFIDENCE = 0.2
MAX_COOCCURRING = 6


def extract_chunk_spacy(
    chunk: Chunk,
    doc: Any,
    candidates: Sequence[Candidate],
    ontology: Ontology,
    *,
    cooccurrence: bool = False,
) -> ChunkResult:
    """Entities from spaCy candidates; relations from dependency patterns (and co-occurrence)."""
    b = ChunkBuilder(chunk, candidates, ontology)
    span_owner: dict[Span, Entity] = {}
    for c in candidates:
        s, e = c.start - chunk.start, c.end - chunk.start
        ent = b.admit_entity(c.text, c.type, source="spacy", spans=[(s, e)])
        if ent is not None:
            span_owner[(s, e)] = ent

    def owner(token: Any) -> Anchored | None:
        for (s, e), ent in span_owner.items():
            if s <= token.idx < e:
                return ent, (s, e)
        return None

    for token in doc:
        if token.pos_ not in {"VERB", "AUX"}:
            continue
        subjects = [c for c in token.children if c.dep_ in {"nsubj", "nsubjpass"}]
        objects = [c for c in token.children if c.dep_ in {"dobj", "attr", "oprd"}]
        for prep in (c for c in token.children if c.dep_ == "prep"):
            objects += [c for c in prep.children if c.dep_ == "pobj"]
        objects += [o2 for o in list(objects) for o2 in o.conjuncts]
        options = VERB_RELATIONS.get(token.lemma_.lower(), [])
        for subj in subjects:
            h = owner(subj)
            for obj in objects:
                t = owner(obj)
                if h is not None and t is not None:
                    _relate(b, h, t, options, DEP_CONFIDENCE)
    for tok in doc:
        if tok.dep_ == "conj":
            a, c = owner(tok.head), owner(tok)
            if a and c:
                _relate(b, a, c, [("CONJUNCTION", False)], WEAK_CONFIDENCE)
    if cooccurrence:
        _cooccurring(b, span_owner)
    return b.result()


def _relate(
    b: ChunkBuilder, h: Anchored, t: Anchored, options: list[tuple[str, bool]], confidence: float
) -> None:
    b.admit_relation(
        h[0],
        t[0],
        options,
        confidence=confidence,
        fallback_confidence=WEAK_CONFIDENCE,
        extractor="spacy-dep",
        head_span=h[1],
        tail_span=t[1],
    )


def _cooccurring(b: ChunkBuilder, span_owner: dict[Span, Entity]) -> None:
    """Opt-in: a weak RELATED_TO between named (non-fallback) entities of one sentence."""
    onto = b.ontology
    if not onto.relation_type("RELATED_TO"):
        return
    for s_start, s_end in sentences(b.chunk.text):
        named = [
            (ent, span)
            for span, ent in sorted(span_owner.items())
            if s_start <= span[0] and span[1] <= s_end and ent.type != onto.fallback_entity_type
        ][:MAX_COOCCURRING]
        for i, (a_ent, a_span) in enumerate(named):
            for c_ent, c_span in named[i + 1 :]:
                if a_ent.id == c_ent.id:
                    continue
                pair = Relation.make(a_ent.id, "RELATED_TO", c_ent.id).id
                rev = Relation.make(c_ent.id, "RELATED_TO", a_ent.id).id
                if pair in b.relations or rev in b.relations:
                    continue
                b.add_relation(
                    a_ent,
                    "RELATED_TO",
                    c_ent,
                    confidence=COOCCURRENCE_CONFIDENCE,
                    extractor="spacy-cooccurrence",
                    head_span=a_span,
                    tail_span=c_span,
                )
