"""Entities for the benchmark corpora (BEIR, 2Wiki) from ``kg extract``'s own spaCy stage.

The retrieval benchmarks have no extracted graph, so their graph view is built here: every
passage goes through the same spaCy stage as a note (``Analysis``: spaCy candidates typed by
the default ontology, the junk filter, the dependency rules), cached per chunk, and the entities
are merged by id across the corpus as assembly does. A passage's title (2Wiki) names what the
passage is about, so it can also become an entity mentioned at the passage's start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from kg.llm_cache import LLMCache
from kg.models import Chunk, Entity, Mention, entity_id
from kg.ontology import load_ontology
from pipelines.extraction.analysis import Analysis

TITLE_TYPE = "Title"
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")  # "Paris (band)" is also called "Paris"


def corpus_entities(
    chunks: Sequence[Chunk], cache_dir: Path, titles: Mapping[str, str] | None = None
) -> list[Entity]:
    """Entities (name, type, mentions) the spaCy stage finds in ``chunks``, plus one per title;
    the parses are cached under ``cache_dir`` (6k passages take minutes)."""
    titles = titles or {}
    analysis = Analysis(load_ontology("default"), LLMCache(cache_dir / "spacy"), True)
    analysis.prepare(chunks)
    by_id: dict[str, Entity] = {}
    for chunk in chunks:
        title = titles.get(chunk.id)
        found = analysis.spacy_result(chunk).entities
        if title:
            end = min(len(title), len(chunk.text))
            mention = Mention(chunk_id=chunk.id, doc_id=chunk.doc_id, start=chunk.start,
                              end=chunk.start + end, text=chunk.text[:end])  # fmt: skip
            bare = _PAREN.sub("", title)
            aliases = [bare] if bare and bare != title else []
            found = [Entity(id=entity_id(title, TITLE_TYPE), name=title, type=TITLE_TYPE,
                            aliases=aliases, mentions=[mention]), *found]  # fmt: skip
        for ent in found:
            known = by_id.get(ent.id)
            if known is None:
                by_id[ent.id] = ent
            else:
                known.mentions.extend(ent.mentions)
    return list(by_id.values())
