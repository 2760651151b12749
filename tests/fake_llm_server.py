"""A deterministic OpenAI-compatible chat server for tests that run kg as a subprocess.

It answers /v1/chat/completions with JSON built only from the request (capitalised words of the
last user message become entities), so two runs over the same corpus get identical answers.
It counts requests, which lets tests check that finished work is not redone.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"\b[A-Z][a-zA-Z]{3,}\b")


def _content(request: dict[str, Any]) -> str:
    messages = request.get("messages") or [{}]
    user = next((m for m in reversed(messages) if m.get("role") == "user"), messages[-1])
    text = user.get("content") or ""
    if isinstance(text, list):
        text = " ".join(part.get("text", "") for part in text if isinstance(part, dict))
    names = list(dict.fromkeys(_WORD.findall(text)))[:5]
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    props = schema.get("properties") or {}
    if "c" in props and "p" in props:  # the answer's choice: candidate 1 in passage 1
        first = re.search(r"^1\. (.+?)(?: \(\w+\))?(?: \[\d+\])?$", text, re.M)
        reply: dict[str, Any] = {"c": 1, "p": 1}
        if "s" in props:
            reply["s"] = f"The answer is {first.group(1) if first else 'unknown'}."
        return json.dumps(reply)
    verdicts = props.get("verdicts")
    if verdicts is not None:  # the LLM tier's compact question: every candidate pair holds
        return json.dumps({"summary": " ".join(text.split("Text:")[-1].split()[:20]),
                           "new": [], "verdicts": [True] * int(verdicts.get("minItems") or 0)})
    if request.get("response_format"):
        return json.dumps(
            {
                "summary": " ".join(text.split()[:30]),
                "entities": [{"name": n, "type": "Concept", "description": ""} for n in names],
                "relations": [],
                "cypher": "MATCH (e:Entity) RETURN e.name AS name LIMIT 5",
            }
        )
    return "Summary: " + " ".join(text.split()[:40])


class FakeLLM:
    def __init__(
        self,
        on_request: Callable[[int], None] | None = None,
        port: int = 0,
        delay_s: float = 0.0,  # each chat answer takes this long (a slow or stuck server)
    ) -> None:
        self.requests = 0
        self.last_request: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.on_request = on_request
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, n: int, request: dict[str, Any], content: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                half = len(content) // 2
                for piece in (content[:half], content[half:], None):
                    chunk: dict[str, Any] = {
                        "id": f"fake-{n}", "object": "chat.completion.chunk", "created": 0,
                        "model": request.get("model", "fake"),
                        "choices": [{"index": 0,
                                     "delta": {"role": "assistant", "content": piece or ""},
                                     "finish_reason": "stop" if piece is None else None}],
                    }  # fmt: skip
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                usage = {"id": f"fake-{n}", "object": "chat.completion.chunk", "created": 0,
                         "model": request.get("model", "fake"), "choices": [],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                   "total_tokens": 15}}  # fmt: skip
                self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def do_GET(self) -> None:
                self._send(200, {"data": [{"id": "fake", "object": "model"}], "status": "ok"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests += 1
                    n = outer.requests
                if outer.on_request:
                    outer.on_request(n)
                if delay_s:
                    time.sleep(delay_s)
                outer.last_request = request
                content = _content(request)
                if request.get("stream"):  # server-sent events: the content in two pieces
                    self._stream(n, request, content)
                    return
                self._send(
                    200,
                    {
                        "id": f"fake-{n}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": request.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
