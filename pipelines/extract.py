"""The extraction stage: files -> chunks -> spaCy candidates -> one LLM call per chunk -> graph.

Each LLM call returns a map summary, entities and relations for one chunk (``ChunkExtraction``).
The output is validated item by item: names must occur in the chunk, relations must join two
entities of the chunk and get an evidence span, types must come from the ontology; what fails is
written to ``rejected.jsonl`` instead of crashing or vanishing. Results are cached per chunk, and
the workspace is rebuilt from the cache on every run, so unchanged files cost no LLM calls and
deleted files drop out.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kg.chunking import chunk_document
from kg.llm_cache import LLMCache, cache_key
from kg.loaders import iter_documents
from kg.mentions import Candidate, MentionFinder
from kg.models import (
    MAX_ENTITIES_PER_CHUNK,
    MAX_RELATIONS_PER_CHUNK,
    Chunk,
    ChunkExtraction,
    Document,
    Entity,
    Evidence,
    LLMUsage,
    Manifest,
    Mention,
    Merge,
    Rejected,
    Relation,
    SkippedFile,
    Summary,
    normalize_name,
)
from kg.ontology import Ontology, load_ontology
from kg.resolution import resolve
from pipelines.extraction.results import ChunkResult, RelationSpan

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.workspace import Workspace

PROMPT_VERSION = "extract-v3"  # bump when the prompt changes: cached answers are keyed by it
MAX_OUTPUT_TOKENS = 900
MAX_CANDIDATES_IN_PROMPT = 30
MAX_MENTIONS_PER_CHUNK = 20
SPACY_MODEL_NAME = "en_core_web_sm-3.8.0"

_PRONOUNS = frozenset(
    [
        "i", "me", "my", "mine", "we", "us", "our", "you", "your", "he", "him", "his", "she", "her",
        "it", "its", "they", "them", "their", "this", "that", "these", "those", "who", "what",
        "which", "here", "there", "someone", "something",
    ]
)  # fmt: skip


# ---------------------------------------------------------------- prompt


def system_prompt(ontology: Ontology) -> str:
    """The static part of the prompt (first, so llama.cpp reuses its KV cache across chunks)."""
    ents = "\n".join(f"- {t.name}: {t.description}" for t in ontology.entity_types)
    rels = []
    for r in ontology.relation_types:
        sig = f" ({'|'.join(r.head) or 'any'} -> {'|'.join(r.tail) or 'any'})"
        rels.append(f"- {r.name}{sig if r.head or r.tail else ''}: {r.description}")
    return (
        f"You extract a knowledge graph from text. Domain: {ontology.description}\n"
        f"Entity types:\n{ents}\n"
        f"Relation types (head -> tail):\n" + "\n".join(rels) + "\n"
        "Rules:\n"
        "- Entities: specific things and key ideas named in the text (at most 12). Copy each "
        "name exactly as written in the text. No pronouns, dates or numbers.\n"
        "- Relations (at most 8) read as 'head TYPE tail'. head and tail must be names from your "
        "entities list; evidence is an exact quote of at most 12 words from the text.\n"
        "- summary: 1-3 sentences on what this part says; say who or what 'I', 'M', 'the course' "
        "refer to when the context tells you.\n"
        'Answer with JSON only: {"summary": "...", "entities": [{"name": "...", "type": "..."}], '
        '"relations": [{"head": "...", "type": "...", "tail": "...", "evidence": "..."}]}'
    )


def user_prompt(chunk: Chunk, candidates: Sequence[Candidate], context: str) -> str:
    names: dict[str, str] = {}
    ranked = sorted(
        candidates, key=lambda c: (c.source != "ruler", c.source == "noun_chunk", c.start)
    )
    for c in ranked:
        key = c.text.lower()
        if key not in names and len(names) < MAX_CANDIDATES_IN_PROMPT:
            # only the ruler's types are reliable enough to suggest (NER calls "PhD" a book)
            names[key] = f"{c.text} ({c.type})" if c.source == "ruler" else c.text
    parts = []
    if context:
        parts.append(f"Context from earlier in the document:\n{context}")
    if names:
        parts.append("Possible entities (found by a tagger): " + "; ".join(names.values()))
    parts.append(f'Text:\n"""\n{chunk.text}\n"""')
    return "\n\n".join(parts)


def build_messages(
    chunk: Chunk, candidates: Sequence[Candidate], ontology: Ontology, context: str
) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    return [
        SystemMessage(content=system_prompt(ontology)),
        HumanMessage(content=user_prompt(chunk, candidates, context)),
    ]


# ---------------------------------------------------------------- finding names in text


def name_pattern(name: str) -> re.Pattern[str] | None:
    """Case-insensitive pattern for a name: flexible spaces/hyphens, optional plural ending."""
    tokens = [t for t in re.findall(r"\w+|[^\w\s]", name) if t != "-"]
    if not tokens or len(tokens) > 30:
        return None
    body = r"[\s\-]*".join(re.escape(t) for t in tokens)
    left = r"(?<!\w)" if re.match(r"\w", tokens[0]) else ""
    right = r"(?:e?s)?(?!\w)" if re.match(r"\w", tokens[-1]) else ""
    return re.compile(left + body + right, re.IGNORECASE)


def find_spans(name: str, text: str, limit: int = MAX_MENTIONS_PER_CHUNK) -> list[tuple[int, int]]:
    pattern = name_pattern(name)
    if pattern is None:
        return []
    spans = []
    for m in pattern.finditer(text):
        if m.end() > m.start():
            spans.append((m.start(), m.end()))
            if len(spans) >= limit:
                break
    return spans


_SENTENCE = re.compile(r"[^\n.!?]*(?:[.!?]+(?=\s|$)|\n|$)")


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a chunk (a line break also ends one), whitespace trimmed."""
    out = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def _junk_name(name: str) -> str | None:
    key = normalize_name(name)
    if not key:
        return "empty name"
    if key in _PRONOUNS:
        return "pronoun, not an entity"
    if not re.search(r"[^\W\d_]", key):
        return "number or punctuation, not an entity"
    return None


