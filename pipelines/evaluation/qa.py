"""Question answering over the current workspace, as `kg ask` answers, per answer path.

Per question: doc recall@k and chunk recall@k (each gold evidence string inside a retrieved
chunk); then per answer path (``candidates``: the ranking, no LLM; ``choice``: the LLM picks a
candidate; ``sentence``: it also writes a sentence) whether the answer contains every expected
string, citation precision (the share of cited spans that contain an expected string), the
wall time and a quiet-machine estimate from the LLM's token counts. LLM answers are cached
under the workspace, keyed by the question, the path, the workspace's manifest, the model and
the source of kg.answer, so a re-run of an unchanged setup costs no LLM time (the cached answer
keeps the latency measured when it was made).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from kg.errors import GoldFileError
from kg.models import Answer
from kg.text import squash_space

ASK_K = 6  # the chunks `kg ask` retrieves by default
# the offline 1.5B model on a quiet 2-core machine (the rates issue 14 gives): reading and writing
# tokens/s, for a latency estimate from token counts when the shared machine is busy
QUIET_READ_TPS = 90.0
QUIET_WRITE_TPS = 30.0
ANSWER_PACKAGE = "answer"  # kg/answer/*.py: their source keys the answer cache
LLM_PATHS = ("choice", "sentence")


class QAItem(BaseModel):
    question: str
    answer_contains: list[str] = Field(default_factory=list)
    gold_docs: list[str] = Field(default_factory=list)  # file names (or suffixes of paths)
    evidence: list[str] = Field(default_factory=list)  # quoted verbatim from the gold docs
    hops: int = 1  # facts the answer needs (2: two facts, often in two places)


def load_qa(path: Path) -> list[QAItem]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(QAItem.model_validate_json(line))
            except ValueError as exc:
                raise GoldFileError(f"{path}:{n}: not a QA item: {exc}") from exc
    if not items:
        raise GoldFileError(f"{path} holds no questions")
    return items


def _matches(path: str, gold: str) -> bool:
    return Path(path).name == Path(gold).name or path.endswith(gold)


def contains(text: str, wanted: str) -> bool:
    """Case- and whitespace-insensitive containment."""
    return squash_space(wanted) in squash_space(text)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def evaluate_qa(
    kg: Any,
    path: Path,
    mode: str = "hybrid",
    k: int = 5,
    use_cache: bool = True,
    budget_s: float | None = None,
    paths: tuple[str, ...] | None = None,
    llm_limit: int | None = None,
) -> dict[str, Any]:
    """`kg` is a app.service.KG; answers come from it exactly as `kg ask --path P` gives them.

    ``paths`` defaults to all three with the LLM on, ``candidates`` without. LLM paths answer
    the first ``llm_limit`` questions (all by default); with ``budget_s``, once that much time
    has gone they use cached answers only and leave the rest out (``skipped_for_time``), so a
    busy machine still gets a report and the next run resumes from the cache. Each LLM path's
    summary also gives the candidates path's accuracy on the same questions."""
    items = load_qa(path)
    paths = paths or (("candidates", *LLM_PATHS) if kg.use_llm else ("candidates",))
    docs = {d.id: d.text for d in kg.workspace.iter("documents")}
    caches = {p: _AnswerCache(kg, mode, p) for p in paths if p in LLM_PATHS and use_cache}
    warm = getattr(kg, "warm", None)
    if callable(warm):  # models and indexes load once per process, not in the first answer
        warm()
    started = time.perf_counter()
    rows: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
    retrieval: list[dict[str, Any]] = []
    skipped = {p: 0 for p in paths}
    for n, item in enumerate(items):
        hits = kg.search(item.question, mode=mode, k=k)
        found = {g for g in item.gold_docs if any(_matches(h.path, g) for h in hits)}
        evidence = [e for e in item.evidence if any(contains(h.text, e) for h in hits)]
        retrieval.append({
            f"doc_recall@{k}": len(found) / len(item.gold_docs) if item.gold_docs else 1.0,
            f"chunk_recall@{k}": len(evidence) / len(item.evidence) if item.evidence else None,
        })  # fmt: skip
        for p in paths:
            cache = caches.get(p)
            if p in LLM_PATHS:
                late = budget_s is not None and time.perf_counter() - started > budget_s
                over = llm_limit is not None and n >= llm_limit
                if (late or over) and (cache is None or cache.get(item.question) is None):
                    skipped[p] += 1
                    continue
            answer, seconds, cached = _ask(kg, item.question, mode, p, cache)
            rows[p].append(_row(item, answer, seconds, cached, docs, n, retrieval[-1]))
    result: dict[str, Any] = {"questions": len(items), "mode": mode, "llm": bool(kg.use_llm)}
    base = {r["index"]: r for r in rows.get("candidates", [])}
    result["paths"] = {}
    for p in paths:
        summary = summarize(rows[p], mode, k, llm=p in LLM_PATHS)
        summary["skipped_for_time"] = skipped[p]
        same = [base[r["index"]] for r in rows[p] if r["index"] in base]
        summary["candidates_accuracy_same_questions"] = (
            sum(r["answer_ok"] for r in same) / len(same) if same else None
        )
        result["paths"][p] = summary
    default = paths[-1]
    result.update({key: v for key, v in result["paths"][default].items() if key != "details"})
    result["details"] = result["paths"][default]["details"]
    result["path"] = default
    result["skipped_for_time"] = skipped[default]
    return result


