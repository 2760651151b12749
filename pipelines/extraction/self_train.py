"""Self-training from structure: a corpus's tables and lists teach a relation head for its prose.

The structure rules (``table``, ``heading``, ``list`` ...) read typed facts off the layout with
high precision; SciERC's labels have no COVERS or TAUGHT_BY. So those facts are distant labels:
every span pair the trained tier saw in a sentence whose two spans resolve to the two entities of
a structure fact is a positive for that fact's relation type; the other pairs in those sentences
and in the sentences of the same sections are negatives. A logistic regression on the shipped
model's pair features (its pair classifier's hidden layer, ``pair_features.py``), calibrated by
Platt scaling on cross-validation folds, then scores every prose pair; an edge needs a calibrated
probability of at least ``THRESHOLD`` and a head/tail type the ontology allows, and carries
``extractor: learned``.

It is a corpus pass: after the per-chunk stages and the type vote, before assembly. The head is
cached by a hash of its labels (re-learnt only when they change); the manifest gets a report with
the label counts and the precision/recall on a held-out split of its own labels. A corpus without
structure facts in its prose gets no head and no edges.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kg.models import Chunk, Document, Evidence, Relation
from kg.ontology import Ontology
from pipelines.extraction.assembly import assemble
from pipelines.extraction.pair_features import VERSION as PAIRS_VERSION
from pipelines.extraction.pair_features import PairFeatures, dump_pairs, load_pairs
from pipelines.extraction.resolution import Review
from pipelines.extraction.results import ChunkResult, RelationSpan
from pipelines.extraction.self_train_head import (
    HEAD_VERSION,
    NONE,
    _fit,
    _held_out,
    _load_head,
    _predict,
    _save_head,
)
from pipelines.extraction.structure import CONFIDENCE

EXTRACTOR = "learned"
STRUCTURE_EXTRACTORS = frozenset(CONFIDENCE)  # table, list, heading, enumeration, versus
MIN_POSITIVES = 6  # per relation type: fewer and that type is not learnt
MIN_NEGATIVES = 10
NEGATIVES_PER_POSITIVE = 10
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_BLANK_RUN = re.compile(r"\n[ \t]*\n")


@dataclass
class _Pairs:
    """All pairs of the corpus, deduplicated across overlapping chunks."""

    x: list[np.ndarray] = field(default_factory=list)
    head: list[str] = field(default_factory=list)  # resolved entity id
    tail: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)
    segment: list[tuple[str, int, int]] = field(default_factory=list)  # doc, start, end
    section: list[tuple[str, int]] = field(default_factory=list)
    chunk: list[Chunk] = field(default_factory=list)
    # fresh: a pair of mentions in a labelled sentence, encoded on demand (``jobs``); the
    # others come from the trained tier's cache
    fresh: list[bool] = field(default_factory=list)
    # a fresh pair of a sentence that names an entity of a structure fact but holds no fact:
    # not a label, only scored by the head
    apply_only: list[bool] = field(default_factory=list)
    jobs: list[_Job] = field(default_factory=list)

    def append(self, x: np.ndarray | None, h: str, t: str, spans: tuple[int, int, int, int],
               segment: tuple[str, int, int], section: tuple[str, int], chunk: Chunk,
               fresh: bool = False, apply_only: bool = False) -> None:  # fmt: skip
        self.x.append(x)  # type: ignore[arg-type]
        self.head.append(h)
        self.tail.append(t)
        self.spans.append(spans)
        self.segment.append(segment)
        self.section.append(section)
        self.chunk.append(chunk)
        self.fresh.append(fresh)
        self.apply_only.append(apply_only)


@dataclass
class _Job:
    """One labelled sentence to encode: its words, mention word spans and pair rows."""

    words: list[str]
    spans: list[tuple[int, int]]
    pairs: list[tuple[int, int]]
    rows: list[int]  # indices into _Pairs


Encoder = Callable[
    [list[str], list[tuple[int, int]], list[tuple[int, int]]], np.ndarray | None
]


class _Mentions:
    """Which resolved entity a document span belongs to (exact span first, then most overlap)."""

    def __init__(self, entities: Sequence[Any]) -> None:
        rows: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self.exact: dict[tuple[str, int, int], str] = {}
        for e in entities:
            for m in e.mentions:
                rows[m.doc_id].append((m.start, m.end, e.id))
                self.exact.setdefault((m.doc_id, m.start, m.end), e.id)
        self.rows = {d: sorted(r) for d, r in rows.items()}
        self.starts = {d: [r[0] for r in rs] for d, rs in self.rows.items()}
        self.longest = {d: max((e - s for s, e, _ in rs), default=0) for d, rs in self.rows.items()}

    def find(self, doc: str, start: int, end: int) -> str | None:
        hit = self.exact.get((doc, start, end))
        if hit is not None:
            return hit
        rows = self.rows.get(doc)
        if not rows:
            return None
        lo = bisect_left(self.starts[doc], start - self.longest[doc])
        best, best_overlap = None, 0
        for s, e, eid in rows[lo:]:
            if s >= end:
                break
            overlap = min(e, end) - max(s, start)
            # most of the span must be the mention (and most of the mention the span)
            if overlap * 2 > (end - start) and overlap * 2 > (e - s) and overlap > best_overlap:
                best, best_overlap = eid, overlap
        return best


def sections(text: str) -> list[int]:
    """Start offsets of the sections of a document: markdown headings, else paragraph blocks."""
    starts = [0]
    offset = 0
    heading = False
    for line in text.splitlines(keepends=True):
        if _HEADING.match(line) and offset:
            starts.append(offset)
            heading = True
        offset += len(line)
    if not heading:
        starts += [m.end() for m in _BLANK_RUN.finditer(text)]
    return sorted(set(starts))


def self_train(
    results: dict[str, ChunkResult],
    chunks: Sequence[Chunk],
    documents: Sequence[Document],
    ontology: Ontology,
    pairs_of: Callable[[Chunk], PairFeatures | None],
    cache_dir: Path | None = None,
    review: Review | None = None,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """Adds learned relations to ``results`` in place; returns the manifest's report.

    Resolution here is the assembly's own (with the reviewer's decisions), so a label is a fact
    between the entities the graph will hold."""
    t0 = time.perf_counter()
    ordered = [results[c.id] for c in chunks if c.id in results]
    fallback = ontology.fallback_entity_type
    entities, relations, _ = assemble(
        ordered, fallback, Review(review.decisions) if review else None
    )
    types = {e.id: e.type for e in entities}
    labels: dict[tuple[str, str], str] = {}
    structure_lines: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for rel in sorted(relations, key=lambda r: -r.confidence):
        if rel.extractor in STRUCTURE_EXTRACTORS:
            labels.setdefault((rel.head_id, rel.tail_id), rel.type)
            for ev in rel.evidence:
                structure_lines[ev.doc_id].append((ev.start, ev.end))
    report: dict[str, Any] = {"structure_facts": len(labels)}
    if not labels:
        return _done(report, "skipped", t0, reason="no structure facts")
    bounds = {d.id: sections(d.text) for d in documents}
    pairs = _Pairs()
    if encoder is not None:
        _sentence_pairs(pairs, chunks, entities, labels, structure_lines, bounds)
    _collect(pairs, chunks, pairs_of, _Mentions(entities), bounds)
    y = _label(pairs, labels, structure_lines)
    counts = Counter(v for v in y if v is not None)
    learnt = sorted(t for t, n in counts.items() if t != NONE and n >= MIN_POSITIVES)
    keep = _balanced([i for i, v in enumerate(y) if v == NONE or v in learnt], y, pairs)
    positives = sum(1 for i in keep if y[i] != NONE)
    report.update(
        pairs=len(pairs.head),
        sentence_pairs=sum(pairs.fresh) - sum(pairs.apply_only),
        scored_sentence_pairs=sum(pairs.apply_only),
        labels=len(keep),
        positives=positives,
        negatives=len(keep) - positives,
        by_type={t: counts[t] for t in sorted(counts) if t != NONE},
        learnt_types=learnt,
    )
    if not learnt or len(keep) - positives < MIN_NEGATIVES:
        return _done(report, "skipped", t0, reason=f"too few labels (at least {MIN_POSITIVES} "
                     f"positives of a type and {MIN_NEGATIVES} negatives)")  # fmt: skip
    keys = [(pairs.segment[i][0], *pairs.spans[i], y[i]) for i in keep]
    label_hash = hashlib.sha256(
        json.dumps([HEAD_VERSION, PAIRS_VERSION, sorted(keys)]).encode()
    ).hexdigest()[:16]
    report["label_hash"] = label_hash
    cached = _load_head(cache_dir, label_hash)
    if cached is not None:
        model, held_out = cached
        state = "cached"
    else:
        _encode(pairs, encoder, set(keep))
        keep = [i for i in keep if pairs.x[i] is not None]
        x = _with_types(pairs, keep, types, ontology)
        groups = [pairs.segment[i] for i in keep]
        labels_y = np.array([y[i] for i in keep])
        held_out = _held_out(x, labels_y, groups)
        model = _fit(x, labels_y)
        _save_head(cache_dir, label_hash, model, held_out)
        state = "trained"
    report["held_out"] = held_out
    _encode(pairs, encoder, {i for i, a in enumerate(pairs.apply_only) if a})
    report["edges"] = _apply(model, pairs, labels, structure_lines, types, ontology, results)
    return _done(report, state, t0)


def _with_types(
    pairs: _Pairs, rows: list[int], types: dict[str, str], ontology: Ontology
) -> np.ndarray:
    """Pair features and the two entities' ontology types (one-hot): the encoder's labels are
    SciERC's, which have no Course or Book."""
    names = ontology.entity_names
    index = {n: k for k, n in enumerate(names)}
    x = np.stack([pairs.x[i] for i in rows])
    onehot = np.zeros((len(rows), 2 * len(names)), np.float32)
    for r, i in enumerate(rows):
        for side, eid in ((0, pairs.head[i]), (1, pairs.tail[i])):
            k = index.get(types.get(eid, ""))
            if k is not None:
                onehot[r, side * len(names) + k] = 1.0
    return np.concatenate([x, onehot], axis=1)


