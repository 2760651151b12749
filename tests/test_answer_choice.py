"""The LLM chooses among numbered candidates (fake chat models): schema, fallbacks, streaming."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, ValidationError

from kg.answer import Plain, analyse, answer, stream_answer
from kg.answer.choose import CHOICE_TOKENS, SENTENCE_CHARS, choice_schema
from kg.config import Settings
from kg.models import Answer, SearchHit
from kg.ontology import load_ontology
from tests.fake_llm_server import FakeLLM

ONTOLOGY = load_ontology("default")
TEXT = (
    "To cut the clips I ended up using an app called VideoPad, and it is a paid app.\n\n"
    "I plotted the waveform with Audacity before cutting."
)
HITS = [SearchHit(chunk_id="c1", doc_id="d1", path="day133.txt", start=0, end=len(TEXT),
                  text=TEXT, score=1.0)]  # fmt: skip
QUESTION = "Which app did I use to cut the clips?"


class Chooser(BaseChatModel):
    """Replies with a fixed text; keeps the prompts it was sent."""

    reply: str = ""
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-chooser"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        self.prompts.append(str(messages[-1].content))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.reply))])


def _ask(reply: str, path: str = "sentence") -> tuple[Answer, Chooser]:
    chat = Chooser(reply=reply)
    q = analyse(QUESTION, ONTOLOGY)
    return answer(q, HITS, [], chat, Plain(ontology=ONTOLOGY), path=path), chat


def _numbered(prompt: str, name: str) -> int:
    line = next(x for x in prompt.splitlines() if x.split(". ", 1)[-1].startswith(name))
    return int(line.split(".", 1)[0])


def test_the_schema_bounds_indices_and_the_sentence() -> None:
    schema = choice_schema(3, 2, sentence=False)
    assert schema.model_validate({"c": 3, "p": 2}).c == 3
    with pytest.raises(ValidationError):
        schema.model_validate({"c": 4, "p": 1})  # past the candidates
    with pytest.raises(ValidationError):
        schema.model_validate({"c": 1, "p": 3})
    assert "s" not in schema.model_json_schema()["properties"]
    spoken = choice_schema(3, 2, sentence=True).model_json_schema()
    assert spoken["properties"]["s"]["maxLength"] == SENTENCE_CHARS
    assert spoken["properties"]["c"]["minimum"] == 0  # 0: no candidate answers


def test_the_llm_picks_a_numbered_candidate() -> None:
    probe, chat = _ask('{"c": 0, "p": 1}', path="choice")
    n = _numbered(chat.prompts[0], "Audacity")
    assert "Passages:\n[1]" in chat.prompts[0] and "Candidates:\n1. " in chat.prompts[0]
    result, _ = _ask(json.dumps({"c": n, "p": 1}), path="choice")
    assert result.selected_by == "llm-choice" and result.candidate == "Audacity"
    assert result.answer.startswith("Audacity — *I plotted the waveform with Audacity")
    assert probe.selected_by == "candidates (the LLM chose none)"  # c=0: the ranking's choice
    assert probe.candidate == "VideoPad"


def test_a_sentence_with_the_candidate_is_kept_one_without_is_dropped() -> None:
    q = analyse(QUESTION, ONTOLOGY)
    probe = Chooser(reply='{"c": 0, "p": 1, "s": ""}')
    answer(q, HITS, [], probe, Plain(ontology=ONTOLOGY))
    n = _numbered(probe.prompts[0], "VideoPad")
    good, _ = _ask(json.dumps({"c": n, "p": 1, "s": "You used VideoPad to cut the clips."}))
    assert good.selected_by == "llm-choice+sentence"
    assert good.answer.startswith("You used VideoPad to cut the clips. — *To cut the clips I")
    bad, _ = _ask(json.dumps({"c": n, "p": 1, "s": "You used an editor for that."}))
    assert bad.selected_by == "llm-choice (its sentence lacked the candidate)"
    assert bad.answer.startswith("VideoPad — *To cut the clips")
    assert bad.citations[0].snippet.startswith("To cut the clips")


def test_unusable_replies_fall_back_to_the_ranking() -> None:
    result, _ = _ask("Sorry, I cannot help with that.")
    assert result.selected_by == "candidates (LLM failed)" and result.candidate == "VideoPad"
    assert any("unusable reply" in w for w in result.warnings)


def test_the_choice_streams_before_the_answer() -> None:
    q = analyse(QUESTION, ONTOLOGY)
    probe = Chooser(reply='{"c": 0, "p": 1}')
    answer(q, HITS, [], probe, Plain(ontology=ONTOLOGY), path="choice")
    n = _numbered(probe.prompts[0], "VideoPad")
    chat = Chooser(reply=json.dumps({"c": n, "p": 1, "s": "VideoPad cut them."}))
    items = list(stream_answer(q, HITS, [], chat, Plain(ontology=ONTOLOGY)))
    assert items[0] == "VideoPad" and isinstance(items[-1], Answer)


def test_an_openai_server_gets_the_narrowed_schema_and_a_small_token_cap() -> None:
    from kg.llm.client import chat_model

    with FakeLLM() as server:
        chat = chat_model(Settings(llm_base_url=server.base_url, llm_model="fake"))
        q = analyse(QUESTION, ONTOLOGY)
        result = answer(q, HITS, [], chat, Plain(ontology=ONTOLOGY), path="choice")
        request = server.last_request
    schema = request["response_format"]["json_schema"]["schema"]
    cap = request.get("max_completion_tokens", request.get("max_tokens"))
    assert set(schema["properties"]) == {"c", "p"} and cap == CHOICE_TOKENS
    assert request["stream"] is True and result.selected_by == "llm-choice"
    assert result.timings["prompt_tokens"] == 10 and result.timings["completion_tokens"] == 5
