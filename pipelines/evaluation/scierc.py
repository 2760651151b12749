"""SciERC: run kg's extractor with the SciERC ontology and score it against the gold spans.

Scoring follows /work/shared/eval/README.md: micro P/R/F1 pooled over documents, entities by
exact ``(doc, start, end, type)``, relations by both argument spans and the label ("Rel"), plus
both entity types ("Rel+"), and a looser surface-text variant. Symmetric relation types
(COMPARE, CONJUNCTION) match in either direction.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kg.errors import BadInput, NotFound
from kg.ontology import Ontology, load_ontology

SYMMETRIC_LABELS = frozenset({"COMPARE", "CONJUNCTION"})
CHUNK_SIZE = 4000  # abstracts are ~1 KB: one chunk (and one LLM call) per document


TIERS = ("trained", "trained+llm", "spacy")
ABSTRACT = "a scientific abstract"  # every document's title in the LLM tier's prompt


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text.lower())


def prf(pred: set[Any], gold: set[Any]) -> dict[str, float]:
    tp = len(pred & gold)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(100 * p, 2), "r": round(100 * r, 2), "f1": round(100 * f, 2),
            "tp": tp, "pred": len(pred), "gold": len(gold)}  # fmt: skip


def _rel_key(doc: str, h: tuple[int, int], t: tuple[int, int], label: str) -> tuple[Any, ...]:
    if label in SYMMETRIC_LABELS and t < h:
        h, t = t, h
    return (doc, *h, *t, label)


def gold_sets(rows: Iterable[dict[str, Any]]) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = {k: set() for k in ("ent", "rel", "relp", "ent_s", "rel_s")}
    for row in rows:
        doc = row["id"]
        for e in row["entities"]:
            out["ent"].add((doc, e["start"], e["end"], e["type"]))
            out["ent_s"].add((doc, _norm(e["text"]), e["type"]))
        for r in row["relations"]:
            h, t, label = (
                (r["head_start"], r["head_end"]),
                (r["tail_start"], r["tail_end"]),
                r["relation"],
            )
            key = _rel_key(doc, h, t, label)
            out["rel"].add(key)
            types = (r["head_type"], r["tail_type"])
            if label in SYMMETRIC_LABELS and key[1:3] != h:
                types = types[::-1]
            out["relp"].add((*key, *types))
            hs, ts = _norm(r["head"]), _norm(r["tail"])
            if label in SYMMETRIC_LABELS and ts < hs:
                hs, ts = ts, hs
            out["rel_s"].add((doc, hs, label, ts))
    return out


def predicted_sets(doc_id: str, text: str, result: Any, ontology: Ontology) -> dict[str, set[Any]]:
    """Prediction tuples of one document from a ``ChunkResult`` (spans are offsets in ``text``)."""
    out: dict[str, set[Any]] = {k: set() for k in ("ent", "rel", "relp", "ent_s", "rel_s")}
    label_of = {t.name: t.label or t.name for t in ontology.entity_types}
    rel_label = {t.name: t.label or t.name for t in ontology.relation_types}
    types = {e.id: label_of.get(e.type, e.type) for e in result.entities}
    for e in result.entities:
        for m in e.mentions:
            out["ent"].add((doc_id, m.start, m.end, types[e.id]))
            out["ent_s"].add((doc_id, _norm(m.text), types[e.id]))
    for rs in result.relations:
        r = rs.relation
        label = rel_label.get(r.type, r.type)
        key = _rel_key(doc_id, rs.head_span, rs.tail_span, label)
        out["rel"].add(key)
        ht, tt = types.get(r.head_id, ""), types.get(r.tail_id, "")
        if key[1:3] != rs.head_span:
            ht, tt = tt, ht
        out["relp"].add((*key, ht, tt))
        hs, ts = _norm(text[slice(*rs.head_span)]), _norm(text[slice(*rs.tail_span)])
        if label in SYMMETRIC_LABELS and ts < hs:
            hs, ts = ts, hs
        out["rel_s"].add((doc_id, hs, label, ts))
    return out


def evaluate_scierc(
    path: Path,
    limit: int | None = None,
    spacy_only: bool = False,
    chat: Any = None,
    *,
    progress: bool = False,
    cache_dir: Path | None = None,
    tier: str | None = None,
) -> dict[str, Any]:
    """Micro P/R/F1 of kg's extractor on a SciERC JSONL file (e.g. dev.jsonl).

    ``tier``: "trained" (the shipped joint model, the default), "trained+llm" (the trained model
    refined by ``kg extract``'s own LLM tier) or "spacy" (rules over spaCy's parse); passing
    ``chat`` means "trained+llm", ``spacy_only`` "spacy".

    LLM answers are cached under ``cache_dir`` (default ``<kg cache>/eval-llm``), so a repeated
    evaluation costs no calls.
    """
    t0 = time.perf_counter()
    if tier is None:
        tier = "spacy" if spacy_only else "trained+llm" if chat is not None else "trained"
    if tier not in TIERS:
        raise BadInput(f"unknown tier {tier!r} ({', '.join(TIERS)})")
    rows = _read(Path(path), limit)
    ontology = load_ontology("scierc")
    if tier == "trained":
        return _evaluate_trained(rows, ontology, t0)
    if tier == "trained+llm":
        return _evaluate_verified(rows, ontology, t0, chat, cache_dir, progress)
    return _evaluate_spacy(rows, ontology, t0, progress)


def _evaluate_spacy(
    rows: list[dict[str, Any]], ontology: Ontology, t0: float, progress: bool
) -> dict[str, Any]:
    """spaCy's parse and the dependency rules alone (no trained model, no LLM)."""
    from kg.chunking import chunk_document
    from kg.models import Document
    from pipelines.extraction.candidates import MentionFinder
    from pipelines.extraction.dependency import extract_chunk_spacy

    finder = MentionFinder(ontology)
    pred: dict[str, set[Any]] = {k: set() for k in ("ent", "rel", "relp", "ent_s", "rel_s")}
    for n, row in enumerate(rows, 1):
        doc = Document.from_text(row["id"], row["text"])
        chunks = chunk_document(doc, CHUNK_SIZE, 200)
        for chunk, spacy_doc, cands in finder.analyse(chunks):
            result = extract_chunk_spacy(chunk, spacy_doc, cands, ontology)
            for key, values in predicted_sets(row["id"], row["text"], result, ontology).items():
                pred[key] |= values
        if progress:
            print(f"  scierc {n}/{len(rows)} docs", flush=True)
    return _scores(rows, pred, "spacy-only", t0)


