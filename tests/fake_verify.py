"""A fake chat model that answers the LLM tier's compact question (indices only), for plumbing.

It reads the numbered entity and candidate lists in the prompt and answers deterministically:
every odd candidate true, every even one false, and one new relation ``E1 COVERS E2`` when the
prompt lists a course first. Reduce calls get a short combined text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

_PAIR = re.compile(r"^P(\d+) E(\d+) (\w+) E(\d+)$", re.M)
_ENT = re.compile(r"^E(\d+) (.+) \[(\w+)\]$", re.M)


class VerifyChat(BaseChatModel):
    """Deterministic answers in the ``ChunkVerdicts`` format; counts its calls."""

    calls: int = 0
    garbage: bool = False  # answer with text that is not JSON
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-verify"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.calls += 1
        prompt = str(messages[-1].content)
        self.prompts.append(prompt)
        if self.garbage:
            content = "Sorry, I cannot help with that."
        elif "Candidates:" not in prompt:  # a reduce call
            content = "Combined: " + " ".join(prompt.split()[-20:])
        else:
            body = prompt.split("Text:")[0]
            pairs = _PAIR.findall(body)
            ents = _ENT.findall(body)
            verdicts = [bool(int(n) % 2) for n, _h, _t, _e in pairs]
            new = []
            if len(ents) >= 2 and ents[0][2] == "Course":
                new.append({"h": 1, "r": "COVERS", "t": 2})
            text = prompt.split('"""')[1].strip()
            content = json.dumps({"summary": "About " + " ".join(text.split()[:8]),
                                  "verdicts": verdicts, "new": new})
        message = AIMessage(content=content, usage_metadata={
            "input_tokens": len(prompt) // 4, "output_tokens": len(content) // 4,
            "total_tokens": (len(prompt) + len(content)) // 4})
        return ChatResult(generations=[ChatGeneration(message=message)])
