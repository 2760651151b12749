"""One chat model for every OpenAI-compatible server, and JSON calls that never raise on bad output.

``chat_model`` is LangChain's ``ChatOpenAI`` pointed at ``settings.llm_base_url`` (Ollama, vLLM,
OpenAI...) or, when none is set, at kg's offline llama.cpp server. ``invoke_json`` asks for output
constrained by a JSON schema (llama.cpp turns it into a grammar, so small models always produce
parseable JSON) and still parses leniently, because other servers may ignore the schema.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from kg.config import Settings
from kg.errors import LLMUnavailable
from kg.models import LLMUsage

RETRIES = 3
BACKOFF_S = 1.0


@dataclass
class JsonResult:
    """``data`` is the validated ``schema`` instance, or None with ``error`` saying why.

    ``parsed`` keeps the leniently parsed JSON even when validation failed, so callers can
    salvage valid items and record the rest.
    """

    data: Any | None
    raw: str
    usage: LLMUsage
    error: str | None
    parsed: Any | None = None
    cached_prompt_tokens: int = 0  # prompt tokens the server reused from its prompt cache


def chat_model(
    settings: Settings, *, max_tokens: int = 1024, temperature: float = 0.0
) -> BaseChatModel:
    """ChatOpenAI for the configured server; starts kg's offline server when none is set."""
    from langchain_openai import ChatOpenAI

    from kg.llm.runtime import ensure_llm_server

    base_url = ensure_llm_server(settings)
    return ChatOpenAI(
        base_url=base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        max_tokens=max_tokens,  # type: ignore[call-arg]
        temperature=temperature,
        timeout=settings.llm_timeout,
        max_retries=1,  # invoke_json retries connection errors itself, with backoff
        stream_usage=True,
    )


def response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """OpenAI's json_schema response format; ``strict`` only where OpenAI's rules allow it."""
    json_schema = schema.model_json_schema()
    return {
        "type": "json_schema",
        "json_schema": {
            "name": re.sub(r"[^A-Za-z0-9_-]", "_", schema.__name__)[:64],
            "schema": json_schema,
            "strict": _strict_ok(json_schema),
        },
    }


