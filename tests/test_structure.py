"""Structure-aware extraction (tables, headings, lists) on small documents written for the test."""

from __future__ import annotations

import pytest

from kg.chunking import chunk_document
from kg.models import Chunk, Document
from kg.ontology import Ontology, load_ontology
from pipelines.extraction.merge import merge_results
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.structure import extract_structure

ONTOLOGY = load_ontology("default")


def run(text: str, size: int = 1500, overlap: int = 150, ontology: Ontology = ONTOLOGY):
    doc = Document.from_text("note.md", text)
    chunks = chunk_document(doc, size=size, overlap=overlap)
    results = extract_structure(doc, chunks, ontology)
    check_spans(doc, chunks, results)
    return doc, chunks, results


def check_spans(doc: Document, chunks: list[Chunk], results: dict[str, ChunkResult]) -> None:
    """Every mention and evidence is an exact document span inside the chunk it names."""
    by_id = {c.id: c for c in chunks}
    for cid, res in results.items():
        assert res.chunk.id == cid
        for ent in res.entities:
            assert ent.mentions and ent.source in {"table", "heading", "list"}
            for m in ent.mentions:
                chunk = by_id[m.chunk_id]
                assert doc.text[m.start : m.end] == m.text
                assert chunk.start <= m.start and m.end <= chunk.end
        ids = {e.id for e in res.entities}
        for rs in res.relations:
            assert rs.relation.extractor in {"table", "heading", "list"}
            assert {rs.relation.head_id, rs.relation.tail_id} <= ids  # both ends in the chunk
            for ev in rs.relation.evidence:
                assert ev.chunk_id == cid and ev.doc_id == doc.id
                assert doc.text[ev.start : ev.end] == ev.text
                assert res.chunk.start <= ev.start and ev.end <= res.chunk.end


def entities(results):
    return {(e.name, e.type): e for r in results.values() for e in r.entities}


def facts(results):
    names = {e.id: e.name for r in results.values() for e in r.entities}
    return {
        (names[rs.relation.head_id], rs.relation.type, names[rs.relation.tail_id])
        for r in results.values()
        for rs in r.relations
    }


def relation_spans(results):
    return [rs for r in results.values() for rs in r.relations]


TABLE = """# Study log

| Days | Topics Covered | Resources |
|------|----------------|-----------|
| Day 1 | Linear regression, gradient descent and PCA | Machine Learning Specialization |
| Day 2 | Decision trees; **Random forest** | [Deep Learning Book](https://example.org/dl) |
| Day 3 | (Decision trees | Deep Learning Book) |
| Week 3 | 42 | - |
"""


def test_markdown_table_rows_relate_resource_to_each_topic():
    doc, _, results = run(TABLE)
    ents = entities(results)
    assert ("Machine Learning Specialization", "Course") in ents
    assert ("Deep Learning Book", "Book") in ents  # the name's last word types it
    got = facts(results)
    for topic in ("Linear regression", "gradient descent", "PCA"):
        assert ("Machine Learning Specialization", "COVERS", topic) in got
    assert ("Deep Learning Book", "COVERS", "Random forest") in got
    assert ("Deep Learning Book", "COVERS", "Decision trees") in got
    assert {n for n, _ in ents} == {
        "Machine Learning Specialization", "Deep Learning Book", "Linear regression",
        "gradient descent", "PCA", "Decision trees", "Random forest",
    }  # fmt: skip
    assert ("Machine Learning Specialization", "COVERS", "Random forest") not in got
    assert {t for _, t in ents} <= {"Course", "Book", "Concept"}
    assert all(e.source == "table" for e in ents.values())
    for rs in relation_spans(results):
        assert rs.relation.extractor == "table"
        row = rs.relation.evidence[0].text
        assert row.startswith("| Day") and "\n" not in row
        assert doc.text[slice(*rs.head_span)] in row and doc.text[slice(*rs.tail_span)] in row


def test_markup_is_stripped_from_names_but_spans_stay_exact():
    doc, _, results = run(TABLE)
    ents = entities(results)
    forest = ents[("Random forest", "Concept")].mentions[0]
    assert forest.text == "Random forest"  # inside the ** **
    assert doc.text[forest.start - 2 : forest.start] == "**"
    book = ents[("Deep Learning Book", "Book")].mentions[0]
    assert book.text == "Deep Learning Book"
    assert doc.text[book.end : book.end + 2] == "]("


