"""kg.answer with fake chat models: citations, not-in-corpus, history, extractive fallback."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from kg.answer import (
    INSTRUCTION,
    NOT_IN_CORPUS,
    answer,
    build_messages,
    cited_numbers,
    stream_answer,
)
from kg.answer_context import CONTEXT_CHARS, Passage, build_context
from kg.llm import client
from kg.models import Answer, GraphFact, SearchHit

HITS = [
    SearchHit(
        chunk_id="c1",
        doc_id="d1",
        path="notes/week3.md",
        start=10,
        end=164,
        text="Week 3. I finished the Machine Learning Specialization on Coursera. "
        "The unsupervised learning part was taught by Andrew Ng and covered K-means clustering.",
    ),
    SearchHit(
        chunk_id="c2",
        doc_id="d2",
        path="notes/week5.md",
        start=300,
        end=425,
        text="Week 5. Started reading Deep Learning by Ian Goodfellow. "
        "Chapter 2 is about eigenvalues and the singular value decomposition.",
    ),
    SearchHit(
        chunk_id="c3",
        doc_id="d3",
        path="notes/misc.md",
        start=0,
        end=50,
        text="Bought a new keyboard. Edited a video in VideoPad.",
    ),
]
FACTS = [GraphFact(head="Deep Learning", head_type="Book", type="COVERS", tail="eigenvalues")]


def _fake(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=text)]))


def _number(passages: list[Passage], needle: str) -> int:
    return next(n for n, p in enumerate(passages, 1) if needle in p.text)


SEEN: list[Any] = []


class Recording(GenericFakeChatModel):
    """Remembers the prompt it was given (in SEEN)."""

    def _stream(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        SEEN.append(messages)
        return super()._stream(messages, *args, **kwargs)


def test_answer_cites_only_what_the_text_cites() -> None:
    q = "Which book covers eigenvalues?"
    n = _number(build_context(q, HITS, FACTS), "Goodfellow")
    result = answer(
        q, HITS, FACTS, _fake(f"Deep Learning by Ian Goodfellow covers eigenvalues [{n}].")
    )
    assert "Goodfellow" in result.answer and f"[{n}]" in result.answer
    assert [c.n for c in result.citations] == [n]
    cite = result.citations[0]
    assert (cite.chunk_id, cite.doc_id, cite.path) == ("c2", "d2", "notes/week5.md")
    # the span is the sentences that say it, in document offsets, not the whole chunk
    text = HITS[1].text
    assert (cite.start, cite.end) == (300 + text.index("Started"), 300 + len(text))
    assert "Goodfellow" in cite.snippet and cite.selected_by == "model"
    assert result.facts == FACTS and result.warnings == []


def test_grouped_and_repeated_citations() -> None:
    assert cited_numbers("x [1, 2] [2] [7] [0]", 3) == [1, 2]
    hits = [
        SearchHit(chunk_id=f"c{i}", doc_id=f"d{i}", text=f"Topic {w} is explained by teacher {w}.")
        for i, w in enumerate(("alpha", "beta", "gamma"))
    ]
    passages = build_context("Who explains alpha, beta and gamma?", hits, [])
    assert len(passages) == 3
    result = answer("q", hits, [], _fake("Alpha [3][1]. Beta and gamma [1, 2]."), passages=passages)
    assert [c.n for c in result.citations] == [3, 1, 2]


def test_out_of_range_citation_is_replaced_by_the_supporting_sentence() -> None:
    result = answer("Who taught it?", HITS, [], _fake("Andrew Ng taught it [9]."))
    assert "[9]" not in result.answer and "Andrew Ng" in result.answer
    (cite,) = result.citations
    assert cite.chunk_id == "c1" and "Andrew Ng" in cite.snippet
    assert cite.selected_by == "overlap" and f"[{cite.n}]" in result.answer
    assert result.warnings == []  # a supporting span was found: nothing to warn about


def test_a_citation_that_does_not_support_the_answer_is_swapped() -> None:
    q = "Who taught the unsupervised learning part, and what did it cover?"
    passages = build_context(q, HITS, [])
    passages = [*passages, Passage("c3", "d3", "notes/misc.md", 0, 22, "Bought a new keyboard.")]
    wrong = len(passages)
    result = answer(q, HITS, [], _fake(f"Andrew Ng taught it [{wrong}]."), passages=passages)
    (cite,) = result.citations
    assert cite.chunk_id == "c1" and "Andrew Ng" in cite.snippet
    assert cite.selected_by == "overlap"
    assert f"[{cite.n}]" in result.answer and f"[{wrong}]" not in result.answer


def test_not_in_the_corpus_is_normalised_and_uncited() -> None:
    result = answer("What is my favourite pizza?", HITS, [], _fake("Not in the corpus."))
    assert result.answer == NOT_IN_CORPUS
    assert result.citations == []


def test_not_in_the_corpus_is_doubted_when_a_source_states_the_question() -> None:
    q = "Who taught the unsupervised learning part?"
    result = answer(q, HITS, [], _fake("not in the corpus"))
    assert "Andrew Ng" in result.answer and result.citations
    assert any("LLM found no answer" in w for w in result.warnings)


def test_no_context_means_not_in_the_corpus_without_calling_the_llm() -> None:
    result = answer("anything?", [], [], GenericFakeChatModel(messages=iter([])))
    assert result.answer == NOT_IN_CORPUS


def test_stream_yields_deltas_then_the_answer() -> None:
    items = list(stream_answer("q", HITS, [], _fake("Andrew Ng taught the course [1].")))
    deltas, final = items[:-1], items[-1]
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Answer)
    assert "".join(deltas).strip() == final.answer
    assert "llm_s" in final.timings and "first_token_s" in final.timings


def test_prompt_is_within_the_budget_and_holds_facts_history_and_question() -> None:
    many = [
        SearchHit(
            chunk_id=f"c{i}",
            doc_id=f"d{i}",
            start=0,
            end=3000,
            text=f"Chunk {i} talks about transformers and attention. "
            + "Filler words here. " * 150,
        )
        for i in range(10)
    ]
    history = [(f"question {i}", f"reply {i}") for i in range(5)]
    q = "and what about transformers and attention?"
    passages = build_context(q, many, FACTS)
    messages = build_messages(q, passages, FACTS, history)
    prompt = messages[-1][1]
    sources = prompt.split("Sources:\n", 1)[1].split("\n\n", 1)[0]
    assert len(sources) < CONTEXT_CHARS + 40 * len(passages)  # the markers and file names
    assert "Filler words here. Filler" not in sources  # sentences, not chunks
    assert "Deep Learning (Book) -COVERS-> eigenvalues" in prompt
    assert "question 4" in prompt and "question 2" in prompt and "question 1" not in prompt
    assert prompt.rstrip().endswith(f"Question: {q}\n{INSTRUCTION}")
    assert "[1]" in messages[1][1] and NOT_IN_CORPUS in messages[1][1]


def test_history_reaches_the_llm() -> None:
    chat = Recording(messages=iter([AIMessage(content="Andrew Ng [1].")]))
    SEEN.clear()
    answer("and who taught it?", HITS, [], chat, history=[("Which course had K-means?", "ML")])
    prompt = str(SEEN[0])
    assert "Which course had K-means?" in prompt and "and who taught it?" in prompt


def test_without_llm_the_answer_is_extractive_and_cited() -> None:
    result = answer("Who taught the unsupervised learning part?", HITS, FACTS, None)
    assert "Andrew Ng" in result.answer and "[1]" in result.answer
    assert [c.chunk_id for c in result.citations] == ["c1"]
    assert result.citations[0].selected_by == "extractive"
    assert result.warnings and "extractive" in result.warnings[0]


def test_without_llm_and_no_matching_sentence() -> None:
    result = answer("zebra migration?", HITS, [], None)
    assert result.answer == NOT_IN_CORPUS and result.warnings


class _Down(GenericFakeChatModel):
    def _stream(self, *args: Any, **kwargs: Any) -> Any:
        raise openai.APIConnectionError(request=httpx.Request("POST", "http://x/v1"))


def test_llm_down_falls_back_to_extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "BACKOFF_S", 0.0)
    items = list(
        stream_answer("Which book covers eigenvalues?", HITS, [], _Down(messages=iter([])))
    )
    assert len(items) == 1
    result = items[0]
    assert isinstance(result, Answer)
    assert "Goodfellow" in result.answer or "eigenvalues" in result.answer
    assert any(c.chunk_id == "c2" for c in result.citations)
    assert any("LLM unavailable" in w for w in result.warnings)


def test_empty_llm_reply_falls_back() -> None:
    result = answer("Who taught the unsupervised learning part?", HITS, [], _fake(""))
    assert "Andrew Ng" in result.answer and result.warnings


def test_an_answer_that_only_restates_the_question_is_replaced_by_quotes() -> None:
    q = "Who taught the unsupervised learning part?"
    result = answer(q, HITS, [], _fake("The unsupervised learning part was taught [1]."))
    assert "Andrew Ng" in result.answer and result.citations
    assert any("restates the question" in w for w in result.warnings)