def _balanced(keep: list[int], y: list[str | None], pairs: _Pairs) -> list[int]:
    """All positives, the negatives of their own sentences, and a fixed-seed sample of the
    section negatives (at most ``NEGATIVES_PER_POSITIVE`` per positive in all): a whole
    section's pairs would drown a few dozen positives."""
    pos = [i for i in keep if y[i] != NONE]
    pos_segments = {pairs.segment[i] for i in pos}
    same = [i for i in keep if y[i] == NONE and pairs.segment[i] in pos_segments]
    other = [i for i in keep if y[i] == NONE and pairs.segment[i] not in pos_segments]
    room = max(0, NEGATIVES_PER_POSITIVE * len(pos) - len(same))
    if len(other) > room:
        rng = np.random.default_rng(0)
        other = sorted(rng.choice(other, size=room, replace=False).tolist())
    return sorted([*pos, *same, *other])


def _done(report: dict[str, Any], state: str, t0: float, **extra: Any) -> dict[str, Any]:
    report.update(state=state, seconds=round(time.perf_counter() - t0, 3), **extra)
    return report


def _section(bounds: dict[str, list[int]], doc: str, start: int) -> tuple[str, int]:
    starts = bounds.get(doc, [0])
    return doc, max(0, bisect_left(starts, start + 1) - 1)


