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
from kg.llm import client
from kg.models import Answer, GraphFact, SearchHit

HITS = [
    SearchHit(
        chunk_id="c1",
        doc_id="d1",
        path="notes/week3.md",
        start=10,
        end=200,
        text="Week 3. I finished the Machine Learning Specialization on Coursera. "
        "The unsupervised learning part was taught by Andrew Ng and covered K-means clustering.",
    ),
    SearchHit(
        chunk_id="c2",
        doc_id="d2",
        path="notes/week5.md",
        start=300,
        end=420,
        text="Week 5. Started reading Deep Learning by Ian Goodfellow. "
        "Chapter 2 is about eigenvalues and the singular value decomposition.",
    ),
    SearchHit(
        chunk_id="c3",
        doc_id="d3",
        path="notes/misc.md",
        text="Bought a new keyboard. Edited a video in VideoPad.",
    ),
]
FACTS = [GraphFact(head="Deep Learning", head_type="Book", type="COVERS", tail="eigenvalues")]


def _fake(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=text)]))


SEEN: list[Any] = []


class Recording(GenericFakeChatModel):
    """Remembers the prompt it was given (in SEEN)."""

    def _stream(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        SEEN.append(messages)
        return super()._stream(messages, *args, **kwargs)


def test_answer_cites_only_what_the_text_cites() -> None:
    result = answer("Which book covers eigenvalues?", HITS, FACTS, _fake(
        "Deep Learning by Ian Goodfellow covers eigenvalues in chapter 2 [2]."
    ))  # fmt: skip
    assert "Goodfellow" in result.answer and "[2]" in result.answer
    assert [c.n for c in result.citations] == [2]
    cite = result.citations[0]
    assert (cite.chunk_id, cite.doc_id, cite.path, cite.start, cite.end) == (
        "c2", "d2", "notes/week5.md", 300, 420,
    )  # fmt: skip
    assert "eigenvalues" in cite.snippet
    assert result.facts == FACTS and result.warnings == []


def test_grouped_and_repeated_citations() -> None:
    result = answer("q", HITS, [], _fake("A [3][1]. B [1, 2]."))
    assert [c.n for c in result.citations] == [3, 1, 2]
    assert cited_numbers("x [1, 2] [2] [7] [0]", 3) == [1, 2]


def test_out_of_range_citations_are_dropped_and_top_hit_is_the_fallback() -> None:
    result = answer("Who taught it?", HITS, [], _fake("Andrew Ng taught it [9]."))
    assert "[9]" not in result.answer and "Andrew Ng" in result.answer
    assert [c.chunk_id for c in result.citations] == ["c1"]
    assert result.warnings


def test_not_in_the_corpus_is_normalised_and_uncited() -> None:
    result = answer("What is my favourite pizza?", HITS, [], _fake("Not in the corpus."))
    assert result.answer == NOT_IN_CORPUS
    assert result.citations == []


def test_no_context_means_not_in_the_corpus_without_calling_the_llm() -> None:
    result = answer("anything?", [], [], GenericFakeChatModel(messages=iter([])))
    assert result.answer == NOT_IN_CORPUS


def test_stream_yields_deltas_then_the_answer() -> None:
    items = list(stream_answer("q", HITS, [], _fake("Andrew Ng taught the course [1].")))
    deltas, final = items[:-1], items[-1]
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, Answer)
    assert "".join(deltas).strip() == final.answer
    assert "llm_s" in final.timings


def test_prompt_caps_chunks_and_holds_facts_history_and_question() -> None:
    many = [
        SearchHit(chunk_id=f"c{i}", doc_id="d", text=f"chunk number {i} " + "x" * 3000)
        for i in range(10)
    ]
    history = [(f"question {i}", f"reply {i}") for i in range(5)]
    messages = build_messages("and who taught it?", many, FACTS, history)
    prompt = messages[-1][1]
    assert "\n[6] (d) chunk number 5" in prompt and "chunk number 6" not in prompt
    assert all(len(block) < 1400 for block in prompt.split("\n\n"))
    assert "Deep Learning (Book) -COVERS-> eigenvalues" in prompt
    assert "question 4" in prompt and "question 2" in prompt and "question 1" not in prompt
    assert prompt.rstrip().endswith(f"Question: and who taught it?\n{INSTRUCTION}")
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
    assert result.citations and result.citations[0].chunk_id == "c2"
    assert any("LLM unavailable" in w for w in result.warnings)


def test_empty_llm_reply_falls_back() -> None:
    result = answer("Who taught the unsupervised learning part?", HITS, [], _fake(""))
    assert "Andrew Ng" in result.answer and result.warnings
