"""Second hops through a question-named relation word (kg.retrieval.bridges) in the graph walk."""

from __future__ import annotations

from kg.models import Chunk, Entity, Mention
from kg.retrieval import Retriever
from kg.retrieval.bridges import cue_of
from kg.retrieval.corpus import passage_chunks

PAGES = [
    ("p0", "Night Train", "Night Train is a 1950 film starring Ann Lee and directed by Bob Ray."),
    ("p1", "Ann Lee", "Ann Lee was an actress born in Leeds."),
    ("p2", "Bob Ray", "Bob Ray was a film maker born in Cork."),
    ("p3", "Cork", "Cork is a city."),
]


def _mention(chunk: Chunk, name: str) -> Mention:
    start = chunk.text.index(name)
    return Mention(
        chunk_id=chunk.id, doc_id=chunk.doc_id, start=start, end=start + len(name), text=name
    )


def _retriever() -> Retriever:
    chunks = passage_chunks(PAGES)
    ents = []
    for c, (_, title, _) in zip(chunks, PAGES, strict=True):
        mentions = [_mention(c, title)]
        mentions += [_mention(o, title) for o in chunks if o is not c and title in o.text]
        ents.append(Entity.make(title, "Title", mentions=mentions))
    return Retriever.from_chunks(chunks, ents)


def test_the_introducing_word_of_a_mention_is_its_cue() -> None:
    text = PAGES[0][2]
    assert cue_of(text, text.index("Bob Ray")) == "direc"  # "directed by": "by" is skipped
    assert cue_of(text, text.index("Ann Lee")) == "star"
    assert cue_of("A film. Bob Ray", len("A film. ")) is None  # not across a sentence end


def test_the_relation_the_question_names_picks_the_second_hop() -> None:
    r = _retriever()
    director = r.search("Where was the director of Night Train born?", mode="graph", k=2)
    assert [h.doc_id for h in director] == ["p0", "p2"]
    actor = r.search("Where was the star of Night Train born?", mode="graph", k=2)
    assert [h.doc_id for h in actor] == ["p0", "p1"]


def test_without_a_cue_word_the_walk_alone_ranks() -> None:
    from kg.retrieval import graph

    r = _retriever()
    plain = r.graph.ppr(r.graph.seed_weights(r.graph.link("Night Train")))
    assert list(r.graph.scores("Night Train")) == list(plain)  # no relation word, no lift
    assert graph.BRIDGES
