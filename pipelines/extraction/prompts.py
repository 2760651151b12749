"""The LLM tier's prompt: a static system part (ontology, rules) and a per-chunk user part.

The static part comes first so that llama.cpp reuses its KV cache across chunks; the user part
carries what came before in the document, the tagger's candidates and the chunk text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kg.models import Chunk
from kg.ontology import Ontology
from pipelines.extraction.candidates import Candidate

PROMPT_VERSION = "extract-v3"  # bump when the prompt changes: cached answers are keyed by it
MAX_OUTPUT_TOKENS = 900
MAX_CANDIDATES_IN_PROMPT = 30


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
    """The chunk's part: context, candidate names (typed only where the ruler typed them), text."""
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
    """System and user messages for one chunk's extraction call."""
    from langchain_core.messages import HumanMessage, SystemMessage

    return [
        SystemMessage(content=system_prompt(ontology)),
        HumanMessage(content=user_prompt(chunk, candidates, context)),
    ]