def test_junk_cells_make_no_entities():
    text = (
        "Day | Topics | Resources\n"
        "---|---|---\n"
        "Day 4 | 3.5, 2023-01-04, Jan 5, https://example.com/x, ✅ | -\n"
        "Day 5 | I spent the whole evening reading about how optimisers work in practice | n/a\n"
        "Day 6 | Why does it work?, Lecture 7, Week 2 | 10 hrs\n"
    )
    _, _, results = run(text)
    assert entities(results) == {}
    assert facts(results) == set()


def test_plain_pipe_table_without_separator_and_column_order():
    text = (
        "Some intro line.\n\n"
        "Tools | Project | Notes\n"
        "PyTorch, scikit-learn | Running Clusters | went well\n"
        "Matplotlib | Running Clusters | plots only\n"
    )
    _, _, results = run(text)
    got = facts(results)
    assert got == {
        ("Running Clusters", "USES", "PyTorch"),
        ("Running Clusters", "USES", "scikit-learn"),
        ("Running Clusters", "USES", "Matplotlib"),
    }
    ents = entities(results)
    assert ("PyTorch", "Tool") in ents and ("Running Clusters", "Project") in ents
    assert not any(name in {"went well", "plots only"} for name, _ in ents)


def test_tab_separated_table():
    text = "Course\tInstructor\nPractical ML\tLena Okafor\n"
    _, _, results = run(text)
    assert facts(results) == {("Practical ML", "TAUGHT_BY", "Lena Okafor")}


def test_score_columns_relate_rows_to_the_metric_in_the_header():
    text = (
        "| Model | Dataset | Test accuracy | F1 | Notes |\n"
        "|---|---|---|---|---|\n"
        "| ResNet-50 | CIFAR-10 | 93.2% | 0.91 | fast |\n"
        "| BERT | SST-2 | - | 0.88 | |\n"
    )
    doc, _, results = run(text)
    assert facts(results) == {
        ("ResNet-50", "EVALUATED_BY", "Test accuracy"),
        ("ResNet-50", "EVALUATED_BY", "F1"),
        ("BERT", "EVALUATED_BY", "F1"),
    }
    f1 = entities(results)[("F1", "Metric")]
    assert [m.text for m in f1.mentions] == ["F1"]
    assert f1.mentions[0].start == doc.text.index(" F1 ") + 1  # the header cell


def test_table_whose_header_names_no_kind_is_ignored():
    text = "| a | b |\n|---|---|\n| PyTorch | PCA |\n"
    _, _, results = run(text)
    assert results == {}


def test_table_in_a_code_block_is_ignored():
    text = "```\nTopics | Resources\n---|---\nPCA | Some Course\n```\n"
    _, _, results = run(text)
    assert results == {}


HEADINGS = """# Notes

## Course: Deep Learning Specialization

Some prose about the course.

- finished week one
- liked the quizzes

### Topics covered

- Dropout
- Batch normalization – keeps activations in range
  - a nested detail that is not a topic
- I really enjoyed this part of the course a lot today

## Tools used in Running Clusters

- pandas
- Matplotlib: plotting

## Misc

- Random thing
"""


def test_heading_scopes_the_bullets_under_it():
    doc, _, results = run(HEADINGS)
    got = facts(results)
    assert ("Deep Learning Specialization", "COVERS", "Dropout") in got
    assert ("Deep Learning Specialization", "COVERS", "Batch normalization") in got
    assert ("Running Clusters", "USES", "pandas") in got
    assert ("Running Clusters", "USES", "Matplotlib") in got
    names = {n for n, _ in entities(results)}
    # plain bullets under an entity heading say nothing about the relation: no facts from them
    assert not names & {"finished week one", "liked the quizzes", "Random thing"}
    assert "a nested detail that is not a topic" not in names
    assert len(got) == 4
    dls = next(rs for rs in relation_spans(results) if doc.text[slice(*rs.tail_span)] == "Dropout")
    assert doc.text[slice(*dls.head_span)] == "Deep Learning Specialization"
    assert dls.relation.extractor == "heading"
    assert dls.relation.evidence[0].text == "- Dropout"


