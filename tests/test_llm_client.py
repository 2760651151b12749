"""kg.llm.client: lenient JSON parsing (property-tested) and invoke_json's plumbing."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from kg.config import Settings
from kg.llm import client
from kg.llm.client import (
    JsonResult,
    LLMUnavailable,
    chat_model,
    invoke_json,
    lenient_json,
    response_format,
)
from kg.models import ChunkExtraction


class Pair(BaseModel):
    name: str
    tags: list[str] = Field(default_factory=list, max_length=3)


# ---------------------------------------------------------------- lenient_json


def test_plain_fenced_think_and_junk() -> None:
    assert lenient_json('{"a": 1}') == {"a": 1}
    assert lenient_json('Sure! Here it is:\n```json\n{"a": [1, 2]}\n```\nDone.') == {"a": [1, 2]}
    assert lenient_json('<think>maybe {"a": 0}?</think>{"a": 2}') == {"a": 2}
    assert lenient_json('noise {not json} then {"b": "x"} trailing') == {"b": "x"}
    assert lenient_json("[1, 2, 3]") == [1, 2, 3]


def test_truncated_object_keeps_whole_items_and_drops_the_dangling_one() -> None:
    text = '{"summary": "PCA notes", "entities": [{"name": "PCA", "type": "Method"}, {"name": "K-me'
    assert lenient_json(text) == {
        "summary": "PCA notes",
        "entities": [{"name": "PCA", "type": "Method"}],
    }


def test_truncated_top_level_string_is_closed() -> None:
    assert lenient_json('{"cypher": "MATCH (n) RETURN n LIM') == {
        "cypher": "MATCH (n) RETURN n LIM"
    }
    assert lenient_json('```json\n{"summary": "half a sent') == {"summary": "half a sent"}


def test_truncated_key_and_number_are_dropped() -> None:
    assert lenient_json('{"a": 1, "b": [1, 2], "c') == {"a": 1, "b": [1, 2]}
    assert lenient_json('{"a": "x", "n": 12') == {"a": "x"}
    assert lenient_json('{"a": [') == {"a": []}


def test_nothing_usable_raises_value_error() -> None:
    for text in ("", "no json here", '<think>{"a": 1}</think>', "{", "42"):
        with pytest.raises(ValueError):
            lenient_json(text)


def test_deep_nesting_raises_only_value_error() -> None:
    with pytest.raises(ValueError):
        lenient_json("[" * 100_000)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(value=st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=4))
def test_every_truncation_parses_or_raises_value_error(value: dict[str, Any]) -> None:
    text = json.dumps(value, indent=1)
    assert lenient_json(text) == value
    for cut in range(len(text)):
        try:
            result = lenient_json(text[:cut])
        except ValueError:
            continue
        assert isinstance(result, dict | list)


def test_every_truncation_of_an_extraction_keeps_a_prefix_of_whole_items() -> None:
    full = {
        "summary": "Notes on PCA and K-means from the Coursera course.",
        "entities": [
            {"name": "PCA", "type": "Method", "description": "dimensionality reduction"},
            {"name": "K-means", "type": "Method", "description": "clustering"},
            {"name": "Coursera", "type": "Organization", "description": ""},
        ],
        "relations": [{"head": "PCA", "type": "RELATED_TO", "tail": "K-means", "evidence": "x"}],
    }
    text = json.dumps(full, indent=2)
    for cut in range(len(text) + 1):
        try:
            got = lenient_json(text[:cut])
        except ValueError:
            continue
        extraction = ChunkExtraction.model_validate(got)  # a partial item would fail here
        assert full["summary"].startswith(extraction.summary)
        n = len(extraction.entities)
        assert [e.model_dump() for e in extraction.entities] == full["entities"][:n]
        assert len(extraction.relations) <= 1
    assert lenient_json(text) == full


@settings(max_examples=60, deadline=None)
@given(
    value=st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=4),
    before=st.text(alphabet=st.characters(exclude_characters="{["), max_size=20),
    after=st.text(max_size=20),
    fence=st.booleans(),
    think=st.text(max_size=20),
)
def test_wrapped_json_is_found(
    value: dict[str, Any], before: str, after: str, fence: bool, think: str
) -> None:
    body = json.dumps(value)
    if fence:
        body = f"```json\n{body}\n```"
    text = f"<think>{think.replace('</think>', '')}</think>{before}{body}{after}"
    assert lenient_json(text) == value


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]":,\\ ab1-.<>/thinkeu`\n')), max_size=60))
def test_junk_never_raises_anything_but_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):  # anything else fails the test
        lenient_json(text)


# ---------------------------------------------------------------- invoke_json with fakes


def _fake(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


def test_invoke_json_validates_into_the_schema() -> None:
    result = invoke_json(_fake('```json\n{"name": "PCA", "tags": ["pca"]}\n```'), [], Pair)
    assert isinstance(result, JsonResult)
    assert result.error is None
    assert result.data == Pair(name="PCA", tags=["pca"])
    assert result.usage.calls == 1 and result.usage.failures == 0


def test_invoke_json_reports_bad_output_without_raising() -> None:
    bad = invoke_json(_fake("I cannot help with that."), [], Pair)
    assert bad.data is None and bad.error and "unparseable" in bad.error
    assert bad.raw == "I cannot help with that." and bad.usage.failures == 1

    wrong = invoke_json(_fake('{"tags": ["a", "b", "c", "d"]}'), [], Pair)
    assert wrong.data is None and wrong.error and "schema mismatch" in wrong.error
    assert wrong.parsed == {"tags": ["a", "b", "c", "d"]}


class _Refusing(GenericFakeChatModel):
    """A chat model whose server is down."""

    calls: int = 0

    def invoke(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.calls += 1
        raise openai.APIConnectionError(request=httpx.Request("POST", "http://x/v1"))


def test_connection_errors_are_retried_then_raise_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client, "BACKOFF_S", 0.0)
    chat = _Refusing(messages=iter([]))
    with pytest.raises(LLMUnavailable):
        invoke_json(chat, [], Pair)
    assert chat.calls == client.RETRIES


def test_other_errors_become_a_failed_result() -> None:
    class Broken(GenericFakeChatModel):
        def invoke(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            raise RuntimeError("context length exceeded")

    result = invoke_json(Broken(messages=iter([])), [], Pair)
    assert result.data is None and result.error and "context length" in result.error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_real_chatopenai_to_a_dead_server_raises_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client, "BACKOFF_S", 0.0)
    chat = chat_model(Settings(llm_base_url=f"http://127.0.0.1:{_closed_port()}/v1"))
    with pytest.raises(LLMUnavailable):
        invoke_json(chat, [("user", "hi")], Pair)


def test_chatopenai_request_carries_the_json_schema_and_max_tokens() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        body = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": '{"name": "BERT"}'},
                }
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
        }
        return httpx.Response(200, json=body)

    chat = ChatOpenAI(
        base_url="http://llm.invalid/v1",
        model="m",
        api_key="k",  # type: ignore[arg-type]
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    result = invoke_json(chat, [("user", "name a model")], Pair, max_tokens=77)
    assert result.data == Pair(name="BERT")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 5)
    fmt = seen[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"] == Pair.model_json_schema()
    assert seen[0].get("max_completion_tokens", seen[0].get("max_tokens")) == 77


def test_strict_only_when_openai_would_accept_it() -> None:
    class Strict(BaseModel):
        model_config = {"extra": "forbid"}
        cypher: str

    assert response_format(Strict)["json_schema"]["strict"] is True
    assert response_format(Pair)["json_schema"]["strict"] is False  # tags has a default
    schema = response_format(ChunkExtraction)["json_schema"]["schema"]
    assert schema["properties"]["entities"]["maxItems"] == 20


def test_chat_model_uses_the_configured_server_without_starting_one() -> None:
    chat = chat_model(
        Settings(llm_base_url="http://example.invalid/v1", llm_model="my-model"),
        max_tokens=99,
    )
    assert isinstance(chat, ChatOpenAI)
    assert chat.model_name == "my-model"
    assert str(chat.openai_api_base) == "http://example.invalid/v1"
    assert chat.max_tokens == 99


def test_output_cut_at_max_tokens_is_salvaged() -> None:
    """openai raises LengthFinishReasonError on a truncated answer; its partial JSON is kept."""
    import openai
    from openai.types.chat import ChatCompletion

    from kg.llm.client import invoke_json

    partial = (
        '{"summary": "K-means", "entities": [{"name": "PCA", "type": "Method"}, {"name": "K-me'
    )
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {"role": "assistant", "content": partial},
                }
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 30, "total_tokens": 37},
        }
    )

    class Truncating:
        def invoke(self, messages: object, **kwargs: object) -> object:
            raise openai.LengthFinishReasonError(completion=completion)

    result = invoke_json(Truncating(), [("user", "x")], ChunkExtraction)  # type: ignore[arg-type]
    assert result.data is not None and [e.name for e in result.data.entities] == ["PCA"]
    assert result.usage.completion_tokens == 30


# ---------------------------------------------------------------- prompt-cache reporting


def test_invoke_json_reports_the_prompt_tokens_the_server_reused() -> None:
    """llama.cpp (like vLLM and OpenAI) says how much of the prompt came from its cache."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cached = iter([0, 250])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            usage = {
                "prompt_tokens": 300, "completion_tokens": 9, "total_tokens": 309,
                "prompt_tokens_details": {"cached_tokens": next(cached)},
            }  # fmt: skip
            body = json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": '{"name": "K-means", "tags": []}'}}],
                "usage": usage,
            }).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        chat = chat_model(Settings(llm_base_url=url))
        first = invoke_json(chat, [("user", "x")], Pair)
        second = invoke_json(chat, [("user", "y")], Pair)
    finally:
        server.shutdown()
        server.server_close()
    assert first.error is None and first.data == Pair(name="K-means")
    assert (first.cached_prompt_tokens, second.cached_prompt_tokens) == (0, 250)
    assert second.usage.prompt_tokens == 300


def test_a_reply_without_cache_details_counts_no_cached_tokens() -> None:
    chat = GenericFakeChatModel(messages=iter([AIMessage(content='{"name": "a"}')]))
    assert invoke_json(chat, [("user", "x")], Pair).cached_prompt_tokens == 0