def _evaluate_verified(
    rows: list[dict[str, Any]],
    ontology: Ontology,
    t0: float,
    chat: Any,
    cache_dir: Path | None,
    progress: bool,
) -> dict[str, Any]:
    """The trained tier, then ``kg extract``'s LLM tier (``refine.LLMTierRun``: plan, replay the
    cached answers, ask the rest, apply) over the abstracts, each one chunk."""
    from kg.config import Settings, default_cache_dir
    from kg.llm_cache import LLMCache
    from kg.models import Chunk, Document, LLMUsage
    from pipelines.extraction.chat import LazyChat
    from pipelines.extraction.refine import LLMTierRun
    from pipelines.extraction.trained import TrainedTier, model_version

    settings = Settings.from_env(ontology="scierc", cache_dir=default_cache_dir(), llm_mode="on")
    cache = LLMCache(cache_dir or Path(settings.cache_dir) / "eval-llm")
    documents = [  # keyed by SciERC's ids, as the trained tier's results are
        Document.from_text(r["id"], r["text"], title=ABSTRACT).model_copy(update={"id": r["id"]})
        for r in rows
    ]
    chunks = [Chunk.make(doc.id, 0, 0, doc.text) for doc in documents]
    results = TrainedTier(ontology, pretokenized=True).extract(chunks)
    llm_tier = LLMTierRun.create(ontology, settings, LazyChat(settings, chat), cache)
    llm_tier.plan(documents, results, [c.id for c in chunks])
    asked = 0

    def tick(_task: Any) -> None:
        nonlocal asked
        asked += 1
        if progress:
            print(f"  scierc LLM tier {asked}/{len(llm_tier.pending)} abstracts", flush=True)

    llm_tier.run(tick=tick)
    llm_tier.apply(results)
    usage = LLMUsage()
    pred: dict[str, set[Any]] = {k: set() for k in ("ent", "rel", "relp", "ent_s", "rel_s")}
    for row, chunk in zip(rows, chunks, strict=True):
        usage.add(results[chunk.id].usage)
        for key, values in predicted_sets(row["id"], row["text"], results[chunk.id],
                                          ontology).items():  # fmt: skip
            pred[key] |= values
    out = _scores(rows, pred, f"trained+llm:{model_version()}+{settings.llm_model}", t0,
                  usage.calls, usage.cached)  # fmt: skip
    out["llm_prompt_tokens"] = usage.prompt_tokens
    out["llm_completion_tokens"] = usage.completion_tokens
    out["llm_coverage"] = llm_tier.coverage().model_dump()
    return out


def _evaluate_trained(rows: list[dict[str, Any]], ontology: Ontology, t0: float) -> dict[str, Any]:
    """The trained tier on SciERC's own tokens (the standard setting for this benchmark)."""
    from kg.models import Chunk
    from pipelines.extraction.trained import TrainedTier, model_version

    tier = TrainedTier(ontology, pretokenized=True)
    chunks = [Chunk.make(row["id"], 0, 0, row["text"]) for row in rows]
    results = tier.extract(chunks)
    pred: dict[str, set[Any]] = {k: set() for k in ("ent", "rel", "relp", "ent_s", "rel_s")}
    for row, chunk in zip(rows, chunks, strict=True):
        found = predicted_sets(row["id"], row["text"], results[chunk.id], ontology)
        for key, values in found.items():
            pred[key] |= values
    return _scores(rows, pred, f"trained:{model_version()}", t0)


def _scores(rows: list[dict[str, Any]], pred: dict[str, set[Any]], name: str, t0: float,
            calls: int = 0, cached: int = 0) -> dict[str, Any]:
    gold = gold_sets(rows)
    scores = {
        "entity": prf(pred["ent"], gold["ent"]),
        "rel": prf(pred["rel"], gold["rel"]),
        "rel_plus": prf(pred["relp"], gold["relp"]),
        "entity_surface": prf(pred["ent_s"], gold["ent_s"]),
        "rel_surface": prf(pred["rel_s"], gold["rel_s"]),
    }
    out: dict[str, Any] = {"docs": len(rows), "extractor": name}
    for key, s in scores.items():
        out.update({f"{key}_p": s["p"], f"{key}_r": s["r"], f"{key}_f1": s["f1"]})
    out["gold_entities"], out["gold_relations"] = len(gold["ent"]), len(gold["rel"])
    out["llm_calls"], out["llm_cached"] = calls, cached
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def _read(path: Path, limit: int | None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise NotFound(f"SciERC file not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows
