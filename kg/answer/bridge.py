"""Two-fact questions: when the best passage names a bridge entity instead of the answer.

"Who teaches the course that covered PCA?": the passage stating PCA names the course, not the
teacher. The bridge is the best-scoring name in the top passages that is not the expected type;
its graph relations (as the sentences that state them) and a second retrieval seeded with its
name give second-hop passages, where the answer is looked for again. Both hops are cited.
"""

from __future__ import annotations

from collections.abc import Sequence

from kg.answer.candidates import Candidate
from kg.answer.context import Passage
from kg.answer.question import Question

MAX_BRIDGES = 2
BRIDGE_SOURCES = ("entity", "ner", "fact")
TOP_PASSAGES = 2


def needs_bridge(question: Question, ranked: Sequence[Candidate]) -> bool:
    """The question expects a type that its best candidates do not have."""
    if question.expected is None or question.overview:
        return False
    top = [c for c in ranked[:3] if c.features.get("novelty", 0) > 0]
    return not any(c.features.get("type", 0) >= 1.0 for c in top)


def bridges(question: Question, ranked: Sequence[Candidate], passages: Sequence[Passage]
            ) -> list[Candidate]:  # fmt: skip
    """Names in the best passages that are not the answer's type and not the question's."""
    best = sorted(range(len(passages)), key=lambda i: -passages[i].score)[:TOP_PASSAGES]
    out: list[Candidate] = []
    seen: set[str] = set()
    for c in ranked:
        if c.passage not in best or c.source not in BRIDGE_SOURCES:
            continue
        if c.features.get("novelty", 0) == 0 or c.text.lower() in seen:
            continue
        seen.add(c.text.lower())
        out.append(c)
        if len(out) == MAX_BRIDGES:
            break
    return out


def seeded_query(question: Question, bridge: Candidate, passage: Passage) -> str:
    """The second retrieval's query: the bridge's name and what the first hop left unsaid."""
    rest = [w for w in question.words if w.lower() not in passage.text.lower()]
    return " ".join([bridge.text, *rest])
