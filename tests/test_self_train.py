"""Self-training from structure: structure facts label the prose, a head learns from them.

The labelling, training, caching and edge writing run for real on a small corpus of our own;
the encoder is a fake (features that say whether a span is the course or a topic), so that what
is learnable is known. One test runs the real pipeline (shipped model) on a notes folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from kg.models import Chunk, Document, Entity, Evidence, Mention, Relation
from kg.ontology import load_ontology
from pipelines.extraction.pair_features import PairFeatures, dump_pairs, load_pairs
from pipelines.extraction.results import ChunkResult, RelationSpan
from pipelines.extraction.self_train import EXTRACTOR, sections, self_train

TABLE = "| Day | Topics | Resources |\n| 1 | {topics} | CourseX |\n\n"
LABELLED = "".join(
    f"CourseX covers topic{k} and topic{k + 1}.\n" for k in range(1, 11, 2)
)  # five sentences, ten facts
UNSEEN = "\nLater CourseX explains topic11 and topic12.\n"
ONTOLOGY = load_ontology("default")


def _features(words: list[str], spans: list[tuple[int, int]], pairs: list[tuple[int, int]]):
    """What the fake encoder sees: is the head the course, is the tail a topic."""
    rows = []
    for a, c in pairs:
        h, t = words[spans[a][0]], words[spans[c][0]]
        rows.append([h.startswith("Course"), t.startswith("topic"), h.startswith("topic"),
                     t.startswith("Course")])  # fmt: skip
    return np.asarray(rows, np.float32)


class Corpus:
    """One document: a table of facts on top, prose under it; entities by regex."""

    def __init__(self, facts: range = range(1, 11)) -> None:
        topics = ", ".join(f"topic{k}" for k in facts)
        self.text = TABLE.format(topics=topics) + LABELLED + UNSEEN
        self.doc = Document.from_text("notes.md", self.text)
        self.chunk = Chunk(id="c0", doc_id=self.doc.id, index=0, start=0, end=len(self.text),
                           text=self.text)  # fmt: skip
        self.entities: dict[str, Entity] = {}
        for m in re.finditer(r"CourseX|topic\d+", self.text):
            type_ = "Course" if m.group().startswith("Course") else "Concept"
            e = self.entities.setdefault(m.group(), Entity.make(m.group(), type_, source="spacy"))
            e.mentions.append(Mention(chunk_id="c0", doc_id=self.doc.id, start=m.start(),
                                      end=m.end(), text=m.group()))  # fmt: skip
        line = self.text.split("\n")[1]
        start = self.text.index(line)
        ev = Evidence(chunk_id="c0", doc_id=self.doc.id, start=start, end=start + len(line),
                      text=line)  # fmt: skip
        self.facts = [
            RelationSpan(Relation.make(self.entities["CourseX"].id, "COVERS",
                                       self.entities[f"topic{k}"].id, extractor="table",
                                       confidence=0.9, evidence=[ev]), (0, 1), (0, 1))
            for k in facts
        ]  # fmt: skip

    def results(self) -> dict[str, ChunkResult]:
        return {"c0": ChunkResult(chunk=self.chunk, entities=[e.model_copy(deep=True) for e in
                self.entities.values()], relations=list(self.facts))}  # fmt: skip

    def cached_pairs(self, chunk: Chunk) -> PairFeatures:
        """The trained tier's pairs for the unseen sentence (as its cache would hold them)."""
        from pipelines.extraction.trained import segments

        out = PairFeatures(chunk.id)
        seg = next(s for s in segments(chunk.text) if "Later" in s.words)
        idx = [k for k, w in enumerate(seg.words) if w in {"CourseX", "topic11", "topic12"}]
        pairs = [(a, c) for a in range(len(idx)) for c in range(len(idx)) if a != c]
        spans = [(seg.starts[idx[a]], seg.ends[idx[a]], seg.starts[idx[c]], seg.ends[idx[c]],
                  seg.starts[0], seg.ends[-1]) for a, c in pairs]  # fmt: skip
        out.add(spans, _features(seg.words, [(k, k) for k in idx], pairs))
        return load_pairs(chunk.id, dump_pairs(out))  # through the cache's encoding


