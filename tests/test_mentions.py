"""spaCy candidates: real model, document offsets, ontology types, junk filtered."""

from __future__ import annotations

from pathlib import Path

import yaml

from kg.chunking import chunk_document
from kg.models import Chunk, Document
from kg.ontology import BUILTIN_DIR, Ontology, load_ontology
from pipelines.extraction.candidates import MentionFinder

TEXT = (
    "Today I watched the course CS229 and read Grokking Machine Learning.\n"
    "Andrew Ng explained K-means clustering and PCA, and I tried them in scikit-learn "
    "while visiting London. It was 3 hours of fun on 12 March 2024."
)


GAZETTEER = {
    "Book": ["Grokking Machine Learning"],
    "Method": ["K-means clustering", "PCA"],
    "Tool": ["scikit-learn"],
}


def ontology_with_names(tmp_path: Path, names: dict[str, list[str]]) -> Ontology:
    """The default ontology as a user's YAML file that lists ``names`` under their types."""
    data = yaml.safe_load((BUILTIN_DIR / "default.yaml").read_text(encoding="utf-8"))
    data["name"] = "mine"
    for t in data["entity_types"]:
        if t["name"] in names:
            t["names"] = names[t["name"]]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_ontology(path)


def candidates(text: str = TEXT, ontology: Ontology | None = None) -> tuple[Document, list]:
    doc = Document.from_text("n.txt", "Preface line.\n\n" + text)
    chunks = chunk_document(doc, 1500, 150)
    finder = MentionFinder(ontology or load_ontology("default"))
    found = [c for cands in finder.find_many(chunks) for c in cands]
    return doc, found


def test_candidates_have_document_offsets_and_types(tmp_path: Path) -> None:
    doc, found = candidates(ontology=ontology_with_names(tmp_path, GAZETTEER))
    assert found
    for c in found:
        assert doc.text[c.start : c.end] == c.text
        assert c.chunk_id
    by_text = {c.text: c for c in found}
    assert by_text["CS229"].type == "Course"
    assert by_text["Grokking Machine Learning"].type == "Book"
    assert by_text["Andrew Ng"].type == "Person"
    assert by_text["K-means clustering"].type == "Method"
    assert by_text["PCA"].type == "Method"
    assert by_text["scikit-learn"].type == "Tool"
    assert by_text["London"].type == "Location"
    assert by_text["PCA"].source == by_text["scikit-learn"].source == "ruler"


def test_the_builtin_ontology_lists_no_names() -> None:
    assert all(not t.names for t in load_ontology("default").entity_types)
    _, found = candidates()
    by_text = {c.text: c for c in found}
    assert "ruler" not in {by_text[n].source for n in ("PCA", "scikit-learn") if n in by_text}
    assert by_text["CS229"].type == "Course"  # the course-code pattern is a rule, not a name


def test_junk_is_filtered() -> None:
    _, found = candidates()
    texts = {c.text.lower() for c in found}
    for junk in ("i", "it", "them", "3 hours", "12 march 2024", "today", "fun", "3"):
        assert junk not in texts
    assert all(any(ch.isalpha() for ch in c.text) for c in found)
    assert all("\n" not in c.text for c in found)


def test_noun_chunks_become_fallback_concepts() -> None:
    _, found = candidates("The covariance structure of the data matters for dimensionality.")
    concepts = {c.text for c in found if c.source == "noun_chunk"}
    assert "covariance structure" in concepts
    assert all(c.type == "Concept" for c in found if c.source == "noun_chunk")


def test_find_single_chunk_and_scierc_ontology() -> None:
    doc = Document.from_text("a", "We propose a parsing method evaluated on the Penn Treebank .")
    chunk = Chunk.make(doc.id, 0, 0, doc.text)
    found = MentionFinder(load_ontology("scierc")).find(chunk)
    assert found
    assert {c.type for c in found} <= {t.name for t in load_ontology("scierc").entity_types}


def test_known_names_extend_the_ruler() -> None:
    doc = Document.from_text("a", "Yesterday I opened Zorblax and it crashed.")
    chunk = Chunk.make(doc.id, 0, 0, doc.text)
    finder = MentionFinder(load_ontology("default"), known={"Tool": ["Zorblax"]})
    found = {c.text: c for c in finder.find(chunk)}
    assert found["Zorblax"].type == "Tool"
    assert found["Zorblax"].source == "ruler"
