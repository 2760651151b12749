"""kg.answer without an LLM: the question analysed once, whole sentences, scored candidates."""

from __future__ import annotations

import pytest

from kg.answer import NOT_IN_CORPUS, Plain, analyse, answer
from kg.answer.candidates import Mention, extract, score
from kg.answer.context import build_context
from kg.answer.question import LinkedEntity
from kg.answer.words import plain, sentences, stem, terms
from kg.models import Evidence, GraphFact, SearchHit
from kg.ontology import load_ontology

ONTOLOGY = load_ontology("default")
WEEK3 = (
    "## The course\n\n"
    "Week 3 of Practical Machine Learning with Python covered K-means clustering and PCA. The\n"
    "course is taught by Dr. Lena Okafor, who draws on a whiteboard.\n\n"
    "- I used the app VideoPad to cut clips\n"
    "- the run took 12 minutes and found 4 clusters\n"
)
BOOK = "I read *Pattern Notes* by Tomas Varga on Saturday. It has 9 chapters about clustering."


def _hits() -> list[SearchHit]:
    return [
        SearchHit(chunk_id="c1", doc_id="d1", path="notes/week3.md", start=100,
                  end=100 + len(WEEK3), text=WEEK3, score=1.0),
        SearchHit(chunk_id="c2", doc_id="d2", path="notes/book.md", start=0, end=len(BOOK),
                  text=BOOK, score=0.6),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "wh", "expected"),
    [
        ("Which course covered K-means clustering?", "which", "Course"),
        ("Who teaches the course?", "who", "Person"),
        ("Which app did I use to cut the clips?", "which", "Tool"),
        ("Which tools and libraries did I use?", "which", "Tool"),
        ("How many clusters did the run find?", "how many", "number"),
        ("When did I read the book?", "when", "date"),
        ("What is K-means clustering?", "what", None),
        ("What kind of model is BERT?", "what", None),
    ],
)
def test_question_types_map_to_the_ontology(text: str, wh: str, expected: str | None) -> None:
    q = analyse(text, ONTOLOGY)
    assert (q.wh, q.expected) == (wh, expected)


def test_question_terms_stems_and_focus_are_computed_once() -> None:
    q = analyse("Which course covered K-means clustering?", ONTOLOGY)
    assert q.focus == "course" and "cours" not in q.key_terms
    assert {"cover", "cluster", "k-mean"} <= set(q.key_terms)
    assert stem("taught") == stem("teaches")  # irregular past forms meet their verb
    assert terms("MLxFundamentals Day95") >= terms("MLx Fundamentals Day 95")
    two = analyse("Who gave the intro, and who delivered the final session?", ONTOLOGY)
    assert two.compound and len(two.parts()) == 2
    follow = analyse("Who teaches it?", ONTOLOGY, previous="Which course covered PCA?")
    assert "pca" in follow.terms and "PCA" in follow.search_text


def test_linked_entities_come_from_the_linker() -> None:
    class E:
        id, name, type = "e1", "PCA", "Method"

    q = analyse("What is PCA?", ONTOLOGY, link=lambda text: [E()])
    assert [e.name for e in q.entities] == ["PCA"]


def test_sentences_join_hard_wraps_and_keep_headings_and_bullets_apart() -> None:
    spans = [plain(WEEK3[a:b]) for a, b in sentences(WEEK3)]
    assert "The course" in spans  # the heading is its own unit, not glued to the next line
    assert "The course is taught by Dr. Lena Okafor, who draws on a whiteboard." in spans
    assert "I used the app VideoPad to cut clips" in spans
    assert all(not s.startswith(("-", "#")) for s in spans)


def _ranked(text: str):
    q = analyse(text, ONTOLOGY)
    passages = build_context(q, _hits(), [])
    return q, passages, score(q, extract(passages, ontology=ONTOLOGY), passages)


def test_candidates_fit_the_expected_type_and_are_not_the_question() -> None:
    _, passages, ranked = _ranked("Who teaches the course?")
    assert "Lena Okafor" in ranked[0].text and ranked[0].features["type"] == 1.0
    assert passages[ranked[0].passage].text.startswith("The course is taught by")
    _, _, ranked = _ranked("Which app did I use to cut the clips?")
    assert ranked[0].text == "VideoPad"  # "the app VideoPad": named as the focus noun
    _, _, ranked = _ranked("How many clusters did the run find?")
    assert ranked[0].text == "4"  # the number next to the counted noun, not "12 minutes"
    _, _, ranked = _ranked("Which course covered K-means clustering?")
    part = [c for c in ranked if c.text == "K-means clustering"]
    assert part and part[0].score < ranked[0].score and part[0].features["novelty"] == 0


def test_graph_mentions_type_candidates_and_facts_support_them() -> None:
    q = analyse("Which course covered PCA?", ONTOLOGY).model_copy(
        update={"entities": [LinkedEntity(id="e1", name="PCA", type="Method")]})  # fmt: skip
    start = 100 + WEEK3.index("Practical")
    mentions = {"c1": [Mention(start, start + 38, "Practical Machine Learning with Python",
                               "Course", "e2")]}  # fmt: skip
    fact = GraphFact(head="Practical Machine Learning with Python", type="COVERS", tail="PCA",
                     head_type="Course", tail_type="Method")  # fmt: skip
    passages = build_context(q, _hits(), [])
    ranked = score(q, extract(passages, mentions, [fact], ONTOLOGY), passages, [fact])
    best = ranked[0]
    assert best.text == "Practical Machine Learning with Python" and best.type == "Course"
    assert best.features["graph"] == 1.0 and best.start == start


def test_answer_without_llm_names_the_candidate_and_quotes_its_sentence() -> None:
    q = analyse("Which course covered K-means clustering?", ONTOLOGY)
    result = answer(q, _hits(), [], None, Plain(ontology=ONTOLOGY))
    assert result.answer == (
        "Practical Machine Learning with Python — *Week 3 of Practical Machine Learning with "
        "Python covered K-means clustering and PCA.* [1]"
    )
    cite = result.citations[0]
    assert WEEK3[cite.start - 100 : cite.end - 100].startswith("Week 3 of Practical")
    assert result.selected_by == "candidates" and result.candidate.startswith("Practical")
    assert not any("no source states" in w for w in result.warnings)


def test_answer_lists_the_facts_it_used_with_their_sentences() -> None:
    ev = Evidence(doc_id="d1", chunk_id="c1", start=100 + WEEK3.index("Week 3"),
                  end=100 + WEEK3.index(" The\n"), text="")  # fmt: skip
    fact = GraphFact(head="Practical Machine Learning with Python", type="COVERS", tail="PCA",
                     head_type="Course", tail_type="Method", evidence=[ev])  # fmt: skip
    q = analyse("Which course covered PCA?", ONTOLOGY)
    result = answer(q, _hits(), [fact], None, Plain(ontology=ONTOLOGY))
    assert fact in result.facts and "Practical Machine Learning" in result.answer


def test_nothing_retrieved_is_not_in_the_corpus() -> None:
    result = answer(analyse("Who wrote it?", ONTOLOGY), [], [], None)
    assert result.answer == NOT_IN_CORPUS and result.citations == []
