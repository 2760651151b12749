"""The trained tier: kg's SciERC joint model over every chunk, mapped into the ontology.

Chunks are cut into segments (lines, table cells, sentences) and words the way SciERC's
tokenisation cuts them; the shipped model types spans and labels ordered pairs of spans within
a segment. Labels map to the ontology through its ``trained_labels`` fields, so the same model
serves the notes ontology (Material -> Dataset, USED-FOR -> USES reversed, ...) and SciERC's own.
No decision of the classifier, no edge: this tier never emits ``RELATED_TO``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kg.models import Chunk, Entity, Evidence, Mention, Relation
from kg.ontology import Ontology
from kg.trained import JOINT_MODEL
from kg.trained.joint import MAX_WORDS, PTB, JointModel
from pipelines.extraction.results import ChunkResult, RelationSpan, dump_result, load_result

EXTRACTOR = "trained"
# sentences per encoder call: activations are quantised per row, so batch-mates change nothing
# (tests/test_trained_batching.py); at the model's fixed 128 pieces larger batches are no faster
BATCH = 8
# pairs scored at least this (but under the model's threshold) become candidates for the LLM tier
CANDIDATE_FLOOR = 0.1
# words: letters/digits with inner hyphens, apostrophes, dots or slashes ("k-means", "e.g.",
# "t-SNE", "TF/IDF"); any other non-space character is a word of its own, as in SciERC
_WORD = re.compile(r"\w+(?:[-'./]\w+)*|[^\w\s]")
# markdown and table furniture that SciERC's abstracts never contain: dropped from the words
_FURNITURE = frozenset("|#*_>`~=•")
_SEGMENT_BREAK = re.compile(r"\n|\|")
_SENTENCE_END = frozenset({".", "?", "!", ";"})


@dataclass
class Segment:
    """Words of one line/cell/sentence with their chunk-relative character offsets."""

    words: list[str]
    starts: list[int]
    ends: list[int]


def segments(text: str) -> list[Segment]:
    """Lines and table cells, then sentences, then windows of at most ``MAX_WORDS`` words."""
    out: list[Segment] = []
    pos = 0
    for piece in [*_SEGMENT_BREAK.split(text)]:
        words, starts, ends = [], [], []
        for m in _WORD.finditer(piece):
            w = m.group()
            if all(ch in _FURNITURE for ch in w):
                continue
            words.append(w)
            starts.append(pos + m.start())
            ends.append(pos + m.end())
            if w in _SENTENCE_END or len(words) >= MAX_WORDS:
                out.append(Segment(words, starts, ends))
                words, starts, ends = [], [], []
        if words:
            out.append(Segment(words, starts, ends))
        pos += len(piece) + 1
    return [s for s in out if any(ch.isalnum() for w in s.words for ch in w)]


def pretokenized_segments(text: str) -> list[Segment]:
    """Text that is already tokens joined by spaces (SciERC): its own words and sentences."""
    out: list[Segment] = []
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in re.finditer(r"\S+", text):
        words.append(m.group())
        starts.append(m.start())
        ends.append(m.end())
        if m.group() in {".", "?", "!"} or len(words) >= MAX_WORDS:
            out.append(Segment(words, starts, ends))
            words, starts, ends = [], [], []
    if words:
        out.append(Segment(words, starts, ends))
    return out


@lru_cache(maxsize=2)
def load_model(folder: str = str(JOINT_MODEL), threads: int = 1) -> JointModel:
    """One thread: documents run in parallel processes (``--workers``), one model each."""
    return JointModel(Path(folder), threads=threads)


def model_version(folder: Path = JOINT_MODEL) -> str:
    """What a cache of this tier's output is keyed by: the shipped model's identity."""
    import json

    meta = json.loads((folder / "meta.json").read_text())
    version = f"{meta['name']}-{meta['config_hash']}-{meta['train_data_sha256'][:8]}"
    return version + ("-rowq" if "per-row" in meta.get("activations", "") else "")


class TrainedTier:
    """Runs the shipped joint model over chunks, batched across the whole corpus."""

    def __init__(
        self,
        ontology: Ontology,
        model: JointModel | None = None,
        *,
        pretokenized: bool = False,
        batch_size: int = BATCH,
    ) -> None:
        self.ontology = ontology
        self.model = model or load_model()
        self.split = pretokenized_segments if pretokenized else segments
        self.batch_size = batch_size

    def extract(self, chunks: Sequence[Chunk]) -> dict[str, ChunkResult]:
        segs = [(c, s) for c in chunks for s in self.split(c.text)]
        words = [[PTB.get(w, w) for w in s.words] for _, s in segs]
        preds = self.model.predict(
            words, batch_size=self.batch_size, candidate_floor=CANDIDATE_FLOOR
        )
        results = {c.id: _Builder(c, self.ontology) for c in chunks}
        for (chunk, seg), pred in zip(segs, preds, strict=True):
            results[chunk.id].add(seg, pred)
        return {cid: b.result() for cid, b in results.items()}


class _Builder:
    """Collects one chunk's entities (by id) and relations (by id), in document offsets."""

    def __init__(self, chunk: Chunk, ontology: Ontology) -> None:
        self.chunk = chunk
        self.ontology = ontology
        self.entities: dict[str, Entity] = {}
        self.relations: dict[str, RelationSpan] = {}
        self.candidates: dict[str, RelationSpan] = {}

    def _entity(self, start: int, end: int, label: str) -> Entity | None:
        type_ = self.ontology.trained_entity_type(label)
        if type_ is None:
            return None
        text = self.chunk.text[start:end]
        doc_start, doc_end = self.chunk.start + start, self.chunk.start + end
        ent = Entity.make(text, type_, source=EXTRACTOR)
        known = self.entities.setdefault(ent.id, ent)
        if all((m.start, m.end) != (doc_start, doc_end) for m in known.mentions):
            known.mentions.append(
                Mention(chunk_id=self.chunk.id, doc_id=self.chunk.doc_id, start=doc_start,
                        end=doc_end, text=text)
            )  # fmt: skip
        return known

    def add(self, seg: Segment, pred: Any) -> None:
        ents: list[tuple[Entity | None, tuple[int, int]]] = []
        for i, j, label, _p in pred.entities:
            span = (seg.starts[i], seg.ends[j])
            ents.append((self._entity(*span, label), span))
        for a, c, label, p in pred.relations:
            self._relation(seg, ents[a], ents[c], label, p, self.relations)
        for a, c, label, p in pred.candidates:
            self._relation(seg, ents[a], ents[c], label, p, self.candidates)

    def _relation(
        self,
        seg: Segment,
        head: tuple[Entity | None, tuple[int, int]],
        tail: tuple[Entity | None, tuple[int, int]],
        label: str,
        p: float,
        into: dict[str, RelationSpan],
    ) -> None:
        (h, hs), (t, ts) = head, tail
        mapped = self.ontology.trained_relation_type(label)
        if h is None or t is None or mapped is None or h.id == t.id:
            return
        name, reverse = mapped
        if reverse:
            (h, hs), (t, ts) = (t, ts), (h, hs)
        lo, hi = min(seg.starts[0], hs[0], ts[0]), max(seg.ends[-1], hs[1], ts[1])
        rel = Relation.make(
            h.id, name, t.id, confidence=round(p, 4), extractor=EXTRACTOR,
            evidence=[Evidence(chunk_id=self.chunk.id, doc_id=self.chunk.doc_id,
                               start=self.chunk.start + lo, end=self.chunk.start + hi,
                               text=self.chunk.text[lo:hi])],
        )  # fmt: skip
        doc_h = (self.chunk.start + hs[0], self.chunk.start + hs[1])
        doc_t = (self.chunk.start + ts[0], self.chunk.start + ts[1])
        old = into.get(rel.id)
        if old is None or old.relation.confidence < rel.confidence:
            into[rel.id] = RelationSpan(rel, doc_h, doc_t)

    def result(self) -> ChunkResult:
        return ChunkResult(
            chunk=self.chunk,
            entities=list(self.entities.values()),
            relations=list(self.relations.values()),
            candidates=[c for k, c in self.candidates.items() if k not in self.relations],
        )


