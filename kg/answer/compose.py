"""The cited answer: the chosen candidate, the sentence that states it, and its citations.

The answer is "<candidate> — *<sentence>* [1]" (with an LLM sentence: "<its sentence> —
*<sentence>* [1]"); a two-fact answer
adds the bridge's sentence ("… *<bridge sentence>* [2]"), and a question asking two things
names each part's answer and quotes each part's sentence. A warning is given only when no
cited span contains the answer's text.
"""

from __future__ import annotations

from collections.abc import Sequence

from kg.answer.candidates import Candidate
from kg.answer.context import Passage
from kg.models import Citation

NOT_IN_CORPUS = "not in the corpus"
SNIPPET_CHARS = 400
NO_SUPPORT = "no source states the answer's terms; cited the closest passage"


def citation(n: int, p: Passage, selected_by: str) -> Citation:
    snippet = p.text if len(p.text) <= SNIPPET_CHARS else p.text[: SNIPPET_CHARS - 1] + "…"
    return Citation(n=n, chunk_id=p.chunk_id, doc_id=p.doc_id, path=p.path, start=p.start,
                    end=p.end, snippet=snippet, text=p.chunk_text or p.text,
                    selected_by=selected_by)  # fmt: skip


def quoted(candidate: Candidate | None, p: Passage, n: int) -> str:
    """'<candidate> — *<sentence>* [n]' (just the sentence when it is the candidate)."""
    sentence = f"*{p.text}* [{n}]"
    if candidate is None or len(candidate.text) >= 0.8 * len(p.text):
        return sentence
    return f"{candidate.text} — {sentence}"


def supported(answer_text: str, cited: Sequence[Passage]) -> bool:
    low = " ".join(answer_text.lower().split())
    return any(low in " ".join(p.raw.lower().split()) or low in p.text.lower() for p in cited)