def _row(item: QAItem, answer: Answer, seconds: float, cached: bool, docs: dict[str, str],
         index: int, retrieval: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    spans = [docs.get(c.doc_id, "")[c.start : c.end] or c.snippet for c in answer.citations]
    good = [s for s in spans if any(contains(s, a) for a in item.answer_contains)]
    return {
        "index": index,
        "question": item.question,
        "hops": item.hops,
        **retrieval,
        "answer_ok": all(contains(answer.answer, s) for s in item.answer_contains),
        "citation_precision": len(good) / len(spans) if spans else None,
        "cited_by": [c.selected_by for c in answer.citations],
        "selected_by": answer.selected_by,
        "seconds": round(seconds, 3),
        "first_token_s": answer.timings.get("choice_s") or answer.timings.get("first_token_s"),
        "prompt_tokens": answer.timings.get("prompt_tokens"),
        "completion_tokens": answer.timings.get("completion_tokens"),
        "retrieval_s": answer.timings.get("retrieval_s", 0.0),
        "local_s": max(0.0, seconds - float(answer.timings.get("llm_s") or 0.0)),
        "cached": cached,
        "answer": answer.answer[:300],
        "warnings": answer.warnings,
    }


def summarize(rows: list[dict[str, Any]], mode: str, k: int, llm: bool) -> dict[str, Any]:
    def mean(key: str, subset: list[dict[str, Any]] | None = None) -> float:
        vals = [float(r[key]) for r in (subset if subset is not None else rows)
                if r[key] is not None]  # fmt: skip
        return sum(vals) / len(vals) if vals else 0.0

    seconds = [r["seconds"] for r in rows]
    first = [float(r["first_token_s"]) for r in rows if r["first_token_s"]]
    quiet = [_quiet_s(r) if r["prompt_tokens"] else r["seconds"] for r in rows]
    quiet_first = [_quiet_first_s(r) for r in rows if r["prompt_tokens"]]
    two = [r for r in rows if r["hops"] > 1]
    return {
        "questions": len(rows),
        "mode": mode,
        "llm": llm,
        f"doc_recall@{k}": mean(f"doc_recall@{k}"),
        f"chunk_recall@{k}": mean(f"chunk_recall@{k}"),
        "answer_accuracy": mean("answer_ok"),
        "answer_accuracy_two_facts": mean("answer_ok", two),
        "two_fact_questions": len(two),
        "citation_precision": mean("citation_precision"),
        "cited_questions": sum(r["citation_precision"] is not None for r in rows),
        "latency_p50_s": percentile(seconds, 50),
        "latency_p95_s": percentile(seconds, 95),
        "first_token_p50_s": percentile(first, 50),
        "first_token_p95_s": percentile(first, 95),
        "prompt_tokens_p50": percentile([float(r["prompt_tokens"] or 0) for r in rows], 50),
        "completion_tokens_p50": percentile([float(r["completion_tokens"] or 0) for r in rows], 50),
        "quiet_estimate_p50_s": percentile(quiet, 50),
        "quiet_estimate_p95_s": percentile(quiet, 95),
        "quiet_first_token_p95_s": percentile(quiet_first, 95),
        "cached_answers": sum(bool(r["cached"]) for r in rows),
        "details": rows,
    }


def _quiet_first_s(row: dict[str, Any]) -> float:
    """The work before the LLM (retrieval, candidates) plus reading the prompt at the quiet
    2-core rate."""
    local = float(row.get("local_s", row["retrieval_s"]) or 0.0)
    return local + float(row["prompt_tokens"] or 0) / QUIET_READ_TPS


def _quiet_s(row: dict[str, Any]) -> float:
    """The answer's time on a quiet 2-core machine, from its token counts."""
    return _quiet_first_s(row) + float(row["completion_tokens"] or 0) / QUIET_WRITE_TPS


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)


# ---------------------------------------------------------------- internals


def _ask(
    kg: Any, question: str, mode: str, path: str, cache: _AnswerCache | None
) -> tuple[Answer, float, bool]:
    if cache is not None:
        hit = cache.get(question)
        if hit is not None:
            return hit[0], hit[1], True
    started = time.perf_counter()
    answer = kg.ask(question, mode=mode, k=ASK_K, path=path)
    seconds = time.perf_counter() - started
    if cache is not None and not any("unavailable" in w for w in answer.warnings):
        cache.put(question, answer, seconds)
    return answer, seconds, False


class _AnswerCache:
    """Answers by question under ``<workspace>/cache/llm``, keyed as the module doc says."""

    def __init__(self, kg: Any, mode: str, path: str) -> None:
        import kg as kg_package
        from kg.llm_cache import LLMCache, cache_key

        here = Path(kg_package.__file__).resolve().parent / ANSWER_PACKAGE
        source = hashlib.sha256(b"".join(f.read_bytes() for f in sorted(here.glob("*.py"))))
        manifest = kg.workspace.manifest().model_dump_json(exclude={"created_at", "seconds"})
        self._cache = LLMCache.for_workspace(kg.workspace.root)
        self._base = cache_key(
            "qa-answer", mode, path, kg.settings.llm_model, source.hexdigest(), manifest
        )
        self._key = cache_key

    def get(self, question: str) -> tuple[Answer, float] | None:
        value = self._cache.get(self._key(self._base, question))
        if not isinstance(value, dict):
            return None
        return Answer.model_validate(value["answer"]), float(value["seconds"])

    def put(self, question: str, answer: Answer, seconds: float) -> None:
        value = {"answer": answer.model_dump(mode="json"), "seconds": seconds}
        self._cache.put(self._key(self._base, question), value)