def _collect(
    out: _Pairs,
    chunks: Sequence[Chunk],
    pairs_of: Callable[[Chunk], PairFeatures | None],
    mentions: _Mentions,
    bounds: dict[str, list[int]],
) -> None:
    """The trained tier's cached pairs whose two spans are two resolved entities."""
    taken = {out.segment[i] for i in range(len(out.head)) if out.fresh[i]}
    seen: set[tuple[str, int, int, int, int]] = set()
    for chunk in chunks:
        pf = pairs_of(chunk)
        if pf is None:
            continue
        doc = chunk.doc_id
        for row, vec in zip(pf.spans, pf.x, strict=True):
            hs, he, ts, te, ss, se = row
            key = (doc, hs, he, ts, te)
            if key in seen or (doc, ss, se) in taken:
                continue
            seen.add(key)
            h, t = mentions.find(doc, hs, he), mentions.find(doc, ts, te)
            if h is None or t is None or h == t:
                continue
            out.append(vec, h, t, (hs, he, ts, te), (doc, ss, se), _section(bounds, doc, ss), chunk)


def _sentence_pairs(
    out: _Pairs,
    chunks: Sequence[Chunk],
    entities: Sequence[Any],
    labels: dict[tuple[str, str], str],
    structure_lines: dict[str, list[tuple[int, int]]],
    bounds: dict[str, list[int]],
) -> None:
    """Every prose sentence where the two entities of a structure fact are both mentioned: all
    ordered pairs of its mentioned entities, to be encoded on demand (the trained tier only
    paired the spans it found itself, which rarely include a course's name). Sentences that
    name the head of a structure fact with other entities, but hold no fact, give pairs the
    head only scores (``apply_only``)."""
    from pipelines.extraction.trained import segments

    by_doc: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for e in entities:
        for m in e.mentions:
            by_doc[m.doc_id].append((m.start, m.end, e.id))
    for doc, rows in _name_matches(chunks, entities, labels).items():
        by_doc[doc].extend(rows)
    for rows in by_doc.values():
        rows.sort()
    starts = {d: [r[0] for r in rows] for d, rows in by_doc.items()}
    heads = {h for h, _ in labels}
    seen: set[tuple[str, int, int]] = set()
    for chunk in chunks:
        doc = chunk.doc_id
        for seg in segments(chunk.text):
            ss, se = chunk.start + seg.starts[0], chunk.start + seg.ends[-1]
            if (doc, ss, se) in seen or _in_structure((doc, ss, se), structure_lines):
                continue
            seen.add((doc, ss, se))
            rows = by_doc.get(doc, [])
            lo = bisect_left(starts.get(doc, []), ss)
            found: dict[str, tuple[int, int]] = {}
            for ms, me, eid in rows[lo:]:
                if ms >= se:
                    break
                if me <= se and eid not in found:
                    span = _word_span(seg.starts, seg.ends, ms - chunk.start, me - chunk.start)
                    if span is not None:
                        found[eid] = span
            ids = list(found)
            labelled = any((h, t) in labels for h in ids if h in heads for t in ids)
            if not labelled and (len(ids) < 2 or not heads.intersection(ids)):
                continue
            job = _Job(list(seg.words), [found[e] for e in ids], [], [])
            for a, h in enumerate(ids):
                for c, t in enumerate(ids):
                    if a == c:
                        continue
                    (hi, hj), (ti, tj) = found[h], found[t]
                    spans = (chunk.start + seg.starts[hi], chunk.start + seg.ends[hj],
                             chunk.start + seg.starts[ti], chunk.start + seg.ends[tj])  # fmt: skip
                    job.pairs.append((a, c))
                    job.rows.append(len(out.head))
                    out.append(None, h, t, spans, (doc, ss, se), _section(bounds, doc, ss), chunk,
                               fresh=True, apply_only=not labelled)  # fmt: skip
            out.jobs.append(job)


