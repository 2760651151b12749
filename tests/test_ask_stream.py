"""/v1/ask/stream while the model is slow: the sources first, keep-alives, then the tokens.

The facade is the real ``KG.stream_ask`` with retrieval stubbed out and a fake chat model that
sleeps before its first token (as the offline model does on a busy machine).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

import app.api as api
from app.service import KG
from kg.config import Settings
from kg.models import SearchHit

HIT = SearchHit(
    chunk_id="chk_1", doc_id="doc_1", path="notes/pca.md", start=0, end=27,
    text="PCA reduces the dimensions.", score=1.0, scores={"bm25": 1.0},
)  # fmt: skip


class SlowChat:
    """A chat model that thinks for ``delay`` seconds, then writes a few tokens."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.first_token_at = 0.0

    def stream(self, messages: Any, **_: Any) -> Iterator[SimpleNamespace]:
        time.sleep(self.delay)
        self.first_token_at = time.monotonic()
        time.sleep(self.delay)  # the choice's indices, then (slowly) the sentence
        for token in ('{"c": 1, ', '"p": 1, ', '"s": "PCA reduces the dimensions."}'):
            yield SimpleNamespace(content=token, usage_metadata=None)
            time.sleep(self.delay / 3)


class SlowKG(KG):
    def __init__(self, tmp: Path, chat: SlowChat) -> None:
        super().__init__(Settings(workspace=tmp / ".kg"), use_llm=True)
        self.slow = chat

    def _context(self, question: str, mode: str, k: int) -> Any:
        return [HIT], [], None, []

    @property
    def chat(self) -> Any:
        return self.slow


def _events(body: str) -> list[tuple[str, str]]:
    """(event name or ':' for a comment, data) in order."""
    out = []
    for block in body.strip().split("\n\n"):
        if block.startswith(":"):
            out.append((":", block))
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], lines["data"]))
    return out


def test_sources_first_then_keepalives_then_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "KEEPALIVE_S", 0.2)
    chat = SlowChat(delay=1.5)
    client = TestClient(api.create_app(SlowKG(tmp_path, chat), mount_ui=False))
    with client.stream("POST", "/v1/ask/stream", json={"question": "What does PCA do?"}) as r:
        assert r.status_code == 200
        arrivals = []
        for chunk in r.iter_text():
            arrivals.append((time.monotonic(), chunk))
    events = _events("".join(c for _, c in arrivals))
    names = [name for name, _ in events]
    assert names[0] == "retrieval"
    sources = json.loads(events[0][1])["sources"]
    assert [s["chunk_id"] for s in sources] == ["chk_1"] and sources[0]["path"] == "notes/pca.md"
    first_delta = names.index("delta")
    assert names[1:first_delta].count(":") >= 3  # kept alive while the model thought
    assert names[-1] == "answer" and names.count("delta") == 1  # the choice, once made
    assert json.loads(events[first_delta][1])["text"] == "dimensions"
    final = json.loads(events[-1][1])
    assert final["selected_by"] == "llm-choice+sentence" and final["candidate"] == "dimensions"
    first_arrival = next(t for t, c in arrivals if "event: retrieval" in c)
    assert first_arrival < chat.first_token_at  # sent before the model said anything


def test_keepalive_interval_is_at_most_15_seconds() -> None:
    assert 0 < api.KEEPALIVE_S <= 15