def _run(corpus: Corpus, tmp_path: Path, results: dict[str, ChunkResult] | None = None):
    results = results if results is not None else corpus.results()
    report = self_train(results, [corpus.chunk], [corpus.doc], ONTOLOGY, corpus.cached_pairs,
                        tmp_path / "heads", encoder=_features)  # fmt: skip
    return report, results


def test_structure_facts_label_the_sentences_that_mention_both(tmp_path: Path) -> None:
    report, _ = _run(Corpus(), tmp_path)
    # each labelled sentence: 2 facts (course -> topic) and 2 topic/topic pairs; the reversed
    # (topic -> course) pairs are left out
    assert (report["positives"], report["by_type"]) == (10, {"COVERS": 10})
    assert report["negatives"] == 10
    assert report["learnt_types"] == ["COVERS"] and report["state"] == "trained"
    held = report["held_out"]
    assert held["precision"] == 1.0 and held["recall"] == 1.0


def test_the_head_adds_calibrated_learned_edges_to_unseen_prose(tmp_path: Path) -> None:
    corpus = Corpus()
    report, results = _run(corpus, tmp_path)
    learned = [rs.relation for rs in results["c0"].relations if rs.relation.extractor == EXTRACTOR]
    ids = {e.id: e.name for e in corpus.entities.values()}
    got = {(ids[r.head_id], r.type, ids[r.tail_id]) for r in learned}
    assert got == {("CourseX", "COVERS", "topic11"), ("CourseX", "COVERS", "topic12")}
    assert report["edges"] == 2
    assert all(0.5 <= r.confidence <= 1.0 for r in learned)
    assert all("Later CourseX explains" in r.evidence[0].text for r in learned)


def test_head_is_cached_by_its_labels_and_relearnt_when_they_change(tmp_path: Path) -> None:
    first, _ = _run(Corpus(), tmp_path)
    again, _ = _run(Corpus(), tmp_path)
    assert again["state"] == "cached" and again["label_hash"] == first["label_hash"]
    assert again["edges"] == first["edges"]
    fewer, _ = _run(Corpus(facts=range(1, 10)), tmp_path)  # one fact less: new labels
    assert fewer["state"] == "trained" and fewer["label_hash"] != first["label_hash"]


def test_a_corpus_without_structure_is_left_alone(tmp_path: Path) -> None:
    corpus = Corpus()
    results = corpus.results()
    results["c0"].relations = []
    before = [e.model_dump() for e in results["c0"].entities]
    report, after = _run(corpus, tmp_path, results)
    assert report["state"] == "skipped" and report["reason"] == "no structure facts"
    assert after["c0"].relations == [] and [e.model_dump() for e in after["c0"].entities] == before


def test_too_few_labels_trains_nothing(tmp_path: Path) -> None:
    report, results = _run(Corpus(facts=range(1, 4)), tmp_path)  # 3 facts: under the minimum
    assert report["state"] == "skipped" and "too few labels" in report["reason"]
    assert not [rs for rs in results["c0"].relations if rs.relation.extractor == EXTRACTOR]


def test_sections_follow_headings_else_paragraphs() -> None:
    assert sections("# A\ntext\n# B\nmore\n") == [0, 9]
    assert sections("one\n\ntwo\n") == [0, 5]


@pytest.mark.skipif(
    not (Path(__file__).resolve().parents[1] / "kg" / "trained" / "models").is_dir(),
    reason="no shipped model",
)
def test_extract_records_self_training_and_no_self_train_turns_it_off(tmp_path: Path) -> None:
    """The real pipeline and model: the manifest reports the pass; the flag turns it off."""
    from kg.config import Settings
    from kg.workspace import Workspace
    from pipelines.extraction.pipeline import run_extract

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "log.md").write_text(
        "| Days | Topics Covered | Resources |\n|---|---|---|\n"
        "| Day1 | Gradient descent, Learning rate | Machine Learning Specialization |\n\n"
        "The Machine Learning Specialization explains gradient descent with a learning rate.\n",
        encoding="utf-8",
    )
    for on in (True, False):
        settings = Settings(workspace=tmp_path / f"ws{on}", self_train=on)
        m = run_extract([notes], Workspace(settings.workspace), settings, spacy_only=True,
                        progress=False)  # fmt: skip
        if on:
            assert m.self_train["structure_facts"] >= 2
            assert m.self_train["state"] == "skipped"  # one sentence: too few labels
        else:
            assert m.self_train == {}