# ---------------------------------------------------------------- validation


class _ChunkBuilder:
    """Collects the validated entities and relations of one chunk."""

    def __init__(self, chunk: Chunk, candidates: Sequence[Candidate], ontology: Ontology) -> None:
        self.chunk = chunk
        self.ontology = ontology
        self.candidates = candidates
        self.entities: dict[str, Entity] = {}
        self.spans: dict[str, list[tuple[int, int]]] = {}
        self.by_name: dict[str, str] = {}
        self.relations: dict[str, RelationSpan] = {}
        self.rejected: list[Rejected] = []

    def reject(self, kind: str, item: Any, reason: str) -> None:
        self.rejected.append(
            Rejected(chunk_id=self.chunk.id, kind=kind, item=_jsonable(item), reason=reason)  # type: ignore[arg-type]
        )

    def candidate_type(self, name: str) -> str | None:
        key = normalize_name(name)
        for c in self.candidates:
            if c.source != "noun_chunk" and normalize_name(c.text) == key:
                return c.type
        return None

    def add_entity(
        self,
        name: str,
        type_: str,
        description: str = "",
        source: str = "llm",
        spans: list[tuple[int, int]] | None = None,
    ) -> Entity | None:
        """Add (or return) the entity; None when the name does not occur in the chunk."""
        key = normalize_name(name)
        if key in self.by_name:
            return self.entities[self.by_name[key]]
        spans = spans if spans is not None else find_spans(name, self.chunk.text)
        if not spans:
            return None
        ent = Entity.make(
            name.strip(),
            type_,
            description=description.strip()[:300],
            source=source,
            mentions=[
                Mention(
                    chunk_id=self.chunk.id,
                    doc_id=self.chunk.doc_id,
                    start=self.chunk.start + s,
                    end=self.chunk.start + e,
                    text=self.chunk.text[s:e],
                )
                for s, e in spans
            ],
        )
        self.entities[ent.id] = ent
        self.spans[ent.id] = spans
        self.by_name[key] = ent.id
        return ent

    def lookup(self, name: str) -> Entity | None:
        """The chunk entity a relation argument names; adds it when the text names it."""
        key = normalize_name(name)
        if key in self.by_name:
            return self.entities[self.by_name[key]]
        if _junk_name(name):
            return None
        type_ = self.candidate_type(name) or self.ontology.fallback_entity_type
        return self.add_entity(name, type_)

    def add_relation(
        self,
        head: Entity,
        type_: str,
        tail: Entity,
        *,
        evidence_text: str = "",
        confidence: float,
        extractor: str,
        description: str = "",
        head_span: tuple[int, int] | None = None,
        tail_span: tuple[int, int] | None = None,
    ) -> Relation:
        hs, ts = head_span, tail_span
        if hs is None or ts is None:
            hs, ts = self._closest(self.spans[head.id], self.spans[tail.id])
        ev = self._evidence(evidence_text, hs, ts)
        if ev is not None:  # prefer the argument mentions inside the evidence
            inside_h = [s for s in self.spans[head.id] if ev[0] <= s[0] and s[1] <= ev[1]]
            inside_t = [s for s in self.spans[tail.id] if ev[0] <= s[0] and s[1] <= ev[1]]
            if inside_h and inside_t and head_span is None:
                hs, ts = self._closest(inside_h, inside_t)
        else:
            ev = self._sentence_span(hs, ts)
        start, end = ev
        rel = Relation.make(
            head.id,
            type_,
            tail.id,
            evidence=[
                Evidence(
                    chunk_id=self.chunk.id,
                    doc_id=self.chunk.doc_id,
                    start=self.chunk.start + start,
                    end=self.chunk.start + end,
                    text=self.chunk.text[start:end],
                )
            ],
            confidence=confidence,
            extractor=extractor,
            description=description[:300],
        )
        doc_h = (self.chunk.start + hs[0], self.chunk.start + hs[1])
        doc_t = (self.chunk.start + ts[0], self.chunk.start + ts[1])
        old = self.relations.get(rel.id)
        if old is None or old.relation.confidence < confidence:
            self.relations[rel.id] = RelationSpan(rel, doc_h, doc_t)
        return rel

    @staticmethod
    def _closest(
        a: list[tuple[int, int]], b: list[tuple[int, int]]
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        best = None
        for x in a:
            for y in b:
                if x == y:
                    continue
                gap = max(x[0], y[0]) - min(x[1], y[1])
                if best is None or gap < best[0]:
                    best = (gap, x, y)
        if best is None:
            return a[0], b[0]
        return best[1], best[2]

    def _evidence(
        self, quote: str, hs: tuple[int, int], ts: tuple[int, int]
    ) -> tuple[int, int] | None:
        quote = quote.strip().strip('"').strip()
        if len(quote) < 3:
            return None
        spans = find_spans(quote, self.chunk.text, limit=5)
        if not spans:
            return None
        mid = (min(hs[0], ts[0]) + max(hs[1], ts[1])) / 2
        return min(spans, key=lambda s: abs((s[0] + s[1]) / 2 - mid))

    def _sentence_span(self, hs: tuple[int, int], ts: tuple[int, int]) -> tuple[int, int]:
        lo, hi = min(hs[0], ts[0]), max(hs[1], ts[1])
        sents = sentences(self.chunk.text)
        covering = [s for s in sents if s[0] <= lo and hi <= s[1]]
        if covering:
            return covering[0]
        first = next((s for s in sents if s[0] <= lo < s[1]), (lo, hi))
        last = next((s for s in sents if s[0] < hi <= s[1]), (lo, hi))
        return min(first[0], lo), max(last[1], hi)

    def result(self, summary: str = "", usage: LLMUsage | None = None) -> ChunkResult:
        return ChunkResult(
            chunk=self.chunk,
            summary=summary,
            entities=sorted(self.entities.values(), key=lambda e: e.id),
            relations=sorted(self.relations.values(), key=lambda r: r.relation.id),
            rejected=self.rejected,
            usage=usage or LLMUsage(),
        )


def _jsonable(item: Any) -> Any:
    if isinstance(item, str | int | float | bool) or item is None:
        return item if not isinstance(item, str) else item[:1000]
    if isinstance(item, dict):
        return {str(k)[:100]: _jsonable(v) for k, v in list(item.items())[:20]}
    if isinstance(item, list | tuple):
        return [_jsonable(v) for v in list(item)[:20]]
    return repr(item)[:1000]


def _text_field(item: dict[str, Any], *names: str) -> str | None:
    for n in names:
        value = item.get(n)
        if isinstance(value, str):
            return value
    return None


def usable(parsed: Any) -> str | None:
    """Why the output cannot be used at all (None when at least its shape is right)."""
    if parsed is None:
        return "no JSON in the output"
    if not isinstance(parsed, dict):
        return f"expected a JSON object, got {type(parsed).__name__}"
    if not any(k in parsed for k in ("entities", "relations", "summary")):
        return "JSON object has none of summary/entities/relations"
    return None


def validate_extraction(
    parsed: Any, chunk: Chunk, candidates: Sequence[Candidate], ontology: Ontology
) -> ChunkResult:
    """Keep every valid item of an LLM answer and record each invalid one with its reason."""
    b = _ChunkBuilder(chunk, candidates, ontology)
    problem = usable(parsed)
    if problem:
        b.reject("output", parsed, problem)
        return b.result()
    summary = parsed.get("summary")
    summary = summary.strip()[:1200] if isinstance(summary, str) else ""

    raw_entities = parsed.get("entities", [])
    if not isinstance(raw_entities, list):
        b.reject("output", raw_entities, "entities is not a list")
        raw_entities = []
    for n, item in enumerate(raw_entities):
        if n >= MAX_ENTITIES_PER_CHUNK * 2:
            b.reject("entity", {"dropped": len(raw_entities) - n}, "too many entities in chunk")
            break
        _validate_entity(b, item)

    raw_relations = parsed.get("relations", [])
    if not isinstance(raw_relations, list):
        b.reject("output", raw_relations, "relations is not a list")
        raw_relations = []
    for n, item in enumerate(raw_relations):
        if n >= MAX_RELATIONS_PER_CHUNK * 2:
            b.reject("relation", {"dropped": len(raw_relations) - n}, "too many relations")
            break
        _validate_relation(b, item)
    return b.result(summary)


def _validate_entity(b: _ChunkBuilder, item: Any) -> None:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        b.reject("entity", item, f"not an object ({type(item).__name__})")
        return
    name = _text_field(item, "name", "entity", "text")
    if name is None or not name.strip():
        b.reject("entity", item, "missing name")
        return
    name = " ".join(name.split())
    if len(name) > 120:
        b.reject("entity", item, "name longer than 120 characters")
        return
    junk = _junk_name(name)
    if junk:
        b.reject("entity", item, junk)
        return
    raw_type = _text_field(item, "type", "label", "category") or ""
    type_ = b.ontology.canonical_entity_type(raw_type) if raw_type else None
    if type_ is None:
        type_ = b.candidate_type(name) or b.ontology.fallback_entity_type
    description = _text_field(item, "description") or ""
    if b.add_entity(name, type_, description) is None:
        b.reject("entity", item, "name not found in the chunk text")


def _validate_relation(b: _ChunkBuilder, item: Any) -> None:
    if not isinstance(item, dict):
        b.reject("relation", item, f"not an object ({type(item).__name__})")
        return
    head_name = _text_field(item, "head", "source", "subject")
    tail_name = _text_field(item, "tail", "target", "object")
    raw_type = _text_field(item, "type", "relation", "label")
    if not head_name or not tail_name or not raw_type:
        b.reject("relation", item, "missing head, tail or type")
        return
    onto = b.ontology
    type_ = onto.canonical_relation_type(raw_type)
    confidence = 0.8
    if type_ is None:
        if onto.relation_type("RELATED_TO") is None:
            b.reject("relation", item, f"unknown relation type {raw_type!r}")
            return
        type_, confidence = "RELATED_TO", 0.4
    head = b.lookup(" ".join(head_name.split()))
    tail = b.lookup(" ".join(tail_name.split()))
    if head is None or tail is None:
        missing = head_name if head is None else tail_name
        b.reject("relation", item, f"argument {missing!r} is not an entity of this chunk")
        return
    if head.id == tail.id:
        b.reject("relation", item, "head and tail are the same entity")
        return
    if not onto.allows(type_, head.type, tail.type):
        rel_type = onto.relation_type(type_)
        if onto.allows(type_, tail.type, head.type) and not (rel_type and rel_type.symmetric):
            head, tail = tail, head
        elif onto.relation_type("RELATED_TO") is not None:
            type_, confidence = "RELATED_TO", 0.4
        else:
            b.reject("relation", item, f"{type_} does not join {head.type} to {tail.type}")
            return
    evidence = _text_field(item, "evidence", "quote") or ""
    b.add_relation(
        head,
        type_,
        tail,
        evidence_text=evidence,
        confidence=confidence,
        extractor="llm",
        description=_text_field(item, "description") or "",
    )


# ---------------------------------------------------------------- spaCy-only extraction


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
COOCCURRENCE_CONFIDENCE = 0.2
MAX_COOCCURRING = 6


def extract_chunk_spacy(
    chunk: Chunk, doc: Any, candidates: Sequence[Candidate], ontology: Ontology
) -> ChunkResult:
    """Entities from spaCy candidates; relations from dependency patterns and co-occurrence."""
    b = _ChunkBuilder(chunk, candidates, ontology)
    span_owner: dict[tuple[int, int], Entity] = {}
    for c in candidates:
        s, e = c.start - chunk.start, c.end - chunk.start
        ent = b.add_entity(c.text, c.type, source="spacy", spans=[(s, e)])
        if ent is None:
            continue
        if (s, e) not in b.spans[ent.id]:
            b.spans[ent.id].append((s, e))
            ent.mentions.append(
                Mention(
                    chunk_id=chunk.id, doc_id=chunk.doc_id, start=c.start, end=c.end, text=c.text
                )
            )
        span_owner[(s, e)] = ent

    def owner(token: Any) -> tuple[Entity, tuple[int, int]] | None:
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
        options = VERB_RELATIONS.get(token.lemma_.lower())
        for subj in subjects:
            h = owner(subj)
            for obj in objects:
                t = owner(obj)
                if h is None or t is None or h[0].id == t[0].id:
                    continue
                _dep_relation(b, h, t, options)
    for tok in doc:
        if tok.dep_ == "conj":
            a, c = owner(tok.head), owner(tok)
            if a and c and a[0].id != c[0].id:
                kind = "CONJUNCTION" if ontology.relation_type("CONJUNCTION") else "RELATED_TO"
                if ontology.relation_type(kind):
                    b.add_relation(
                        a[0],
                        kind,
                        c[0],
                        confidence=0.3,
                        extractor="spacy-dep",
                        head_span=a[1],
                        tail_span=c[1],
                    )
    if ontology.relation_type("RELATED_TO"):
        for s_start, s_end in sentences(chunk.text):
            named = [
                (ent, span)
                for span, ent in sorted(span_owner.items())
                if s_start <= span[0]
                and span[1] <= s_end
                and ent.type != ontology.fallback_entity_type
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
    return b.result()


def _dep_relation(
    b: _ChunkBuilder,
    h: tuple[Entity, tuple[int, int]],
    t: tuple[Entity, tuple[int, int]],
    options: list[tuple[str, bool]] | None,
) -> None:
    onto = b.ontology
    for name, reverse in options or []:
        head, tail = (t, h) if reverse else (h, t)
        if onto.relation_type(name) and onto.allows(name, head[0].type, tail[0].type):
            b.add_relation(
                head[0],
                name,
                tail[0],
                confidence=0.5,
                extractor="spacy-dep",
                head_span=head[1],
                tail_span=tail[1],
            )
            return
    if onto.relation_type("RELATED_TO"):
        b.add_relation(
            h[0],
            "RELATED_TO",
            t[0],
            confidence=0.3,
            extractor="spacy-dep",
            head_span=h[1],
            tail_span=t[1],
        )


# ---------------------------------------------------------------- one LLM call per chunk


class ChunkExtractor:
    """Runs (or replays from the cache) the LLM call of a chunk and validates the answer."""

    def __init__(
        self, ontology: Ontology, chat: Callable[[], Any], cache: LLMCache | None, model: str
    ) -> None:
        self.ontology = ontology
        self.chat = chat
        self.cache = cache
        self.model = model

    def key(self, chunk: Chunk, context: str) -> str:
        return cache_key(
            PROMPT_VERSION, self.model, self.ontology.fingerprint(), context, chunk.text
        )

    def is_cached(self, chunk: Chunk, context: str) -> bool:
        return self.cache is not None and self.key(chunk, context) in self.cache

    def extract(
        self, chunk: Chunk, candidates: Sequence[Candidate], context: str, spacy_doc: Any = None
    ) -> ChunkResult:
        key = self.key(chunk, context)
        entry = self.cache.get(key) if self.cache is not None else None
        usage = LLMUsage()
        if entry is not None:
            usage.cached = 1
        else:
            entry = self._call(chunk, candidates, context)
            if self.cache is not None:
                self.cache.put(key, entry)
            usage = LLMUsage.model_validate(entry["usage"])
        parsed = entry.get("parsed")
        result = validate_extraction(parsed, chunk, candidates, self.ontology)
        result.usage = usage
        if usable(parsed) is not None:
            # the model gave nothing usable twice: keep the chunk in the graph via spaCy
            result.rejected[0].reason += f" (after retry: {entry.get('error')})"
            if callable(spacy_doc):  # parsed on demand: cached runs never need it
                spacy_doc = spacy_doc()
            if spacy_doc is not None:
                fallback = extract_chunk_spacy(chunk, spacy_doc, candidates, self.ontology)
                fallback.rejected = result.rejected
                fallback.usage = usage
                return fallback
        return result

    def _call(self, chunk: Chunk, candidates: Sequence[Candidate], context: str) -> dict[str, Any]:
        from langchain_core.messages import AIMessage, HumanMessage

        from kg.llm.client import invoke_json

        chat = self.chat()
        messages = build_messages(chunk, candidates, self.ontology, context)
        usage = LLMUsage()
        result = invoke_json(chat, messages, ChunkExtraction, max_tokens=MAX_OUTPUT_TOKENS)
        usage.add(result.usage)
        parsed = _parsed(result)
        problem = usable(parsed)
        error = result.error
        if problem is not None:  # one retry, telling the model what was wrong
            reason = (error or problem or "")[:300]
            shorter = (
                " It was too long: give at most 6 entities and 4 relations and a one-sentence "
                "summary."
                if "length" in reason.lower()
                else ""
            )
            messages += [
                AIMessage(content=(result.raw or "")[:2000]),
                HumanMessage(
                    content=f"That answer was not usable ({reason}).{shorter} Reply again with "
                    "only the JSON object with keys summary, entities, relations."
                ),
            ]
            retry = invoke_json(chat, messages, ChunkExtraction, max_tokens=MAX_OUTPUT_TOKENS)
            usage.add(retry.usage)
            if usable(_parsed(retry)) is None:
                parsed, error = _parsed(retry), retry.error
            else:
                error = retry.error or usable(_parsed(retry))
        return {"parsed": parsed, "error": error, "usage": usage.model_dump()}


def _parsed(result: Any) -> Any:
    data = getattr(result, "data", None)
    if data is not None:
        return data.model_dump() if hasattr(data, "model_dump") else data
    return getattr(result, "parsed", None)


def make_context(title: str, last_summary: str, names: Sequence[str]) -> str:
    """What the next chunk of a document is told: title, the last map summary, names so far."""
    parts = [f"Document: {title[:120]}"]
    if last_summary:
        parts.append(f"Earlier: {last_summary[:500]}")
    if names:
        parts.append("Names seen: " + ", ".join(names[:12]))
    return "\n".join(parts)


# ---------------------------------------------------------------- assembling the graph


def assemble(
    results: Iterable[ChunkResult], fallback_type: str = "Concept"
) -> tuple[list[Entity], list[Relation], list[Merge]]:
    """Entities merged by id then resolved across the corpus; relations remapped and merged."""
    by_id: dict[str, Entity] = {}
    relations: list[Relation] = []
    for r in results:
        for ent in r.entities:
            known = by_id.get(ent.id)
            if known is None:
                by_id[ent.id] = ent.model_copy(deep=True)
                continue
            known.mentions.extend(ent.mentions)
            if len(ent.description) > len(known.description):
                known.description = ent.description
            if ent.source == "llm":
                known.source = "llm"
        relations.extend(rs.relation for rs in r.relations)
    for ent in by_id.values():
        ent.mentions = _unique_mentions(ent.mentions)
    entities, merges = resolve(
        sorted(by_id.values(), key=lambda e: e.id), fallback_type=fallback_type
    )
    redirect = {m.merged_id: m.kept_id for m in merges}
    merged: dict[str, Relation] = {}
    for rel in relations:
        head = redirect.get(rel.head_id, rel.head_id)
        tail = redirect.get(rel.tail_id, rel.tail_id)
        if head == tail:
            continue
        new = Relation.make(
            head,
            rel.type,
            tail,
            evidence=list(rel.evidence),
            confidence=rel.confidence,
            extractor=rel.extractor,
            description=rel.description,
        )
        old = merged.get(new.id)
        if old is None:
            merged[new.id] = new
            continue
        seen = {(e.chunk_id, e.start, e.end) for e in old.evidence}
        old.evidence += [e for e in new.evidence if (e.chunk_id, e.start, e.end) not in seen]
        if new.confidence > old.confidence:
            old.confidence, old.extractor = new.confidence, new.extractor
        if len(new.description) > len(old.description):
            old.description = new.description
    for rel in merged.values():
        rel.evidence.sort(key=lambda e: (e.doc_id, e.start, e.end))
    return entities, sorted(merged.values(), key=lambda r: r.id), merges


def _unique_mentions(mentions: list[Mention]) -> list[Mention]:
    seen: dict[tuple[str, int, int], Mention] = {}
    for m in mentions:
        seen.setdefault((m.doc_id, m.start, m.end), m)
    return sorted(seen.values(), key=lambda m: (m.doc_id, m.start, m.end))


# ---------------------------------------------------------------- the stage


def run_extract(
    paths: Sequence[Path],
    workspace: Workspace,
    settings: Settings,
    *,
    spacy_only: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    chat: Any = None,
) -> Manifest:
    """Extract ``paths`` into ``workspace``; returns the manifest it wrote."""
    from kg import __version__

    t0 = time.perf_counter()
    ontology = load_ontology(settings.ontology)
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for item in iter_documents([Path(p) for p in paths], settings):
        (documents if isinstance(item, Document) else skipped).append(item)  # type: ignore[arg-type]
    chunks = {
        d.id: chunk_document(d, settings.chunk_size, settings.chunk_overlap) for d in documents
    }
    all_chunks = [c for d in documents for c in chunks[d.id]]
    cache = LLMCache.for_workspace(workspace.root)
    manifest = Manifest(
        kg_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        models={
            "llm": "none (spacy-only)" if spacy_only else settings.llm_model,
            "spacy": SPACY_MODEL_NAME,
        },
        ontology=ontology.name,
        ontology_hash=ontology.fingerprint(),
        config_hash=settings.extraction_fingerprint(),
        skipped=skipped,
        sources=[str(Path(p).resolve()) for p in paths],
    )
    if dry_run:
        _print_plan(documents, chunks, ontology, spacy_only, manifest)
        manifest.seconds = round(time.perf_counter() - t0, 3)
        return manifest

    if not documents:  # never replace a workspace with an empty one
        manifest.counts = {"documents": 0, "chunks": 0, "skipped": len(skipped)}
        manifest.seconds = round(time.perf_counter() - t0, 3)
        return manifest
    if progress:
        _print_warnings(documents)
    lazy = _LazyChat(settings, chat)
    with workspace.lock("extract"):
        analysis = Analysis(ontology, LLMCache(workspace.cache_dir / "spacy"), spacy_only)
        analysis.prepare(all_chunks)
        results = _run_chunks(
            documents, chunks, analysis, ontology, settings, spacy_only, lazy, cache, progress
        )
        usage = LLMUsage()
        for r in results.values():
            usage.add(r.usage)
        ordered = [results[c.id] for c in all_chunks]
        entities, relations, merges = assemble(ordered, ontology.fallback_entity_type)
        summaries = (
            []
            if spacy_only
            else _summaries(documents, chunks, results, lazy, cache, settings, usage)
        )
        rejected = [rej for r in ordered for rej in r.rejected]
        workspace.write("documents", documents)
        workspace.write("chunks", all_chunks)
        workspace.write("entities", entities)
        workspace.write("relations", relations)
        workspace.write("summaries", summaries)
        workspace.write("rejected", rejected)
        workspace.write("merges", merges)
        manifest.counts = {
            "documents": len(documents),
            "chunks": len(all_chunks),
            "entities": len(entities),
            "relations": len(relations),
            "summaries": len(summaries),
            "rejected": len(rejected),
            "merges": len(merges),
            "skipped": len(skipped),
        }
        manifest.llm_usage = usage
        manifest.seconds = round(time.perf_counter() - t0, 3)
        workspace.write_manifest(manifest)
    return manifest


SPACY_CACHE_VERSION = "spacy-v1"


class Analysis:
    """spaCy's work per chunk (candidates, or the whole spaCy-only result), cached on disk.

    Parsing is the slow part of a re-run, so results are keyed by chunk id and text and a re-run
    over an unchanged corpus loads them instead of parsing (and never loads the spaCy model).
    """

    def __init__(self, ontology: Ontology, cache: LLMCache, spacy_only: bool) -> None:
        self.ontology = ontology
        self.cache = cache
        self.spacy_only = spacy_only
        self._finder: MentionFinder | None = None
        self._lock = threading.Lock()
        self._memo: dict[str, Any] = {}

    def finder(self) -> MentionFinder:
        with self._lock:
            if self._finder is None:
                self._finder = MentionFinder(self.ontology)
            return self._finder

    def key(self, chunk: Chunk) -> str:
        mode = "result" if self.spacy_only else "candidates"
        return cache_key(SPACY_CACHE_VERSION, SPACY_MODEL_NAME, self.ontology.fingerprint(), mode,
                         chunk.id, chunk.text)  # fmt: skip

    def prepare(self, chunks: Sequence[Chunk]) -> None:
        """Parse (in batches) only the chunks that are not cached yet."""
        missing = [c for c in chunks if self.key(c) not in self.cache]
        if not missing:
            return
        for chunk, doc, cands in self.finder().analyse(missing):
            if self.spacy_only:
                value: Any = dump_result(extract_chunk_spacy(chunk, doc, cands, self.ontology))
            else:
                value = [asdict(c) for c in cands]
            self.cache.put(self.key(chunk), value)
            self._memo[chunk.id] = value

    def _value(self, chunk: Chunk) -> Any:
        value = self._memo.pop(chunk.id, None)
        if value is None:
            value = self.cache.get(self.key(chunk))
        if value is None:  # removed behind our back: parse again
            self.prepare([chunk])
            value = self._memo.pop(chunk.id)
        return value

    def candidates(self, chunk: Chunk) -> list[Candidate]:
        return [Candidate(**c) for c in self._value(chunk)]

    def spacy_result(self, chunk: Chunk) -> ChunkResult:
        return load_result(chunk, self._value(chunk))

    def doc(self, chunk: Chunk) -> Any:
        return self.finder().nlp(chunk.text)


def dump_result(result: ChunkResult) -> dict[str, Any]:
    return {
        "summary": result.summary,
        "entities": [e.model_dump(mode="json") for e in result.entities],
        "relations": [
            {"relation": r.relation.model_dump(mode="json"), "head_span": list(r.head_span),
             "tail_span": list(r.tail_span)}
            for r in result.relations
        ],
        "rejected": [r.model_dump(mode="json") for r in result.rejected],
    }  # fmt: skip


def load_result(chunk: Chunk, data: dict[str, Any]) -> ChunkResult:
    return ChunkResult(
        chunk=chunk,
        summary=data.get("summary", ""),
        entities=[Entity.model_validate(e) for e in data["entities"]],
        relations=[
            RelationSpan(Relation.model_validate(r["relation"]), tuple(r["head_span"]),
                         tuple(r["tail_span"]))
            for r in data["relations"]
        ],
        rejected=[Rejected.model_validate(r) for r in data["rejected"]],
    )  # fmt: skip


def _print_warnings(documents: list[Document]) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    for doc in documents:
        for warning in doc.warnings:
            console.print(f"[yellow]warning[/] {doc.path}: {warning}")


class _LazyChat:
    """Builds the chat model (and starts the offline server) only on the first cache miss."""

    def __init__(self, settings: Settings, chat: Any = None) -> None:
        self.settings = settings
        self._chat = chat
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._chat is None:
                from kg.llm.client import chat_model

                self._chat = chat_model(self.settings, max_tokens=MAX_OUTPUT_TOKENS)
            return self._chat


def _run_chunks(
    documents: list[Document],
    chunks: dict[str, list[Chunk]],
    analysis: Analysis,
    ontology: Ontology,
    settings: Settings,
    spacy_only: bool,
    chat: Callable[[], Any],
    cache: LLMCache,
    progress: bool,
) -> dict[str, ChunkResult]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    results: dict[str, ChunkResult] = {}
    total = sum(len(v) for v in chunks.values())
    extractor = ChunkExtractor(ontology, chat, cache, settings.llm_model)
    bar = Progress(
        TextColumn("[bold]extract"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        disable=not progress,
        transient=False,
    )
    lock = threading.Lock()

    def run_doc(doc: Document) -> None:
        last_summary = ""
        names: list[str] = []
        context = make_context(doc.title, "", [])
        for chunk in chunks[doc.id]:
            if spacy_only:
                result = analysis.spacy_result(chunk)
            else:
                result = extractor.extract(
                    chunk, analysis.candidates(chunk), context, lambda c=chunk: analysis.doc(c)
                )
                last_summary = result.summary or last_summary
                fresh = [
                    e.name
                    for e in result.entities
                    if e.type != ontology.fallback_entity_type and e.name not in names
                ]
                names = (fresh + names)[:12]
                context = make_context(doc.title, last_summary, names)
            with lock:
                results[chunk.id] = result
            bar.update(task, advance=1, note=doc.path[-40:])

    with bar:
        task = bar.add_task("chunks", total=total, note="")
        workers = 1 if spacy_only else max(1, settings.llm_concurrency)
        if workers == 1 or len(documents) < 2:
            for doc in documents:
                run_doc(doc)
        else:
            # chunks of one document run in order (each is told what came before)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for fut in [
                    pool.submit(run_doc, d)
                    for d in sorted(documents, key=lambda d: -len(chunks[d.id]))
                ]:
                    fut.result()
    return results


def _summaries(
    documents: list[Document],
    chunks: dict[str, list[Chunk]],
    results: dict[str, ChunkResult],
    chat: Callable[[], Any],
    cache: LLMCache,
    settings: Settings,
    usage: LLMUsage,
) -> list[Summary]:
    from pipelines.summarize import map_summaries, reduce_summaries

    out: list[Summary] = []
    for doc in documents:
        level0 = map_summaries(doc, [(c, results[c.id].summary) for c in chunks[doc.id]])
        out.extend(level0)
        out.extend(
            reduce_summaries(doc, level0, chat, cache=cache, model=settings.llm_model, usage=usage)
        )
    return out


def _print_plan(
    documents: list[Document],
    chunks: dict[str, list[Chunk]],
    ontology: Ontology,
    spacy_only: bool,
    manifest: Manifest,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="kg extract --dry-run (nothing is written)")
    for col in ("file", "chars", "chunks", "est. LLM calls", "est. prompt tokens"):
        table.add_column(col, justify="left" if col == "file" else "right")
    sys_tokens = len(system_prompt(ontology)) // 4
    tot_calls = tot_tokens = 0
    for doc in documents:
        n = len(chunks[doc.id])
        calls = 0 if spacy_only else n + (_reduce_calls_estimate(n) if n > 1 else 0)
        tokens = (
            0 if spacy_only else sum(len(c.text) // 4 + sys_tokens + 150 for c in chunks[doc.id])
        )
        tot_calls += calls
        tot_tokens += tokens
        table.add_row(doc.path, str(doc.chars), str(n), str(calls), str(tokens))
    table.add_row(
        "[bold]total",
        str(sum(d.chars for d in documents)),
        str(sum(len(v) for v in chunks.values())),
        str(tot_calls),
        str(tot_tokens),
    )
    console.print(table)
    for s in manifest.skipped:
        console.print(f"[yellow]skipped[/] {s.path}: {s.reason}")
    console.print(
        f"estimates assume an empty cache; output tokens are up to {MAX_OUTPUT_TOKENS} per call"
    )


def _reduce_calls_estimate(n_chunks: int) -> int:
    # ~60 tokens per map summary, collapse groups of ~3000 tokens, then one final reduce
    groups = (n_chunks * 60) // 3000
    return 1 + (groups + 1 if groups else 0)


__all__ = [
    "ChunkExtractor", "ChunkResult", "RelationSpan", "assemble", "build_messages",
    "extract_chunk_spacy", "run_extract", "validate_extraction",
]  # fmt: skip