class TrainedStage:
    """The trained tier as a pipeline stage, its per-chunk results cached on disk.

    A re-run over an unchanged corpus reads the cache and never loads the model; a new model
    (its name, config hash and data hash) or a new ontology misses the cache.
    """

    def __init__(self, ontology: Ontology, cache: Any) -> None:
        self.ontology = ontology
        self.cache = cache
        self.version = model_version()
        self._tier: TrainedTier | None = None

    def key(self, chunk: Chunk) -> str:
        from kg.llm_cache import cache_key

        return cache_key("trained-v2", self.version, self.ontology.fingerprint(), chunk.id,
                         chunk.text)  # fmt: skip

    namespace = "trained"

    def compute(self, chunks: Sequence[Chunk]) -> dict[str, Any]:
        """Cache key -> cached value for ``chunks``; loads the model, touches no cache."""
        if self._tier is None:
            self._tier = TrainedTier(self.ontology)
        results = self._tier.extract(list(chunks))
        return {self.key(c): dump_result(results[c.id]) for c in chunks}

    def __call__(self, document: Any, chunks: list[Chunk]) -> dict[str, ChunkResult]:
        values = {c.id: self.cache.get(self.key(c)) for c in chunks}
        missing = [c for c in chunks if values[c.id] is None]
        if missing:  # a worker normally filled the cache (``pipelines.extraction.workers``)
            fresh = self.compute(missing)
            self.cache.put_many(fresh)
            for c in missing:
                values[c.id] = fresh[self.key(c)]
        return {c.id: load_result(c, values[c.id]) for c in chunks}


