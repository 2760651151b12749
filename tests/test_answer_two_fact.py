"""Two-fact questions: the best passage names a bridge; its facts and a seeded retrieval
give the second hop, and both hops are cited."""

from __future__ import annotations

from dataclasses import dataclass, field

from kg.answer import Plain, analyse, answer
from kg.answer.candidates import Mention
from kg.models import Chunk, Evidence, GraphFact, SearchHit
from kg.ontology import load_ontology

ONTOLOGY = load_ontology("default")
A = "Monday notes.\n\nEigenfaces were covered in Vision Basics during the second week."
B = "Vision Basics is taught by Dr. Mara Quinn, who also runs the lab.\n\nI bought a notebook."
HIT_A = SearchHit(chunk_id="a", doc_id="da", path="monday.md", start=0, end=len(A), text=A,
                  score=1.0)  # fmt: skip
HIT_B = SearchHit(chunk_id="b", doc_id="db", path="course.md", start=0, end=len(B), text=B,
                  score=0.8)  # fmt: skip
TAUGHT = GraphFact(
    head="Vision Basics", type="TAUGHT_BY", tail="Mara Quinn", head_type="Course",
    tail_type="Person",
    evidence=[Evidence(doc_id="db", chunk_id="b", start=0, end=B.index("\n"), text="")],
)  # fmt: skip


@dataclass
class Workspace(Plain):
    """Sources whose facts and second retrieval reach document B from the bridge's name."""

    searched: list[str] = field(default_factory=list)

    def facts_of(self, name: str) -> list[GraphFact]:
        return [TAUGHT] if name == "Vision Basics" else []

    def search(self, query: str, k: int) -> list[SearchHit]:
        self.searched.append(query)
        return [HIT_B] if "Vision Basics" in query else []


def _sources() -> Workspace:
    at = A.index("Vision Basics")
    return Workspace(
        chunks={
            h.chunk_id: Chunk(
                id=h.chunk_id, doc_id=h.doc_id, index=0, start=h.start, end=h.end, text=h.text
            )
            for h in (HIT_A, HIT_B)
        },
        mentions={"a": [Mention(at, at + 13, "Vision Basics", "Course", "e1")]},
        ontology=ONTOLOGY,
    )


def test_the_bridge_leads_to_the_answer_and_both_hops_are_cited() -> None:
    src = _sources()
    q = analyse("Who teaches the course that covered eigenfaces?", ONTOLOGY)
    result = answer(q, [HIT_A], [], None, src)
    assert result.candidate.endswith("Mara Quinn") and result.hops == 2
    assert [c.doc_id for c in result.citations] == ["db", "da"]
    assert [c.selected_by for c in result.citations] == ["candidates", "bridge"]
    assert "*Eigenfaces were covered in Vision Basics during the second week.* [2]" in (
        result.answer)  # fmt: skip
    assert TAUGHT in result.facts  # the second hop's fact is listed with the answer
    assert src.searched and src.searched[0].startswith("Vision Basics")


def test_a_one_fact_question_does_not_take_a_second_hop() -> None:
    src = _sources()
    q = analyse("Which course covered eigenfaces?", ONTOLOGY)
    result = answer(q, [HIT_A], [], None, src)
    assert result.candidate == "Vision Basics" and result.hops == 1 and src.searched == []