def test_setext_headings_links_and_crlf():
    text = (
        "Project: Running Clusters\r\n=========================\r\n\r\n"
        "Libraries\r\n---------\r\n\r\n"
        "* [scikit-learn](https://scikit-learn.org) – KMeans and PCA\r\n"
        "* `pandas`\r\n"
    )
    doc, _, results = run(text)
    assert facts(results) == {
        ("Running Clusters", "USES", "scikit-learn"),
        ("Running Clusters", "USES", "pandas"),
    }
    # a "Project: X" line that is no heading scopes only its own record, not what follows
    _, _, plain = run(text.replace("=========================\r\n", ""))
    assert facts(plain) == set()
    sk = entities(results)[("scikit-learn", "Tool")].mentions[0]
    assert doc.text[sk.start - 1] == "[" and sk.text == "scikit-learn"


def test_label_lines_relate_to_the_heading_entity_and_to_their_record():
    text = (
        "## Course: Machine Learning Specialization\n\n"
        "Topics: K-means clustering, PCA (principal component analysis) and anomaly detection\n"
        "Tools used: NumPy\n\n"
        "Book: Pattern Recognition Notes\n"
        "Author: Tomas Varga\n"
    )
    _, _, results = run(text)
    got = facts(results)
    for topic in ("K-means clustering", "PCA", "anomaly detection"):
        assert ("Machine Learning Specialization", "COVERS", topic) in got
    assert ("Machine Learning Specialization", "COVERS", "NumPy") in got
    assert ("Pattern Recognition Notes", "AUTHORED_BY", "Tomas Varga") in got
    assert ("Pattern Recognition Notes", "COVERS", "PCA") not in got  # blank line ends a record
    pca = entities(results)[("PCA", "Concept")]
    assert pca.mentions[0].text == "PCA"
    assert rels_by(results, "COVERS")[0].relation.extractor == "list"


def rels_by(results, type_):
    return [rs for rs in relation_spans(results) if rs.relation.type == type_]


def test_label_followed_by_a_bullet_list():
    text = (
        "# Course: Intro to NLP\n\n"
        "Topics we covered:\n\n"
        "  • tokenization\n"
        "  • a bit of background\n"
        "  • We talked about clips, what audio we can use, length\n"
        "\nBack to prose here.\n"
        "- not a topic\n"
    )
    _, _, results = run(text)
    assert facts(results) == {("Intro to NLP", "COVERS", "tokenization")}


def test_label_values_that_name_nothing():
    text = (
        "The course: it was fine.\n"
        "Tools: none today\n"
        "Topics: see yesterday\n"
        "Resources: my own notes, the lecture slides, Week 3 video\n"
        "Project: trying to get the thing to work\n\n"
        "## Libraries I tried\n\n- numpy\n\n"
        "## Course: Fast.ai Practical Deep Learning for Coders\n\n"
        "- Lesson 1 was about image classification\n"
        "- Instructor: Jeremy Howard\n"
    )
    _, _, results = run(text)
    assert set(entities(results)) == {
        ("numpy", "Tool"),
        ("Fast.ai Practical Deep Learning for Coders", "Course"),
        ("Jeremy Howard", "Person"),
    }
    assert facts(results) == {
        ("Fast.ai Practical Deep Learning for Coders", "TAUGHT_BY", "Jeremy Howard")
    }


def test_types_of_x_lists_kinds_of_x():
    text = (
        "Types of autoencoders\n"
        "1. Undercomplete Autoencoders\n"
        " - takes in an image and tries to predict the same image\n"
        "- regulated by the code size of the bottleneck\n"
        "2. Sparse Autoencoders\n\n"
        "- Types of layers in CNN : Convolution layer, pooling layer\n"
        "Data Augmentation\n"
        "  • Create random variations\n"
    )
    doc, _, results = run(text)
    assert facts(results) == {
        ("Undercomplete Autoencoders", "IS_A", "autoencoders"),
        ("Sparse Autoencoders", "IS_A", "autoencoders"),
        ("Convolution layer", "IS_A", "layers"),
        ("pooling layer", "IS_A", "layers"),
    }
    sparse = rels_by(results, "IS_A")[1]
    assert sparse.relation.evidence[0].text == "2. Sparse Autoencoders"
    assert doc.text[slice(*sparse.tail_span)] == "autoencoders"


