"""The language pass (issue 21): relation cues, open relations, notes types, coreference.

spaCy's real parser runs in every test; only the upstream entities are given by hand (as the
trained tier, NER or structure rules would have found them), so each test pins one behaviour.
"""

from __future__ import annotations

import pytest

from kg.config import Settings
from kg.models import Chunk, Document, Entity, Mention, Relation
from kg.ontology import Ontology, load_ontology
from pipelines.extraction.assembly import assemble
from pipelines.extraction.language import LanguagePass
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.spans import find_spans

ONTOLOGY = load_ontology("default")


def run(text: str, entities: list[tuple[str, str, str]], **flags: bool):
    """Run the language pass over one document; returns (entities, relations) by name."""
    doc = Document.from_text("note.md", text)
    chunk = Chunk.make(doc.id, 0, 0, text)
    ents = []
    for name, type_, source in entities:
        spans = find_spans(name, text)
        assert spans, name
        ents.append(Entity.make(name, type_, source=source, mentions=[
            Mention(chunk_id=chunk.id, doc_id=doc.id, start=s, end=e, text=text[s:e])
            for s, e in spans
        ]))  # fmt: skip
    result = ChunkResult(chunk=chunk, entities=ents)
    lp = LanguagePass(ONTOLOGY, **flags)
    report = lp.run([doc], {doc.id: [chunk]}, {chunk.id: result})
    by_id = {e.id: e for e in result.entities}
    rels = [
        (by_id[r.relation.head_id].name, r.relation.type, by_id[r.relation.tail_id].name,
         r.relation.extractor, r.relation.predicate)
        for r in result.relations
    ]  # fmt: skip
    return {e.name: e for e in result.entities}, rels, report


def has(rels, head: str, type_: str, tail: str, extractor: str | None = None) -> bool:
    return any(
        h == head and t == type_ and tl == tail and (extractor is None or x == extractor)
        for h, t, tl, x, _ in rels
    )


COURSE = [("Practical Data Science", "Course", "spacy"), ("linear regression", "Method", "trained")]


# ------------------------------------------------------------------ relation cues


def test_cue_active_verb() -> None:
    _, rels, _ = run("Practical Data Science covers linear regression.", COURSE)
    assert has(rels, "Practical Data Science", "COVERS", "linear regression", "cue")


def test_cue_passive_keeps_direction() -> None:
    ents = [("Practical Data Science", "Course", "spacy"), ("Maria Lopez", "Person", "spacy")]
    _, rels, _ = run("Practical Data Science is taught by Maria Lopez.", ents)
    assert has(rels, "Practical Data Science", "TAUGHT_BY", "Maria Lopez", "cue")
    # the active voice of the same cue: the object is the head
    _, rels, _ = run("Maria Lopez taught Practical Data Science last spring.", ents)
    assert has(rels, "Practical Data Science", "TAUGHT_BY", "Maria Lopez", "cue")
    assert not has(rels, "Maria Lopez", "COVERS", "Practical Data Science")


def test_cue_passive_without_preposition_cue_swaps_roles() -> None:
    _, rels, _ = run("Linear regression is covered in Practical Data Science.", COURSE)
    assert has(rels, "Practical Data Science", "COVERS", "linear regression", "cue")


def test_cue_noun_frame() -> None:
    ents = [("Practical Data Science", "Course", "spacy"), ("Maria Lopez", "Person", "spacy")]
    _, rels, _ = run("Maria Lopez is the instructor of Practical Data Science.", ents)
    assert has(rels, "Practical Data Science", "TAUGHT_BY", "Maria Lopez", "cue")


def test_cue_preposition_frame() -> None:
    ents = [("Deep Patterns", "Book", "spacy"), ("Tomas Varga", "Person", "spacy")]
    _, rels, _ = run("I finished Deep Patterns by Tomas Varga yesterday.", ents)
    assert has(rels, "Deep Patterns", "AUTHORED_BY", "Tomas Varga", "cue")


def test_type_rules_refuse_a_cue() -> None:
    ents = [("Maria Lopez", "Person", "spacy"), ("linear regression", "Method", "trained")]
    _, rels, _ = run("Maria Lopez covers linear regression.", ents)
    assert not any(t == "COVERS" for _, t, *_ in rels)  # COVERS needs a course or book head
    open_edge = [r for r in rels if r[1] == "STATES"]
    assert open_edge and open_edge[0][4] == "cover"  # kept as an open relation
    _, rels, _ = run("Maria Lopez covers linear regression.", ents, open_relations=False)
    assert rels == []


def test_addresses_through_relative_clause_and_copula() -> None:
    ents = [("Regularization", "Method", "trained"), ("overfitting", "Concept", "trained")]
    _, rels, _ = run("Regularization is a technique that prevents overfitting.", ents)
    assert has(rels, "Regularization", "ADDRESSES", "overfitting", "cue")
    _, rels, _ = run(
        "Dropout is a method to reduce overfitting.",
        [("Dropout", "Method", "trained"), ("overfitting", "Concept", "trained")],
    )
    assert has(rels, "Dropout", "ADDRESSES", "overfitting", "cue")