def _strict_ok(node: Any) -> bool:
    """OpenAI's strict mode needs every property required and no extra properties."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and (
            set(node.get("required", [])) != set(props)
            or node.get("additionalProperties") is not False
        ):
            return False
        return all(_strict_ok(v) for v in node.values())
    if isinstance(node, list):
        return all(_strict_ok(v) for v in node)
    return True


def is_openai_chat(chat: Any) -> bool:
    """True for LangChain OpenAI chat models (they take response_format and max_tokens)."""
    try:
        from langchain_openai.chat_models.base import BaseChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is a dependency
        return False
    return isinstance(chat, BaseChatOpenAI)


def is_connection_error(exc: BaseException) -> bool:
    try:
        import openai
    except ImportError:  # pragma: no cover
        openai = None  # type: ignore[assignment]
    if openai is not None and isinstance(exc, openai.APITimeoutError):
        return False  # a slow answer is not a down server: report it, do not retry for minutes
    if openai is not None and isinstance(exc, openai.APIConnectionError):
        return True
    import httpx

    return isinstance(exc, ConnectionError | httpx.ConnectError | httpx.RemoteProtocolError)


def connection_retries() -> Retrying:
    """tenacity's retrying for LLM calls: connection errors only, ``RETRIES`` tries, waits of
    ``BACKOFF_S`` then doubled; the last error is re-raised as it was."""
    return Retrying(
        stop=stop_after_attempt(RETRIES),
        wait=wait_exponential(multiplier=BACKOFF_S),
        retry=retry_if_exception(is_connection_error),
        reraise=True,
    )


def invoke_with_retry(chat: Any, messages: Sequence[Any], **kwargs: Any) -> BaseMessage:
    """``chat.invoke`` that retries connection errors with backoff, then raises LLMUnavailable."""
    try:
        return connection_retries()(chat.invoke, list(messages), **kwargs)
    except Exception as exc:
        if is_connection_error(exc):
            raise LLMUnavailable(f"LLM server unreachable after {RETRIES} tries: {exc}") from exc
        raise


def usage_of(message: BaseMessage) -> LLMUsage:
    usage = LLMUsage(calls=1)
    meta = getattr(message, "usage_metadata", None) or {}
    if meta:
        usage.prompt_tokens = int(meta.get("input_tokens") or 0)
        usage.completion_tokens = int(meta.get("output_tokens") or 0)
    else:
        token_usage = (getattr(message, "response_metadata", None) or {}).get("token_usage") or {}
        usage.prompt_tokens = int(token_usage.get("prompt_tokens") or 0)
        usage.completion_tokens = int(token_usage.get("completion_tokens") or 0)
    return usage


def cached_prompt_tokens(message: BaseMessage) -> int:
    """Prompt tokens served from the server's prompt cache (llama.cpp, vLLM and OpenAI report
    ``prompt_tokens_details.cached_tokens``): shows whether a fixed prompt prefix is reused."""
    meta = getattr(message, "usage_metadata", None) or {}
    details = meta.get("input_token_details") or {}
    if details.get("cache_read") is not None:
        return int(details["cache_read"])
    token_usage = (getattr(message, "response_metadata", None) or {}).get("token_usage") or {}
    return int((token_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)


def invoke_json(
    chat: BaseChatModel,
    messages: Sequence[Any],
    schema: type[BaseModel],
    *,
    max_tokens: int | None = None,
) -> JsonResult:
    """Call the LLM for JSON matching ``schema``; bad output gives ``data=None`` and ``error``."""
    kwargs: dict[str, Any] = {}
    if is_openai_chat(chat):
        kwargs["response_format"] = response_format(schema)
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
    try:
        message = invoke_with_retry(chat, messages, **kwargs)
    except LLMUnavailable:
        raise
    except Exception as exc:  # a refused request (context too long, timeout...) is a failure
        cached = 0
        truncated = _truncated_completion(exc)
        if truncated is None:
            return JsonResult(None, "", LLMUsage(calls=1, failures=1), f"LLM call failed: {exc}")
        raw, usage = truncated  # hit max_tokens: salvage what was written
    else:
        usage = usage_of(message)
        raw = _text(message)
        cached = cached_prompt_tokens(message)
    try:
        parsed = lenient_json(raw)
    except ValueError as exc:
        usage.failures += 1
        return JsonResult(None, raw, usage, f"unparseable JSON: {exc}")
    try:
        data = schema.model_validate(parsed)
    except ValidationError as exc:
        usage.failures += 1
        return JsonResult(None, raw, usage, f"schema mismatch: {_short(exc)}", parsed, cached)
    return JsonResult(data, raw, usage, None, parsed, cached)


def _truncated_completion(exc: Exception) -> tuple[str, LLMUsage] | None:
    """The partial text of an answer cut at max_tokens (openai's LengthFinishReasonError)."""
    completion = getattr(exc, "completion", None)
    choices = getattr(completion, "choices", None)
    if not choices:
        return None
    text = getattr(getattr(choices[0], "message", None), "content", None) or ""
    usage = LLMUsage(calls=1)
    tokens = getattr(completion, "usage", None)
    if tokens is not None:
        usage.prompt_tokens = int(getattr(tokens, "prompt_tokens", 0) or 0)
        usage.completion_tokens = int(getattr(tokens, "completion_tokens", 0) or 0)
    return text, usage


def _text(message: BaseMessage) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(
            b if isinstance(b, str) else str(b.get("text", "")) for b in content if b is not None
        )
    return str(content)


def _short(exc: ValidationError, n: int = 3) -> str:
    errors = exc.errors()
    parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:n]]
    more = f" (+{len(errors) - n} more)" if len(errors) > n else ""
    return "; ".join(parts) + more