def test_label_with_prose_value_is_not_a_list():
    text = (
        "Model: a trained function that maps inputs to outputs.\nDataset: MNIST\n\n"
        "Topics: the basics of the whole thing\n"
        "Book: The Hundred-Page Machine Learning Book\n"
    )
    _, _, results = run(text)
    assert {n for n, _ in entities(results)} == {
        "MNIST",
        "Hundred-Page Machine Learning Book",  # the leading article is no part of the name
    }


def test_versus_acronyms_and_enumerations():
    text = (
        "Topics | Course\n"
        "---|---\n"
        "Batch learning vs online learning, Convolution Neural Network(CNN), "
        "activation functions (ReLU, GELU) | Deep Learning Specialization\n"
    )
    _, _, results = run(text)
    got = facts(results)
    assert ("Batch learning", "COMPARED_WITH", "online learning") in got
    assert ("ReLU", "IS_A", "activation functions") in got
    assert ("GELU", "IS_A", "activation functions") in got
    cnn = entities(results)[("Convolution Neural Network", "Concept")]
    assert cnn.aliases == ["CNN"]
    assert cnn.mentions[0].text == "Convolution Neural Network"


def test_chunk_assignment_across_two_chunks():
    filler = "This paragraph is ordinary prose about the week and nothing else. " * 6
    text = (
        "## Course: Applied Statistics\n\n" + filler + "\n\n### Topics\n\n- Hypothesis testing\n"
        "- Bootstrap\n\n" + filler + "\n\nTopics | Resources\n---|---\nBayes rule | Stats Course\n"
    )
    doc, chunks, results = run(text, size=300, overlap=0)
    assert len(chunks) >= 3 and len(results) >= 3
    stats = [rs for rs in relation_spans(results) if rs.relation.extractor == "heading"]
    assert {doc.text[slice(*rs.tail_span)] for rs in stats} == {"Hypothesis testing", "Bootstrap"}
    head_chunk = next(c for c in chunks if c.start <= stats[0].head_span[0] < c.end)
    rel_chunk = next(cid for cid, r in results.items() if stats[0] in r.relations)
    assert rel_chunk != head_chunk.id  # the relation lives where its evidence is
    course = entities(results)[("Applied Statistics", "Course")]
    assert {m.chunk_id for m in course.mentions} == {head_chunk.id}
    # the pipeline's per-chunk merge keeps a relation only with both ends in that chunk
    merged = merge_results(results[rel_chunk].chunk, [results[rel_chunk]], is_junk=lambda _: False)
    assert {doc.text[slice(*rs.tail_span)] for rs in merged.relations} >= {"Hypothesis testing"}
    table = [rs for rs in relation_spans(results) if rs.relation.extractor == "table"]
    assert [doc.text[slice(*rs.tail_span)] for rs in table] == ["Bayes rule"]
    assert table[0].relation.evidence[0].chunk_id == chunks[-1].id


def test_the_yaml_mapping_decides_kinds_and_relations():
    data = ONTOLOGY.model_dump()
    data["structure"] = {
        "kinds": [
            {"name": "gadget", "type": "Tool", "keywords": ["gadget"]},
            {"name": "maker", "type": "Organization", "keywords": ["maker"]},
        ],
        "relations": [{"head": "gadget", "tail": "maker", "type": "AUTHORED_BY"}],
    }
    custom = Ontology.model_validate(data)
    text = "Gadget | Maker | Topics\n---|---|---\nWidgetizer | Acme Corp | PCA\n"
    _, _, results = run(text, ontology=custom)
    assert facts(results) == {("Widgetizer", "AUTHORED_BY", "Acme Corp")}
    assert ("PCA", "Concept") not in entities(results)  # "Topics" is no kind here
    _, _, default = run(text)
    assert facts(default) == set()


def test_structure_rules_are_validated():
    data = ONTOLOGY.model_dump()
    data["structure"]["relations"].append({"head": "resource", "tail": "nope", "type": "COVERS"})
    with pytest.raises(ValueError, match="unknown kind"):
        Ontology.model_validate(data)
    data["structure"]["relations"][-1] = {"head": "person", "tail": "topic", "type": "COVERS"}
    with pytest.raises(ValueError, match="does not allow"):
        Ontology.model_validate(data)
    assert extract_structure(Document.from_text("a", TABLE), [], ONTOLOGY) == {}
    scierc = load_ontology("scierc")
    assert run(TABLE, ontology=scierc)[2] == {}