# ------------------------------------------------------------------ open relations


def test_open_passive_keeps_verb_phrase() -> None:
    ents = [("Rome", "Location", "spacy"), ("the Goths", "Organization", "spacy")]
    _, rels, _ = run("Rome was sacked by the Goths in 410.", ents)
    edge = [r for r in rels if r[0] == "Rome" and r[2] == "the Goths"]
    assert edge and edge[0][1] == "STATES" and edge[0][4] == "be sacked by"


def test_open_copula_is_a_and_concepts_from_noun_chunks() -> None:
    ents, rels, report = run("Photosynthesis is a biological process.",
                             [("Photosynthesis", "Concept", "trained")])  # fmt: skip
    assert has(rels, "Photosynthesis", "IS_A", "biological process", "open")
    assert ents["biological process"].type == "Concept" and report.concepts == 1


def test_open_apposition() -> None:
    _, rels, _ = run("Emi Koussi, a volcano in the Tibesti, is very high.",
                     [("Emi Koussi", "Concept", "spacy")])  # fmt: skip
    assert has(rels, "Emi Koussi", "IS_A", "volcano", "open")


def test_open_coordination_expands() -> None:
    ents = [("Marie Curie", "Person", "spacy"), ("polonium", "Concept", "trained"),
            ("radium", "Concept", "trained")]  # fmt: skip
    _, rels, _ = run("Marie Curie discovered polonium and radium.", ents)
    assert has(rels, "Marie Curie", "STATES", "polonium") and has(rels, "Marie Curie", "STATES",
                                                                 "radium")  # fmt: skip
    assert {r[4] for r in rels if r[1] == "STATES"} == {"discover"}


def test_open_relations_keep_junk_out() -> None:
    ents, rels, _ = run("It gave us three of them.", [])
    assert rels == [] and not ents


def test_predicate_survives_assembly_and_json() -> None:
    a, b = Entity.make("Rome", "Location"), Entity.make("Goths", "Organization")
    rel = Relation.make(a.id, "STATES", b.id, predicate="be sacked by", extractor="open")
    assert Relation.model_validate_json(rel.model_dump_json()).predicate == "be sacked by"
    from pipelines.extraction.results import RelationSpan

    chunk = Chunk.make("doc_x", 0, 0, "Rome Goths")
    for e in (a, b):
        e.mentions = [Mention(chunk_id=chunk.id, doc_id="doc_x", start=0, end=4, text="Rome")]
    spans = [RelationSpan(rel, (0, 4), (5, 10))]
    _, rels, _ = assemble([ChunkResult(chunk=chunk, entities=[a, b], relations=spans)])
    assert rels[0].predicate == "be sacked by"


# ------------------------------------------------------------------ notes types


def test_types_from_context_cues_with_reasons() -> None:
    text = ("I started the Applied Time Series course today. Then I ran pip install seaborn "
            "and plotted with Matplotlib.")  # fmt: skip
    ents, _, _ = run(text, [("Matplotlib", "Person", "spacy"), ("Time Series", "Concept",
                                                                  "trained")])  # fmt: skip
    course = ents["Applied Time Series"]
    assert course.type == "Course" and course.type_reason == "context: 'the X course'"
    assert "Time Series" not in ents  # the split name gave way to the whole one
    assert ents["seaborn"].type == "Tool" and "pip install X" in ents["seaborn"].type_reason
    mpl = ents["Matplotlib"]  # one word, no title, no full name: not a person
    assert mpl.type == "Concept" and mpl.type_reason.startswith("ner PERSON refused")


def test_structure_type_wins_and_bad_person_spans_drop() -> None:
    text = "Ran K-means on my data with scikit-learn. Tools: scikit-learn"
    ents, _, _ = run(text, [("Ran K-means", "Person", "spacy"), ("scikit-learn", "Tool", "list"),
                            ("K-means", "Method", "trained")])  # fmt: skip
    assert "Ran K-means" not in ents
    assert ents["scikit-learn"].type_reason.startswith("structure")


def test_surname_is_the_full_name() -> None:
    ents = [("Marie Curie", "Person", "spacy"), ("Curie", "Person", "trained"),
            ("radium", "Concept", "trained")]  # fmt: skip
    _, rels, _ = run("Marie Curie was a physicist. Curie discovered radium.", ents)
    assert has(rels, "Marie Curie", "STATES", "radium")


# ------------------------------------------------------------------ coreference


def test_coreference_this_course_within_the_section_only() -> None:
    text = ("## Monday\nI enrolled in the Applied Time Series course. This course covers "
            "ARIMA models.\n## Tuesday\nThe course covers seasonality.")  # fmt: skip
    _, rels, report = run(text, [("ARIMA models", "Method", "trained"),
                                    ("seasonality", "Concept", "trained")])  # fmt: skip
    assert has(rels, "Applied Time Series", "COVERS", "ARIMA models", "cue")
    assert not has(rels, "Applied Time Series", "COVERS", "seasonality")
    assert report.anaphors == 1