# ---------------------------------------------------------------- lenient JSON

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(```|$)", re.DOTALL)
_MAX_STARTS = 20
_MAX_REPAIRS = 50
_MAX_DEPTH = 64  # deeper is not LLM output, and keeps the walk linear


def lenient_json(text: str) -> Any:
    """The JSON object/array in an LLM reply: tolerates think blocks, fences, junk, truncation.

    Raises ValueError (and nothing else) when no usable JSON is found.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected text, got {type(text).__name__}")
    text = _THINK.sub("", text)
    fenced = [m.group(1) for m in _FENCE.finditer(text)]
    candidates = [*fenced, text] if fenced else [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        starts = [i for i, ch in enumerate(candidate) if ch in "{["][:_MAX_STARTS]
        for start in starts:
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except (ValueError, RecursionError):
                # an outer value cut off by max_tokens beats a whole inner one
                repaired = _repair(candidate[start:])
                if repaired is not None:
                    return repaired[0]
                continue
            return value
    raise ValueError("no JSON object found in the LLM output")


def _closers(stack: Sequence[str]) -> str:
    return "".join("}" if c == "{" else "]" for c in reversed(stack))


def _cuttable(stack: Sequence[str]) -> bool:
    """A partial object inside an array is a dangling item: never keep one."""
    return all(not (c == "{" and i > 0 and stack[i - 1] == "[") for i, c in enumerate(stack))


def _repair(text: str) -> tuple[Any] | None:
    """Close a JSON text cut off at its end, at the last point where what came before is whole.

    Returns None unless the text is such a truncation. Walks the text once, remembering cut
    points (after a complete value or an opening bracket) whose open containers hold no partial
    array item; then tries the latest ones.
    """
    stack: list[str] = []
    expect_key: list[bool] = []  # per open container: is the next string an object key?
    cuts: deque[tuple[int, str]] = deque(maxlen=_MAX_REPAIRS)  # (end index, closing brackets)
    in_string = escape = False
    string_is_key = False
    string_start = 0
    scalar_start: int | None = None

    def value_done(end: int) -> None:
        if stack and _cuttable(stack):
            cuts.append((end, _closers(stack)))

    for i, ch in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
                if not string_is_key:
                    value_done(i + 1)
            continue
        if scalar_start is not None and (ch in ",]}:" or ch.isspace()):
            scalar_start = None
            value_done(i)
        if ch == '"':
            in_string = True
            string_start = i
            string_is_key = bool(stack) and stack[-1] == "{" and expect_key[-1]
        elif ch in "{[":
            stack.append(ch)
            expect_key.append(ch == "{")
            if len(stack) > _MAX_DEPTH:
                return None
            if len(stack) > 1:  # an empty root is nothing usable
                value_done(i + 1)
        elif ch in "}]":
            if not stack or stack[-1] != ("{" if ch == "}" else "["):
                return None  # not JSON
            stack.pop()
            expect_key.pop()
            if not stack:
                return None  # whole but unparseable: not a truncation we can mend
            value_done(i + 1)
        elif ch == ":":
            if expect_key:
                expect_key[-1] = False
        elif ch == ",":
            if stack and stack[-1] == "{":
                expect_key[-1] = True
        elif not ch.isspace() and scalar_start is None:
            scalar_start = i

    attempts: list[str] = []
    if in_string and not string_is_key and stack and stack[-1] == "{" and _cuttable(stack):
        body = re.sub(r"\\(u[0-9a-fA-F]{0,3})?$", "", text[string_start:])
        attempts.append(text[:string_start] + body + '"' + _closers(stack))
    for end, closers in reversed(cuts):
        attempts.append(text[:end].rstrip().rstrip(",") + closers)
    for attempt in attempts:
        try:
            return (json.loads(attempt),)
        except (ValueError, RecursionError):
            continue
    return None
