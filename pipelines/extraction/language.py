"""The language pass: after every document's stages, read the prose for what the taggers missed.

In order, each behind its own setting (``kg.config.Settings``): notes entity types
(``entity_types.py``, corpus-wide), then per document coreference within a section
(``coref.py``), relation cues of the ontology (``cues.py``) and open relations
(``openie.py``). The parse is the one the candidate finder made this run (chunks it did not
parse, because their candidates were cached, are parsed here without NER).
Everything it adds goes into the chunks' ``ChunkResult`` before the assembly, so resolution,
the workspace and the load treat it like any other extractor's output (``extractor: cue`` or
``open``; an open relation's verb phrase is its ``predicate``).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from kg.llm_cache import LLMCache, cache_key
from kg.models import Chunk, Document, Entity, Evidence, Mention, Relation, normalize_name
from kg.ontology import Ontology
from pipelines.extraction.coref import Coreference
from pipelines.extraction.cues import CueBook, Reading, fits
from pipelines.extraction.entity_types import DROP, type_entities
from pipelines.extraction.junk import VAGUE_ADJECTIVES, junk_filter, word_list
from pipelines.extraction.openie import Clause, clause_span, clauses
from pipelines.extraction.results import ChunkResult, RelationSpan

if TYPE_CHECKING:
    from kg.config import Settings

Token = Any
CUE_CONFIDENCE = 0.6
OPEN_CONFIDENCE = 0.5
OPEN_SOURCE = "open"
LANGUAGE_CACHE_VERSION = "language-v9"  # bump when the pass's output for the same input changes
_COUNTS = ("anaphors", "cue_relations", "open_relations", "concepts")
MAX_ARG_TOKENS = 6
_CUT = re.compile(r"\s*(\n|•|\s\+\s|\|)")
_EDGE = "*_`#>|•~=\"' \t"
# a line that starts a list item or a heading, or an inline " - " bullet, inside a clause
_LIST_BREAK = re.compile(r"\n\s*(?:[-*•+#>|]|\d+[.)])|\s-\s|📚|\|")
_UNUSED = ["ner", "entity_ruler"]  # names are the other stages' work; the parse is what we use
_STRIP_POS = frozenset({"DET", "PRON", "NUM", "PUNCT", "SYM", "CCONJ", "ADP", "PART"})


@dataclass
class LanguageReport:
    retyped: int = 0
    anaphors: int = 0
    cue_relations: int = 0
    open_relations: int = 0
    concepts: int = 0
    seconds: float = 0.0
    links: list[tuple[str, int, int, str]] = field(default_factory=list)  # coref: doc, span, id

    def summary(self) -> dict[str, float]:
        """What the manifest records (``Manifest.language``)."""
        return {k: v for k, v in asdict(self).items() if k != "links"}


class LanguagePass:
    """Runs the enabled language stages over a whole corpus's merged results (in place)."""

    def __init__(
        self,
        ontology: Ontology,
        *,
        notes_types: bool = True,
        coreference: bool = True,
        relation_cues: bool = True,
        open_relations: bool = True,
        parsed: dict[str, Any] | None = None,
        nlp: Callable[[], Any] | None = None,
        cache: LLMCache | None = None,
    ) -> None:
        self.ontology = ontology
        self.notes_types = notes_types
        self.coreference = coreference
        self.relation_cues = relation_cues
        self.open_relations = open_relations and ontology.open_relation is not None
        self.book: CueBook | None = None  # built on first use (it lemmatises the cues)
        self.junk = junk_filter(ontology)
        # nouns that name a kind ("project", "library", "course"): "the X project" is X
        self.kind_nouns = frozenset(
            w for t in ontology.entity_types for w in (t.name.lower(), *t.anaphors, *t.parts)
        ) | frozenset(k for kind in ontology.structure.kinds for k in kind.keywords)
        # spaCy Docs the candidate finder parsed this run (the same parser): not parsed twice
        self.parsed = parsed if parsed is not None else {}
        self.nlp = nlp  # the pipeline that parsed them (None: spaCy's small English model)
        self.last_report: LanguageReport | None = None
        self.cache = cache  # per-document results keyed by their input: re-runs parse nothing
        self._pipeline: Any = None

    @classmethod
    def from_settings(
        cls,
        ontology: Ontology,
        settings: Settings,
        parsed: dict[str, Any] | None = None,
        nlp: Callable[[], Any] | None = None,
        cache: LLMCache | None = None,
    ) -> LanguagePass:
        return cls(
            ontology,
            cache=cache,
            parsed=parsed,
            nlp=nlp,
            notes_types=settings.notes_types,
            coreference=settings.coreference,
            relation_cues=settings.relation_cues,
            open_relations=settings.open_relations,
        )

    @property
    def parses(self) -> bool:
        return self.coreference or self.relation_cues or self.open_relations

    def run(self, documents: Sequence[Document], chunks: dict[str, list[Chunk]],
            results: dict[str, ChunkResult]) -> LanguageReport:  # fmt: skip
        import time

        t0 = time.perf_counter()
        report = LanguageReport()
        refused: set[str] = set()
        if self.notes_types:
            report.retyped, decided = type_entities(results, self.ontology)
            refused = {k for k, (t, _) in decided.items() if t == DROP}
        if self.parses:
            types = {normalize_name(e.name): e.type for r in results.values() for e in r.entities}
            types.update({k: DROP for k in refused})
            corpus_key = cache_key(*(f"{k}={v}" for k, v in sorted(types.items())))
            for doc in documents:
                mine = [c for c in chunks.get(doc.id, []) if c.id in results]
                self._document(doc, mine, results, types, corpus_key, report)
        report.seconds = round(time.perf_counter() - t0, 3)
        self.last_report = report
        return report

    def _document(
        self,
        doc: Document,
        mine: list[Chunk],
        results: dict[str, ChunkResult],
        types: dict[str, str],
        corpus_key: str,
        report: LanguageReport,
    ) -> None:
        """One document: from the cache when its chunks' input is unchanged, else parsed."""
        from pipelines.extraction.analysis import dump_result, load_result

        key = None
        if self.cache is not None:
            flags = f"{self.coreference}{self.relation_cues}{self.open_relations}"
            inputs = [cache_key(c.id, json.dumps(dump_result(results[c.id]), sort_keys=True))
                      for c in mine]  # fmt: skip
            key = cache_key(LANGUAGE_CACHE_VERSION, self.ontology.fingerprint(), flags,
                            corpus_key, *inputs)  # fmt: skip
            hit = self.cache.get(key)
            if hit is not None:
                for c in mine:
                    results[c.id] = load_result(c, hit["chunks"][c.id])
                for name, value in hit["report"].items():
                    setattr(report, name, getattr(report, name) + value)
                return
        before = {k: getattr(report, k) for k in _COUNTS}
        nlp = self._nlp()
        todo = [c for c in mine if c.id not in self.parsed]
        unused = [n for n in _UNUSED if n in nlp.pipe_names]
        fresh = dict(zip((c.id for c in todo), nlp.pipe((c.text for c in todo), disable=unused),
                         strict=True))  # fmt: skip
        parsed = [self.parsed.pop(c.id, None) or fresh[c.id] for c in mine]
        coref = Coreference(self.ontology, doc.text) if self.coreference else None
        people = _people(results[c.id] for c in mine)
        for chunk, parse in zip(mine, parsed, strict=True):
            one = _ChunkPass(self, results[chunk.id], parse, types, report)
            if self.coreference:
                one.full_names(people)
            one.run(coref)
        if self.cache is not None and key is not None:
            self.cache.put(key, {
                "chunks": {c.id: dump_result(results[c.id]) for c in mine},
                "report": {k: getattr(report, k) - before[k] for k in _COUNTS},
            })  # fmt: skip

    def _nlp(self) -> Any:
        """The parsing pipeline, loaded on the first document that needs parsing."""
        if self._pipeline is None:
            from pipelines.extraction.candidates import load_spacy

            self._pipeline = self.nlp() if self.nlp is not None else load_spacy()
            if self.relation_cues and self.book is None:
                self.book = CueBook(self.ontology, self._pipeline)
        return self._pipeline


