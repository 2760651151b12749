"""Graph facts first: the sentence or table row stating each linked fact leads the prompt, and
the citation of a fact points at that span; overview questions get the document summaries."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from kg.answer import answer, build_messages
from kg.answer_context import build_context, is_overview, linked_facts
from kg.models import Chunk, Entity, Evidence, Relation, SearchHit, Summary

DOC = (
    "Days | Topics Covered | Resources |\n"
    "---|---|---|\n"
    "Day2 | Univariate Linear regression | Machine Learning Specialization |\n"
    "Day29 | K-means clustering, inertia | Machine Learning Specialization |\n"
    "Day61 | Random Forest | Hands-On Machine Learning |\n"
    "\n"
    "Today I read about clustering. K-means assigns each point to the nearest centroid. "
    "The algorithm repeats until the centroids stop moving.\n"
)
TABLE_END = DOC.index("\n\n")
CHUNKS = {
    "k1": Chunk(id="k1", doc_id="d1", index=0, start=0, end=TABLE_END, text=DOC[:TABLE_END]),
    "k2": Chunk(id="k2", doc_id="d1", index=1, start=TABLE_END, end=len(DOC), text=DOC[TABLE_END:]),
}
COURSE = Entity.make("Machine Learning Specialization", "Course")
KMEANS = Entity.make("K-means clustering", "Concept")
FOREST = Entity.make("Random Forest", "Method")
ENTITIES = {e.id: e for e in (COURSE, KMEANS, FOREST)}
RELATIONS = [  # evidence spans the whole table, as a table extractor gives it
    Relation.make(
        COURSE.id,
        "COVERS",
        KMEANS.id,
        confidence=0.8,
        evidence=[Evidence(chunk_id="k1", doc_id="d1", start=0, end=TABLE_END)],
    ),
    Relation.make(
        COURSE.id,
        "COVERS",
        FOREST.id,
        confidence=0.9,
        evidence=[Evidence(chunk_id="k1", doc_id="d1", start=0, end=TABLE_END)],
    ),
]
HITS = [  # retrieval put the prose first: the fact must still lead
    SearchHit(chunk_id="k2", doc_id="d1", path="log.md", start=TABLE_END, end=len(DOC),
              text=DOC[TABLE_END:]),
    SearchHit(chunk_id="k1", doc_id="d1", path="log.md", start=0, end=TABLE_END,
              text=DOC[:TABLE_END]),
]  # fmt: skip
Q = "Which course covered K-means clustering?"


def _facts(question: str = Q) -> list:
    return linked_facts(question, [KMEANS], RELATIONS, ENTITIES)


def test_linked_facts_carry_evidence_and_only_touch_the_linked_entity() -> None:
    facts = _facts()
    assert [(f.head, f.type, f.tail) for f in facts] == [
        ("Machine Learning Specialization", "COVERS", "K-means clustering")
    ]
    assert facts[0].evidence and facts[0].evidence[0].chunk_id == "k1"
    assert linked_facts(Q, [], RELATIONS, ENTITIES) == []


def test_fact_sentence_is_the_table_row_and_comes_first() -> None:
    passages = build_context(Q, HITS, _facts(), CHUNKS, paths={"d1": "log.md"})
    first = passages[0]
    assert first.kind == "fact" and first.fact is not None
    row = "Day29 | K-means clustering, inertia | Machine Learning Specialization |"
    assert first.text == row
    assert DOC[first.start : first.end] == row  # a span in document offsets
    assert any(p.kind == "sentence" and "centroid" in p.text for p in passages[1:])
    prompt = build_messages(Q, passages, _facts())[-1][1]
    assert prompt.index("Graph facts:") < prompt.index("Sources:")
    assert "-COVERS-> K-means clustering (Concept) [1]" in prompt
    assert prompt.index(f"[1] (log.md) {row}") < prompt.index("centroid")


def test_prose_fact_is_narrowed_to_the_sentence_naming_both_ends() -> None:
    centroid = Entity.make("centroid", "Concept")
    kmeans = Entity.make("K-means", "Method")
    rel = Relation.make(
        kmeans.id,
        "USES",
        centroid.id,
        evidence=[Evidence(chunk_id="k2", doc_id="d1", start=TABLE_END, end=len(DOC))],
    )
    entities = {e.id: e for e in (centroid, kmeans)}
    facts = linked_facts("What does K-means use?", [kmeans], [rel], entities)
    passages = build_context("What does K-means use?", HITS, facts, CHUNKS)
    sentence = "K-means assigns each point to the nearest centroid."
    assert passages[0].kind == "fact" and passages[0].text == sentence
    assert DOC[passages[0].start : passages[0].end] == sentence


def test_the_fact_citation_points_at_the_row() -> None:
    facts = _facts()
    passages = build_context(Q, HITS, facts, CHUNKS, paths={"d1": "log.md"})
    chat = GenericFakeChatModel(
        messages=iter([AIMessage(content="Machine Learning Specialization.")])
    )
    result = answer(Q, HITS, facts, chat, passages=passages)
    (cite,) = result.citations  # the model cited nothing: the row states the answer
    assert cite.n == 1 and cite.selected_by == "overlap" and result.warnings == []
    assert "Machine Learning Specialization" in DOC[cite.start : cite.end]
    assert "K-means" in DOC[cite.start : cite.end]


def test_overview_questions_get_the_reduce_summary_first() -> None:
    assert is_overview("What is this document about?")
    assert is_overview("Summarize my clustering notes")
    assert not is_overview("What did I learn about K-means?")
    summaries = [
        Summary(id="s0", doc_id="d1", level=0, text="A table of days.", source_chunk_ids=["k1"]),
        Summary(id="s1", doc_id="d1", level=1, text="A learning log on ML courses.",
                source_chunk_ids=["k1", "k2"], source_summary_ids=["s0"]),
    ]  # fmt: skip
    passages = build_context("What is this document about?", HITS, [], CHUNKS, summaries)
    assert passages[0].kind == "summary" and passages[0].text == "A learning log on ML courses."
    only_map = build_context("Give me an overview", HITS, [], CHUNKS, summaries[:1])
    assert only_map[0].text == "A table of days."
    no_summary = build_context("Give me an overview", HITS, [], CHUNKS, [])
    assert no_summary[0].kind == "summary" and no_summary[0].text.startswith("Days | Topics")