def _name_matches(
    chunks: Sequence[Chunk], entities: Sequence[Any], labels: dict[tuple[str, str], str]
) -> dict[str, list[tuple[int, int, str]]]:
    """Where the names (and aliases) of the labels' entities occur in the text, as whole words:
    distant supervision matches names, wherever an extractor did or did not mark them."""
    wanted = {i for pair in labels for i in pair}
    by_name: dict[str, str] = {}
    for e in entities:
        if e.id in wanted:
            for name in (e.name, *e.aliases):
                if len(name.strip()) >= 2:
                    by_name.setdefault(name.strip().lower(), e.id)
    if not by_name:
        return {}
    alternation = "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)
    out: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for chunk in chunks:
        for m in pattern.finditer(chunk.text):
            start = chunk.start + m.start()
            if (chunk.doc_id, start) in seen:
                continue
            seen.add((chunk.doc_id, start))
            eid = by_name.get(m.group().lower())
            if eid is not None:
                out[chunk.doc_id].append((start, chunk.start + m.end(), eid))
    return out


def _word_span(starts: list[int], ends: list[int], s: int, e: int) -> tuple[int, int] | None:
    """The words a character span covers (chunk offsets), or None when it covers none."""
    idx = [k for k, (ws, we) in enumerate(zip(starts, ends, strict=True)) if ws >= s and we <= e]
    return (idx[0], idx[-1]) if idx else None


def _encode(pairs: _Pairs, encoder: Encoder | None, wanted: set[int]) -> None:
    """Features of the fresh pairs that are labels (one encoder call per sentence)."""
    for job in pairs.jobs:
        if encoder is None or not any(r in wanted for r in job.rows):
            continue
        x = encoder(job.words, job.spans, job.pairs)
        if x is None:  # the sentence was longer than the encoder reads
            continue
        for r, vec in zip(job.rows, x, strict=True):
            pairs.x[r] = vec


def _in_structure(seg: tuple[str, int, int], lines: dict[str, list[tuple[int, int]]]) -> bool:
    doc, s, e = seg
    return any(ls < e and s < le for ls, le in lines.get(doc, ()))


def _label(
    pairs: _Pairs,
    labels: dict[tuple[str, str], str],
    structure_lines: dict[str, list[tuple[int, int]]],
) -> list[str | None]:
    """Per pair: its relation type (positive), NONE (negative) or None (not a label).

    Pairs in the lines the structure rules read are not prose and teach nothing new; a pair whose
    reverse is a fact is left out (its direction is the only thing that is wrong).
    """
    n = len(pairs.head)
    y: list[str | None] = [None] * n
    prose = [not _in_structure(pairs.segment[i], structure_lines) for i in range(n)]
    pos_segments, pos_sections = set(), set()
    for i in range(n):
        if pairs.apply_only[i]:
            continue
        fact = labels.get((pairs.head[i], pairs.tail[i]))
        if fact is not None and prose[i]:
            y[i] = fact
            pos_segments.add(pairs.segment[i])
            pos_sections.add(pairs.section[i])
    for i in range(n):
        if y[i] is not None or not prose[i] or (pairs.tail[i], pairs.head[i]) in labels:
            continue
        if pairs.apply_only[i]:
            continue
        if pairs.segment[i] in pos_segments or pairs.section[i] in pos_sections:
            y[i] = NONE
    return y