def vote_types(results: Sequence[ChunkResult]) -> int:
    """One type per trained name across the corpus: the type most of its mentions got.

    The model types each mention from its sentence, so "PCA" may come out Method in one line and
    Concept in the next; left alone that makes two nodes. Re-typing in place happens before the
    assembly, so relation ends follow (ids are re-made from the winning type). Returns the number
    of entities re-typed.
    """
    from collections import Counter, defaultdict

    from kg.models import entity_id, normalize_name

    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        for e in r.entities:
            if e.source == EXTRACTOR:
                votes[normalize_name(e.name)][e.type] += max(1, len(e.mentions))
    winner = {k: c.most_common(1)[0][0] for k, c in votes.items() if len(c) > 1}
    changed = 0
    for r in results:
        remap: dict[str, str] = {}
        for e in r.entities:
            want = winner.get(normalize_name(e.name))
            if e.source == EXTRACTOR and want and want != e.type:
                new_id = entity_id(e.name, want)
                remap[e.id] = new_id
                e.id, e.type = new_id, want
                changed += 1
        if remap:
            for rs in [*r.relations, *r.candidates]:
                rel = rs.relation
                head = remap.get(rel.head_id, rel.head_id)
                tail = remap.get(rel.tail_id, rel.tail_id)
                if (head, tail) != (rel.head_id, rel.tail_id):
                    rs.relation = Relation.make(
                        head, rel.type, tail, evidence=rel.evidence, confidence=rel.confidence,
                        extractor=rel.extractor, description=rel.description,
                        predicate=rel.predicate,
                    )  # fmt: skip
    return changed


def settle_overlaps(
    result: ChunkResult, fallback: str = "Concept", trained_types: frozenset[str] = frozenset()
) -> ChunkResult:
    """Where a trained span and another extractor's span overlap with different types, keep one.

    Structure rules and the LLM win with a specific type (the notes say what the cell is); with
    the fallback type both stay, and resolution lets the typed entity absorb the other. spaCy
    (English NER, its course rules, the gazetteer) wins with a type the trained tier never gives
    (people, places, courses, books ...) and for organisations of two or more words; a one-word
    "ORG" in ML notes is usually a method ("PCA", "SVM"), where the trained tier wins. Entities
    left without a mention in this chunk, and their relations, go.
    """
    trained = [(m, e) for e in result.entities if e.source == EXTRACTOR for m in e.mentions]
    others = [(m, e) for e in result.entities if e.source != EXTRACTOR for m in e.mentions]
    if not trained or not others:
        return result
    drop: set[tuple[str, int, int]] = set()
    for tm, te in trained:
        for om, oe in others:
            if om.end <= tm.start or tm.end <= om.start or oe.type == te.type:
                continue
            if oe.source != "spacy":
                if oe.type == fallback:
                    continue
                other_wins = True
            elif oe.type == "Organization":
                other_wins = len(oe.name.split()) > 1
            else:
                other_wins = oe.type not in trained_types
            loser, mention = (te, tm) if other_wins else (oe, om)
            drop.add((loser.id, mention.start, mention.end))
    if not drop:
        return result
    kept = []
    for e in result.entities:
        mentions = [m for m in e.mentions if (e.id, m.start, m.end) not in drop]
        if mentions:
            e.mentions = mentions
            kept.append(e)
    ids = {e.id for e in kept}
    result.entities = kept
    result.relations = [
        rs for rs in result.relations if rs.relation.head_id in ids and rs.relation.tail_id in ids
    ]
    result.candidates = [
        rs for rs in result.candidates if rs.relation.head_id in ids and rs.relation.tail_id in ids
    ]
    return result
