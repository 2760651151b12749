"""Question answering over the current workspace: retrieval doc recall@5 and answer accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class QAItem(BaseModel):
    question: str
    answer_contains: list[str] = Field(default_factory=list)
    gold_docs: list[str] = Field(default_factory=list)  # file names (or suffixes of paths)


def load_qa(path: Path) -> list[QAItem]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(QAItem.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a QA item: {exc}") from exc
    if not items:
        raise ValueError(f"{path} holds no questions")
    return items


def _matches(path: str, gold: str) -> bool:
    return Path(path).name == Path(gold).name or path.endswith(gold)


def evaluate_qa(kg: Any, path: Path, mode: str = "hybrid", k: int = 5) -> dict[str, Any]:
    """`kg` is a kg.service.KG; answers come from it exactly as `kg ask` gives them."""
    items = load_qa(path)
    recalls: list[float] = []
    correct = 0
    per_question = []
    for item in items:
        hits = kg.search(item.question, mode=mode, k=k)
        found = {g for g in item.gold_docs if any(_matches(h.path, g) for h in hits)}
        recall = len(found) / len(item.gold_docs) if item.gold_docs else 1.0
        recalls.append(recall)
        answer = kg.ask(item.question, mode=mode, k=k)
        text = answer.answer.lower()
        ok = all(s.lower() in text for s in item.answer_contains)
        correct += ok
        per_question.append(
            {
                "question": item.question,
                "doc_recall@5": recall,
                "answer_ok": ok,
                "answer": answer.answer[:300],
            }
        )
    return {
        "questions": len(items),
        "mode": mode,
        "doc_recall@5": sum(recalls) / len(recalls),
        "answer_accuracy": correct / len(items),
        "details": per_question,
    }


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