def test_coreference_it_and_parts() -> None:
    text = ("Logistic regression is popular. It uses the sigmoid function. I am reading the book "
            "Deep Patterns. Chapter 6 explains gradient descent.")  # fmt: skip
    ents = [("Logistic regression", "Method", "trained"), ("sigmoid function", "Concept",
            "trained"), ("gradient descent", "Method", "trained")]  # fmt: skip
    _, rels, _ = run(text, ents)
    assert has(rels, "Logistic regression", "USES", "sigmoid function", "cue")
    assert has(rels, "Deep Patterns", "COVERS", "gradient descent", "cue")
    _, rels, _ = run(text, ents, coreference=False)
    assert not has(rels, "Logistic regression", "USES", "sigmoid function")


# ------------------------------------------------------------------ ontology and settings


def test_ontology_validates_cues() -> None:
    data = ONTOLOGY.model_dump()
    data["relation_types"][0]["cues"] = {"verbs": ["Cover It Now Please"]}
    with pytest.raises(ValueError, match="cue"):
        Ontology.model_validate(data)
    data = ONTOLOGY.model_dump()
    data["entity_types"][0]["context"] = ["the course"]
    with pytest.raises(ValueError, match="X"):
        Ontology.model_validate(data)
    data = ONTOLOGY.model_dump()
    data["open_relation"] = "NOPE"
    with pytest.raises(ValueError, match="open_relation"):
        Ontology.model_validate(data)


def test_settings_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    on = Settings.from_env()
    assert on.relation_cues and on.open_relations and on.notes_types and on.coreference
    monkeypatch.setenv("KG_RELATION_CUES", "0")
    off = Settings.from_env()
    assert not off.relation_cues and off.open_relations
    assert off.extraction_fingerprint() != on.extraction_fingerprint()


def test_source_verbs_relate_objects_whatever_the_subject() -> None:
    text = "Today I learned about beam search from the Deep Learning Specialization course."
    _, rels, _ = run(text, [("beam search", "Method", "trained")])
    assert has(rels, "Deep Learning Specialization", "COVERS", "beam search", "cue")


def test_quantities_are_junk() -> None:
    from pipelines.extraction.junk import junk_reason

    assert junk_reason("1k") and junk_reason("2.5x")
    assert junk_reason("L2") is None and junk_reason("GPT-4") is None


def test_predicate_is_loaded_as_a_relationship_property(tmp_path) -> None:
    from kg.store import open_store
    from pipelines.load import load_workspace
    from tests.synthetic_graph import write_workspace

    ws = write_workspace(tmp_path / "ws")
    rels = ws.read("relations")
    uses = next(r for r in rels if r.type == "USES")
    uses.predicate = "train with"
    ws.write("relations", rels)
    with open_store(Settings(), ws) as store:
        load_workspace(ws, store, progress=False)
        got = store.read("MATCH ()-[r:USES {id: $id}]->() RETURN r.predicate AS p", {"id": uses.id})
    assert got == [{"p": "train with"}]


def test_eval_graph_reports_predicates(tmp_path) -> None:
    from kg.models import Manifest
    from kg.workspace import Workspace
    from pipelines.evaluation.graph import GoldFact, evaluate_graph

    text = "Marie Curie discovered radium."
    doc = Document.from_text("curie.md", text)
    chunk = Chunk.make(doc.id, 0, 0, text)
    ents = [Entity.make(n, t, mentions=[Mention(chunk_id=chunk.id, doc_id=doc.id, start=s,
            end=s + len(n), text=n)]) for n, t, s in [("Marie Curie", "Person", 0),
            ("radium", "Concept", 22)]]  # fmt: skip
    rel = Relation.make(ents[0].id, "STATES", ents[1].id, predicate="discover", extractor="open")
    ws = Workspace(tmp_path / ".kg")
    for name, rows in [("documents", [doc]), ("chunks", [chunk]), ("entities", ents),
                       ("relations", [rel])]:  # fmt: skip
        ws.write(name, rows)
    ws.write_manifest(Manifest(kg_version="t", created_at="now"))
    gold = [GoldFact(file="curie.md", head="Marie Curie", head_type="Person", relation="STATES",
                     tail="radium", tail_type="Concept", evidence="discovered")]  # fmt: skip
    row = evaluate_graph(ws, gold).rows[0]
    assert row.found and row.typed and row.predicates == ["discover"]


def test_negated_and_hedged_clauses_give_no_open_edge() -> None:
    ents = [("Marie Curie", "Person", "spacy"), ("radium", "Concept", "trained")]
    for text in ("Marie Curie did not discover radium.", "Marie Curie might discover radium."):
        _, rels, _ = run(text, ents)
        assert rels == [], text