def _apply(
    model: Any,
    pairs: _Pairs,
    labels: dict[tuple[str, str], str],
    structure_lines: dict[str, list[tuple[int, int]]],
    types: dict[str, str],
    ontology: Ontology,
    results: dict[str, ChunkResult],
) -> int:
    """Learned relations for every prose pair the head scores high enough; returns how many
    distinct ones (one relation may be found in several sentences)."""
    prose = [
        i for i in range(len(pairs.head))
        if (not pairs.fresh[i] or pairs.apply_only[i]) and pairs.x[i] is not None
        and not _in_structure(pairs.segment[i], structure_lines)
    ]  # fmt: skip
    if not prose:
        return 0
    x = _with_types(pairs, prose, types, ontology)
    added: set[str] = set()
    for i, (type_, p) in zip(prose, _predict(model, x), strict=True):
        h, t = pairs.head[i], pairs.tail[i]
        if type_ == NONE or labels.get((h, t)) == type_:
            continue
        if not ontology.allows(type_, types.get(h, ""), types.get(t, "")):
            continue
        chunk = pairs.chunk[i]
        doc, ss, se = pairs.segment[i]
        hs, he, ts, te = pairs.spans[i]
        rel = Relation.make(
            h, type_, t, confidence=round(p, 4), extractor=EXTRACTOR,
            evidence=[Evidence(chunk_id=chunk.id, doc_id=doc, start=ss, end=se,
                               text=chunk.text[ss - chunk.start : se - chunk.start])],
        )  # fmt: skip
        results[chunk.id].relations.append(RelationSpan(rel, (hs, he), (ts, te)))
        added.add(rel.id)
    return len(added)


def run_self_train(
    results: dict[str, ChunkResult],
    chunks: Sequence[Chunk],
    documents: Sequence[Document],
    ontology: Ontology,
    trained_cache: Any,
    cache_root: Path,
    review: Review | None = None,
) -> dict[str, Any]:
    """The pipeline's one call: pair features from the trained tier's cache, head cache under
    ``cache_root/self_train``."""
    from pipelines.extraction.trained import TrainedStage

    stage = TrainedStage(ontology, trained_cache, pair_features=True)
    return self_train(
        results, chunks, documents, ontology, stage.pairs, cache_root / "self_train", review,
        encoder=CachedEncoder(trained_cache, stage.version),
    )  # fmt: skip


class CachedEncoder:
    """The shipped model's pair features for chosen spans of one sentence, cached (float16, as
    the trained tier's own pair features are) so that a re-run encodes nothing."""

    def __init__(self, cache: Any, version: str) -> None:
        self.cache = cache
        self.version = version

    def __call__(
        self, words: list[str], spans: list[tuple[int, int]], pairs: list[tuple[int, int]]
    ) -> np.ndarray | None:
        from kg.llm_cache import cache_key

        key = cache_key("self-train-sentence-v1", self.version, json.dumps([words, spans, pairs]))
        hit = self.cache.get(key)
        if hit is not None:
            return None if hit.get("none") else load_pairs("", hit).x
        x = _trained_encoder(words, spans, pairs)
        if x is None:
            self.cache.put(key, {"none": True})
            return None
        packed = PairFeatures("", [(0, 0, 0, 0, 0, 0)] * len(pairs))
        packed.x = x
        data = dump_pairs(packed)
        self.cache.put(key, data)
        return load_pairs("", data).x  # the same float16 values a re-run reads


def _trained_encoder(
    words: list[str], spans: list[tuple[int, int]], pairs: list[tuple[int, int]]
) -> np.ndarray | None:
    """The shipped model's pair features for chosen spans of one sentence."""
    from kg.trained.joint import PTB
    from pipelines.extraction.trained import load_model

    model = load_model()
    (vecs,) = model.word_vectors([[PTB.get(w, w) for w in words]])
    if max(j for _, j in spans) >= len(vecs):
        return None
    return model.heads.pair_hidden(vecs, spans, pairs)
