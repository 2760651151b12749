"""One real offline-LLM answer (slow, `-m llm`): facts first, and the citation's span in the
document states the answer."""

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
def test_real_answer_cites_the_sentence_that_states_it(real_server: Settings) -> None:  # noqa: F811
    from kg.answer import answer
    from kg.answer_context import build_context
    from kg.llm.client import chat_model
    from kg.models import SearchHit

    half = DOC.index("Secondly")
    hits = [
        SearchHit(chunk_id="c1", doc_id="d1", path="day133.txt", start=0, end=half,
                  text=DOC[:half]),
        SearchHit(chunk_id="c2", doc_id="d1", path="day133.txt", start=half, end=len(DOC),
                  text=DOC[half:]),
    ]  # fmt: skip
    q = "Which app did I use to cut the audio clips?"
    passages = build_context(q, hits, [])
    chat = chat_model(real_server, max_tokens=120)
    result = answer(q, hits, [], chat, passages=passages)
    print(f"\nanswer: {result.answer!r} timings: {result.timings}")
    assert "VideoPad" in result.answer
    assert result.citations
    assert all("VideoPad" in DOC[c.start : c.end] for c in result.citations)
    assert all(c.end - c.start < 400 for c in result.citations)  # a sentence, not the chunk
