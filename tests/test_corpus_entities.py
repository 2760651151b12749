"""The benchmark corpora get their graph from kg extract's own spaCy stage (cached, titled)."""

from __future__ import annotations

from pathlib import Path

from kg.retrieval.corpus import passage_chunks
from kg.retrieval.retriever import Retriever
from pipelines.evaluation.corpus_entities import corpus_entities


def test_stage_entities_are_found_cached_and_titled(tmp_path: Path, monkeypatch) -> None:
    chunks = passage_chunks(
        [
            ("p0", "Ed Wood", "Edward Davis Wood Jr. was an American filmmaker born in New York."),
            ("p1", "Glen or Glenda (film)", "Glen or Glenda is a 1953 film directed by Ed Wood."),
        ]
    )
    titles = {chunks[0].id: "Ed Wood", chunks[1].id: "Glen or Glenda (film)"}
    ents = corpus_entities(chunks, tmp_path, titles)
    titled = {e.name: e for e in ents if e.type == "Title"}
    assert set(titled) == {"Ed Wood", "Glen or Glenda (film)"}
    assert titled["Ed Wood"].mentions[0].start == 0
    assert "Glen or Glenda" in titled["Glen or Glenda (film)"].aliases
    # typed by the default ontology, as kg extract types a note (spaCy's GPE is a Location)
    assert any(e.type == "Location" and e.name == "New York" for e in ents)
    assert not any("1953" in e.name for e in ents)  # the junk filter ran: no bare years
    # the parses are cached: a second pass never loads spaCy
    import pipelines.extraction.analysis as analysis

    monkeypatch.setattr(analysis.Analysis, "finder", lambda self: (_ for _ in ()).throw(
        AssertionError("parsed again")))  # fmt: skip
    cached = corpus_entities(chunks, tmp_path, titles)
    assert [e.id for e in cached] == [e.id for e in ents]
    # the second hop: the question names the film, the director's own page is reached
    r = Retriever.from_chunks(chunks, ents)
    hits = r.search("Where was the director of Glen or Glenda born?", mode="graph", k=2)
    assert [h.doc_id for h in hits] == ["p1", "p0"]
    g = r.graph
    assert g.titled[g.lookup["ed wood"]] and not g.titled[g.lookup["new york"]]
    assert g.trust(g.seed_weights(g.link("Glen or Glenda"))) > 0