class _ChunkPass:
    """One chunk: anchors, anaphors, then cue and open relations sentence by sentence."""

    def __init__(self, lp: LanguagePass, result: ChunkResult, doc: Any, types: dict[str, str],
                 report: LanguageReport) -> None:  # fmt: skip
        self.lp, self.r, self.doc, self.types, self.report = lp, result, doc, types, report
        self.chunk = result.chunk
        self.owner: list[Entity | None] = [None] * len(doc)
        self.spans: dict[int, tuple[int, int]] = {}  # token -> its mention's chunk span
        self.anaphor: dict[int, Entity] = {}
        self.created: set[str] = set()  # open-relation concepts this chunk made
        self.by_id = {e.id: e for e in result.entities}
        self.by_name = {normalize_name(e.name): e for e in result.entities}
        self.relations = {rs.relation.id: rs for rs in result.relations}
        self._anchor(result.entities)

    def _anchor(self, entities: Iterable[Entity]) -> None:
        c0 = self.chunk.start
        mentions = sorted(((m.start - c0, m.end - c0, e) for e in entities for m in e.mentions
                           if m.chunk_id == self.chunk.id), key=lambda x: x[0] - x[1])  # fmt: skip
        ends = [t.idx + len(t.text) for t in self.doc]
        for s, e, ent in mentions:  # longest first: a longer name keeps its tokens
            i = bisect_right(ends, s)  # the first token ending after the mention starts
            while i < len(ends) and self.doc[i].idx < e:
                if self.owner[i] is None:
                    self.owner[i] = ent
                    self.spans[i] = (s, e)
                i += 1

    # ------------------------------------------------------------------ the run

    def run(self, coref: Coreference | None) -> None:
        if coref is not None:
            self._describe(coref)
            self.anaphor = coref.chunk(self.chunk.start, self.doc, self.owner)
            for i, ent in self.anaphor.items():
                tok = self.doc[i]
                span = _np_span(tok)
                self._mention(ent, span, source_entity=ent)
                self.report.anaphors += 1
                self.report.links.append((self.chunk.doc_id, self.chunk.start + span[0],
                                          self.chunk.start + span[1], ent.id))  # fmt: skip
        if not (self.lp.relation_cues or self.lp.open_relations):
            self._write()
            return
        for sent in self.doc.sents:
            for clause in clauses(sent):
                self._clause(clause)
            if self.lp.book is not None:
                for first, second, reading in self.lp.book.frames(sent):
                    self._frame(first, second, reading, sent)
        self._write()

    def _describe(self, coref: Coreference) -> None:
        """Feed coreference what the chunk says its entities are ("X is a river")."""
        for sent in self.doc.sents:
            for clause in clauses(sent):
                if clause.kind not in {"copula", "appos"}:
                    continue
                for subj in clause.subjects:
                    ent = self.owner[subj.i]
                    if ent is None:
                        continue
                    for obj, prep in clause.objects:
                        if prep is None and obj.pos_ == "NOUN":
                            coref.describe(ent.id, obj.lemma_.lower())

    def full_names(self, people: dict[str, list[tuple[int, Entity]]]) -> None:
        """A one-word name that ends a person's full name in this document is that person."""
        c0 = self.chunk.start
        for tok in self.doc:
            ent = self.owner[tok.i]
            if ent is None or " " in ent.name or ent.name not in people:
                continue
            offset = c0 + tok.idx
            before = [(o, p) for o, p in people[ent.name] if o <= offset]
            full = (before[-1] if before else people[ent.name][0])[1]
            if full.id == ent.id:
                continue
            span = self.spans[tok.i]
            for i, other in enumerate(self.owner):
                if other is ent and self.spans.get(i) == span:
                    self.owner[i] = full
            known = self.by_id.get(ent.id)
            if known is not None:
                known.mentions = [m for m in known.mentions
                                  if (m.start - c0, m.end - c0) != span]  # fmt: skip
            self._mention(full, span, source_entity=full)
            mine = self.by_id[full.id]
            if ent.name not in mine.aliases:
                mine.aliases.append(ent.name)

    def _clause(self, clause: Clause) -> None:
        for subj in clause.subjects:
            head = self.argument(subj)
            if head is None:
                continue
            for obj, prep in clause.objects:
                tail = self.argument(obj)
                if tail is None or tail[0].id == head[0].id:
                    continue
                span = clause_span(clause, subj, obj)
                readings = self.lp.book.clause(clause, prep) if self.lp.book else []
                if self._first_fit(readings, head, tail, span, clause.predicate(prep)):
                    continue
                copula = clause.kind in {"copula", "appos", "hearst"} and prep is None
                if not (head[2] and tail[2]) or clause.negated:  # "X is not a Y": no open edge
                    continue
                if (
                    copula
                    and self.lp.open_relations
                    and self._emit("IS_A", head, tail, span, "open", "be", strict=True)
                ):
                    continue
                if self.lp.open_relations:
                    self._emit(self.lp.ontology.open_relation or "", head, tail, span, "open",
                               clause.predicate(prep))  # fmt: skip

        if self.lp.book is not None:
            for src, topic, reading in self.lp.book.source_pairs(clause):
                self._frame(src, topic, reading, clause.verb.sent)

    def _frame(self, first: Token, second: Token, reading: Reading, sent: Any) -> None:
        a, b = self.argument(first), self.argument(second)
        if a is None or b is None or a[0].id == b[0].id:
            return
        bare_prep = self.lp.book is not None and reading.cue in self.lp.book.preps
        # "the run with the lowest inertia": a bare preposition relates named things only
        if bare_prep and (a[0].id in self.created or b[0].id in self.created):
            return
        span = (sent.start_char, sent.end_char)
        self._first_fit([reading], a, b, span, reading.cue)

    def _first_fit(self, readings: list[Reading], a: tuple[Entity, tuple[int, int], bool],
                   b: tuple[Entity, tuple[int, int], bool], span: tuple[int, int],
                   predicate: str) -> bool:  # fmt: skip
        for reading in readings:
            h, t = (a, b) if reading.first_is_head else (b, a)
            if fits(self.lp.ontology, reading.relation, h[0].type, t[0].type):
                return self._emit(reading.relation, h, t, span, "cue", predicate, strict=True)
        return False

    # ------------------------------------------------------------------ arguments

    def argument(self, tok: Token, depth: int = 0) -> tuple[Entity, tuple[int, int], bool] | None:
        """(entity, its span in the chunk, may an open relation use it) for an argument token."""
        if self.owner[tok.i] is not None:
            return self.owner[tok.i], self.spans[tok.i], True
        if tok.i in self.anaphor:  # "it" is right too seldom to carry an untyped relation
            return self.anaphor[tok.i], _np_span(tok), tok.lower_ not in {"it", "its"}
        if depth < 2:  # "Week 3 of X" -> X
            for p in tok.children:
                if (
                    p.dep_ == "prep"
                    and p.lower_ in {"of", "from"}
                    and tok.lemma_.lower() in _PART_NOUNS
                ):
                    for o in p.children:
                        if o.dep_ == "pobj" and o.pos_ != "PRON":  # "all of it": no guess
                            found = self.argument(o, depth + 1)
                            if found is not None:
                                return found
        if tok.pos_ not in {"NOUN", "PROPN"}:
            return None
        names = [c for c in tok.children if c.dep_ == "appos" and c.pos_ == "PROPN"]
        if tok.pos_ == "NOUN" and names and depth < 2:  # "her daughter Irène Joliot-Curie"
            found = self.argument(names[0], depth + 1)
            if found is not None:
                return found
        lo, hi = _np_bounds(tok)
        if tok.lemma_.lower() in self.lp.kind_nouns:  # "the Running Clusters project" -> the name
            for i in range(hi, lo - 1, -1):
                if self.owner[i] is not None and self.doc[i].head.i == tok.i:
                    return self.owner[i], self.spans[i], True
        if not self.lp.open_relations:
            return None
        return self._concept(tok)

    def _concept(self, tok: Token) -> tuple[Entity, tuple[int, int], bool] | None:
        """A noun phrase taking part in a clause becomes a Concept (unless typed elsewhere)."""
        lo, hi = _np_bounds(tok)
        toks = list(self.doc[lo : hi + 1])
        definite = bool(toks) and toks[0].lower_ == "the"
        while (
            toks
            and not _hyphenated(toks)
            and not (definite and _ranking(toks[0]) and len(toks) > 1)  # "the highest mountain"
            and (
                toks[0].pos_ in _STRIP_POS
                or toks[0].is_stop
                or toks[0].lower_ in VAGUE_ADJECTIVES
                or (toks[0].tag_ in {"JJR", "JJS"} and len(toks) > 1)
                or (toks[0].tag_ == "JJ" and toks[0].is_title and len(toks) > 1)  # "a German X"
            )
        ):
            toks = toks[1:]
        while toks and toks[-1].pos_ in {"PUNCT", "SYM", "PART", "DET", "ADP", "CCONJ"}:
            toks = toks[:-1]
        if not toks or len(toks) > MAX_ARG_TOKENS or any(t.pos_ == "PRON" for t in toks):
            return None
        if any(t.like_url or t.like_email for t in toks):
            return None
        s, e = toks[0].idx, toks[-1].idx + len(toks[-1].text)
        text = self.chunk.text[s:e]
        cut = _CUT.search(text)
        if cut:
            text = text[: cut.start()]
            e = s + len(text)
        lead = len(text) - len(text.lstrip(_EDGE))
        text = text.strip(_EDGE)
        s += lead
        e = s + len(text)
        if len(text) < 2 or len(text) > 80 or self.lp.junk(text) or _stray(toks):
            return None
        key = normalize_name(text)
        ent = self.by_name.get(key)
        if ent is None:
            type_ = self.types.get(key, self.lp.ontology.fallback_entity_type)
            if type_ == DROP:
                return None
            ent = Entity.make(text, type_, source=OPEN_SOURCE,
                              type_reason="open relation argument"
                              if type_ == self.lp.ontology.fallback_entity_type
                              else "the corpus's type for this name")  # fmt: skip
            self.by_name[key] = ent
            self.by_id[ent.id] = ent
            self.created.add(ent.id)
            self.report.concepts += 1
        self._mention(ent, (s, e))
        for t in self.doc[lo : hi + 1]:
            if self.owner[t.i] is None and s <= t.idx < e:
                self.owner[t.i], self.spans[t.i] = ent, (s, e)
        return ent, (s, e), True

    def _mention(self, ent: Entity, span: tuple[int, int], source_entity: Entity | None = None
                 ) -> None:  # fmt: skip
        c = self.chunk
        known = self.by_id.get(ent.id)
        if known is None:  # an antecedent from an earlier chunk: a copy for this chunk
            known = (source_entity or ent).model_copy(update={"mentions": []}, deep=True)
            self.by_id[known.id] = known
            self.by_name.setdefault(normalize_name(known.name), known)
        s, e = c.start + span[0], c.start + span[1]
        if all((m.start, m.end) != (s, e) for m in known.mentions):
            known.mentions.append(Mention(chunk_id=c.id, doc_id=c.doc_id, start=s, end=e,
                                          text=c.text[span[0] : span[1]]))  # fmt: skip

    # ------------------------------------------------------------------ output

    def _emit(self, rel_type: str, head: tuple[Entity, tuple[int, int], bool],
              tail: tuple[Entity, tuple[int, int], bool], span: tuple[int, int], extractor: str,
              predicate: str, *, strict: bool = False) -> bool:  # fmt: skip
        onto = self.lp.ontology
        if not rel_type or onto.relation_type(rel_type) is None:
            return False
        if strict and not fits(onto, rel_type, head[0].type, tail[0].type):
            return False
        if extractor == "cue" and not self.lp.relation_cues:
            return False
        c = self.chunk
        if extractor == "open" and _LIST_BREAK.search(c.text[span[0] : span[1]]):
            return False  # the parser ran a clause across list items: not one statement
        rel = Relation.make(
            head[0].id, rel_type, tail[0].id, confidence=CUE_CONFIDENCE if extractor == "cue"
            else OPEN_CONFIDENCE, extractor=extractor, predicate=predicate or None,
            evidence=[Evidence(chunk_id=c.id, doc_id=c.doc_id, start=c.start + span[0],
                               end=c.start + span[1], text=c.text[span[0] : span[1]])],
        )  # fmt: skip
        old = self.relations.get(rel.id)
        if old is not None:
            seen = {(e.start, e.end) for e in old.relation.evidence}
            old.relation.evidence += [e for e in rel.evidence if (e.start, e.end) not in seen]
            return True
        for ent in (head[0], tail[0]):
            self._mention(ent, head[1] if ent is head[0] else tail[1], source_entity=ent)
        hs, ts = head[1], tail[1]
        self.relations[rel.id] = RelationSpan(rel, (c.start + hs[0], c.start + hs[1]),
                                              (c.start + ts[0], c.start + ts[1]))  # fmt: skip
        if extractor == "cue":
            self.report.cue_relations += 1
        else:
            self.report.open_relations += 1
        return True

    def _write(self) -> None:
        self.r.entities = sorted((e for e in self.by_id.values() if e.mentions),
                                 key=lambda e: e.id)  # fmt: skip
        self.r.relations = sorted(self.relations.values(), key=lambda rs: rs.relation.id)


