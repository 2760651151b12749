"""The real offline LLM choosing an answer (slow, `-m llm`): indices under the narrowed schema,
a short sentence that contains the chosen candidate, the citation's span stating it."""

from __future__ import annotations

import pytest

from kg.config import Settings
from tests.test_llm_runtime import real_server  # noqa: F401  (the fixture)

DOC = (
    "Firstly, about the audio data\n\n"
    "My partner for this project has recorded various phrases in the past and uploaded them. "
    "Today I did 4 of the 10 videos.\n\n"
    "To cut the clips I ended up using an app called VideoPad, and even though it is a paid "
    "app, it allows me to cut audio clips in smaller pieces and save them as new files.\n\n"
    "Secondly, today I read about eigenvalues' role in factor analysis."
)


@pytest.mark.llm
def test_real_model_chooses_the_candidate_and_cites_its_sentence(
    real_server: Settings,  # noqa: F811
) -> None:
    from kg.answer import Plain, analyse, answer
    from kg.answer.choose import CHOICE_TOKENS, SENTENCE_TOKENS
    from kg.llm.client import chat_model
    from kg.models import SearchHit
    from kg.ontology import load_ontology

    half = DOC.index("Secondly")
    hits = [
        SearchHit(chunk_id="c1", doc_id="d1", path="day133.txt", start=0, end=half,
                  text=DOC[:half], score=1.0),
        SearchHit(chunk_id="c2", doc_id="d1", path="day133.txt", start=half, end=len(DOC),
                  text=DOC[half:], score=0.5),
    ]  # fmt: skip
    ontology = load_ontology("default")
    q = analyse("Which app did I use to cut the audio clips?", ontology)
    chat = chat_model(real_server, max_tokens=120)
    for path in ("choice", "sentence"):
        result = answer(q, hits, [], chat, Plain(ontology=ontology), path=path)
        print(f"\n{path}: {result.answer!r} {result.selected_by} timings: {result.timings}")
        assert "VideoPad" in result.answer and result.selected_by.startswith("llm-choice")
        cite = result.citations[0]
        assert "VideoPad" in DOC[cite.start : cite.end]
        limit = CHOICE_TOKENS + (SENTENCE_TOKENS + 10 if path == "sentence" else 0)
        assert 0 < result.timings["completion_tokens"] <= limit
