"""The junk-entity filter: general rules on the shape of a name, applied to every entity source."""

from __future__ import annotations

import pytest

from kg.models import Chunk, Document, Entity, Mention
from kg.ontology import EntityType, load_ontology
from pipelines.extraction.junk import junk_filter, junk_reason
from pipelines.extraction.merge import merge_results
from pipelines.extraction.results import ChunkResult

ONTOLOGY = load_ontology()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("2023", "number"),
        ("42.5", "number"),
        ("Day24", "date"),
        ("Week 3", "date"),
        ("12 March 2024", "date"),
        ("Monday", "date"),
        ("3 hours", "date"),
        ("1st", "date"),
        ("Chapter 5", "date"),
        ("it", "pronoun"),
        ("those ones", "pronoun"),
        ("technique", "generic"),
        ("a popular technique", "generic"),
        ("the course", "generic"),
        ("Approaches", "generic"),
        ("things", "generic"),
        ("3 models", "generic"),
        ("PCA and", "fragment"),
        ("trained with", "fragment"),
        ("PCA (", "fragment"),
        ("-based", "fragment"),
        ("PCA)", "fragment"),
        ("x", "single character"),
        ("", "empty"),
    ],
)
def test_junk_names_are_refused_with_a_reason(name: str, why: str) -> None:
    reason = junk_reason(name, ONTOLOGY)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "name",
    [
        "PCA", "K-means", "GPT-4", "Python 3", "C++", "C#", "IT", "scikit-learn", "Andrew Ng",
        "linear regression", "gradient descent technique", "F1 score", "training data",
        "Stanford University", "Deep Learning with Python", "The Elements of Statistical Learning",
        "Machine Learning for Everyone", "t-SNE", "(PCA)", "New York",
    ],
)  # fmt: skip
def test_specific_names_pass(name: str) -> None:
    assert junk_reason(name, ONTOLOGY) is None


def test_the_ontology_type_names_are_generic() -> None:
    onto = ONTOLOGY.model_copy(
        update={"entity_types": [*ONTOLOGY.entity_types, EntityType(name="Widget")]}
    )
    assert junk_reason("widgets", onto) is not None
    assert junk_reason("widgets") is None  # without the ontology it is just a word
    assert junk_reason("the Frobnicator widget", onto) is None


def _chunk(text: str) -> Chunk:
    doc = Document.from_text("n.txt", text)
    return Chunk.make(doc.id, 0, 0, text)


def test_merge_drops_junk_from_any_extractor() -> None:
    chunk = _chunk("Day24: PCA")

    def ent(name: str, start: int, end: int) -> Entity:
        m = Mention(chunk_id=chunk.id, doc_id=chunk.doc_id, start=start, end=end, text=name)
        return Entity.make(name, "Concept", mentions=[m], source="table")

    hand_built = ChunkResult(chunk=chunk, entities=[ent("Day24", 0, 5), ent("PCA", 7, 10)])
    merged = merge_results(chunk, [hand_built], junk_filter(ONTOLOGY))
    assert [e.name for e in merged.entities] == ["PCA"]
