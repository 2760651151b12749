"""SciERC scoring: span/label matching, symmetric relations, and real runs of the extractor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.evaluation.scierc import evaluate_scierc, gold_sets, prf

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "scierc" / "dev.jsonl"
TEXT = "We apply a CRF model to named entity recognition , and compare CRF model with HMM ."


def span(s: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(s, start + 1)
    return start, start + len(s)


def gold_row() -> dict:
    crf, ner, hmm = span("CRF model"), span("named entity recognition"), span("HMM")
    crf2 = span("CRF model", 1)
    ents = [
        {"text": "CRF model", "type": "Method", "start": crf[0], "end": crf[1]},
        {"text": "named entity recognition", "type": "Task", "start": ner[0], "end": ner[1]},
        {"text": "CRF model", "type": "Method", "start": crf2[0], "end": crf2[1]},
        {"text": "HMM", "type": "Method", "start": hmm[0], "end": hmm[1]},
    ]
    rels = [
        {"head": "CRF model", "head_type": "Method", "relation": "USED-FOR",
         "tail": "named entity recognition", "tail_type": "Task", "head_start": crf[0],
         "head_end": crf[1], "tail_start": ner[0], "tail_end": ner[1]},
        {"head": "HMM", "head_type": "Method", "relation": "COMPARE", "tail": "CRF model",
         "tail_type": "Method", "head_start": hmm[0], "head_end": hmm[1],
         "tail_start": crf2[0], "tail_end": crf2[1]},
    ]
    return {"id": "doc1", "text": TEXT, "entities": ents, "relations": rels}


def test_prf() -> None:
    assert prf({1, 2, 3, 4}, {3, 4, 5, 6}) == {
        "p": 50.0, "r": 50.0, "f1": 50.0, "tp": 2, "pred": 4, "gold": 4}
    assert prf(set(), {1})["f1"] == 0.0


def test_gold_sets_make_symmetric_relations_direction_free() -> None:
    g = gold_sets([gold_row()])
    assert len(g["ent"]) == 4 and len(g["ent_s"]) == 3  # surface collapses the repeated name
    hmm, crf2 = span("HMM"), span("CRF model", 1)
    assert ("doc1", *crf2, *hmm, "COMPARE") in g["rel"]  # sorted, whatever the annotation
    assert ("doc1", "crfmodel", "COMPARE", "hmm") in g["rel_s"]


LONG = (TEXT + " The CRF model is trained on the CoNLL corpus , and its F1 score on the test "
        "data is compared with the HMM baseline and a maximum entropy tagger .")


def test_trained_llm_drives_kg_extracts_llm_tier(tmp_path: Path, monkeypatch) -> None:
    """--tier trained+llm runs refine.LLMTierRun (plan, ask, checkpoint, apply), as kg extract."""
    from pipelines.extraction import refine
    from tests.fake_verify import VerifyChat

    runs: list[int] = []
    real_run = refine.LLMTierRun.run

    def spy(self, tick=None):  # type: ignore[no-untyped-def]
        runs.append(len(self.pending))
        return real_run(self, tick)

    monkeypatch.setattr(refine.LLMTierRun, "run", spy)
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({**gold_row(), "text": LONG}) + "\n", encoding="utf-8")
    chat = VerifyChat()
    out = evaluate_scierc(path, None, chat=chat, cache_dir=tmp_path / "cache")
    assert out["extractor"].startswith("trained+llm:")
    assert runs == [1] and chat.calls == 1 and out["llm_calls"] == 1
    assert out["llm_coverage"]["done"] == out["llm_coverage"]["needed"] == 1
    trained = evaluate_scierc(path, None, tier="trained")
    assert out["entity_f1"] == trained["entity_f1"]  # the tier verifies pairs, not spans
    again = evaluate_scierc(path, None, chat=VerifyChat(garbage=True), cache_dir=tmp_path / "cache")
    assert runs == [1, 0] and again["llm_calls"] == 0 and again["llm_cached"] == 1
    assert again["rel_f1"] == out["rel_f1"]


def test_the_llm_alone_tier_is_gone(tmp_path: Path) -> None:
    from kg.errors import BadInput

    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(gold_row()) + "\n", encoding="utf-8")
    with pytest.raises(BadInput, match="unknown tier"):
        evaluate_scierc(path, None, tier="llm")


@pytest.mark.skipif(not DEV.is_file(), reason="SciERC dev set not available")
def test_spacy_only_on_real_dev_docs() -> None:
    out = evaluate_scierc(DEV, 5, spacy_only=True)
    assert out["docs"] == 5
    assert out["gold_entities"] > 0
    assert out["entity_f1"] > 0  # spaCy noun chunks hit some gold spans exactly
    assert out["llm_calls"] == 0