# "Week 3 of X", "the second half of X": the part stands for X
_PART_NOUNS = word_list(
    "week lecture lesson module unit session half part chapter section page episode video day "
    "end beginning rest most much many some all one each several none majority portion"
)


def _people(results: Iterable[ChunkResult]) -> dict[str, list[tuple[int, Entity]]]:
    """Last word of every full person name in a document -> (offset, person), in order."""
    out: dict[str, list[tuple[int, Entity]]] = {}
    for r in results:
        for e in r.entities:
            if e.type == "Person" and len(e.name.split()) > 1:
                for m in e.mentions:
                    out.setdefault(e.name.split()[-1], []).append((m.start, e))
    return {k: sorted(v, key=lambda x: x[0]) for k, v in out.items()}


def _stray(toks: list[Token]) -> bool:
    """A capitalised common word opening a sentence ("Final", "Implementation") names nothing."""
    tok = toks[0]
    return len(toks) == 1 and tok.is_sent_start and tok.is_title and tok.pos_ != "PROPN"


def _ranking(tok: Token) -> bool:
    """A superlative or ordinal: part of a unique description ("the first vaccine")."""
    return tok.tag_ == "JJS" or (tok.pos_ == "ADJ" and tok.lower_ in _ORDINALS) or "-" in tok.text


_ORDINALS = word_list("first second third fourth fifth last only main")


def _hyphenated(toks: list[Token]) -> bool:
    """ "high-level": a first word joined to the next by a hyphen stays."""
    return len(toks) > 2 and toks[1].text == "-" and not toks[0].whitespace_


def _np_bounds(tok: Token) -> tuple[int, int]:
    """Token bounds of the noun phrase headed by ``tok`` (its left modifiers, no clauses)."""
    lo = tok.i
    for c in tok.lefts:
        if c.dep_ in {"compound", "amod", "det", "nummod", "poss", "nmod", "quantmod", "punct"}:
            lo = min(lo, c.left_edge.i)
    hi = tok.i
    for c in tok.rights:
        if c.dep_ in {"compound"} or (c.dep_ == "punct" and c.i == hi + 1 and c.text == "-"):
            hi = max(hi, c.right_edge.i)
    return lo, hi


def _np_span(tok: Token) -> tuple[int, int]:
    lo, hi = _np_bounds(tok)
    doc = tok.doc
    return doc[lo].idx, doc[hi].idx + len(doc[hi].text)
