"""The LLM tier's chat model, built on first use: a fully cached run never starts the server."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kg.config import Settings

# the chat's default output cap: the reduce summaries use it; verify calls ask for their own 160
MAX_OUTPUT_TOKENS = 900


class LazyChat:
    """Builds the chat model (and starts the offline server) only on the first cache miss."""

    def __init__(self, settings: Settings, chat: Any = None) -> None:
        self.settings = settings
        self._chat = chat
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._chat is None:
                from kg.llm.client import chat_model

                self._chat = chat_model(self.settings, max_tokens=MAX_OUTPUT_TOKENS)
            return self._chat
