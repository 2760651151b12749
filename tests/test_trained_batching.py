"""The trained tier's output does not depend on how sentences are batched (issue 24, item 1).

The encoder quantises activations per row (``pipelines.train.per_row``) and pads every sentence
to a length of its own, so batch-mates cannot change a sentence's numbers: the same documents
at batch sizes 1, 8 and 64 must give byte-identical results.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from kg.models import Chunk
from kg.ontology import load_ontology
from kg.trained import JOINT_MODEL
from kg.trained.joint import JointModel
from pipelines.extraction.analysis import dump_result
from pipelines.extraction.trained import TrainedTier

NOTES = Path(__file__).resolve().parents[1] / "examples" / "notes"


def _chunks() -> list[Chunk]:
    out = []
    for path in sorted(NOTES.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        out.append(Chunk.make(path.stem, 0, 0, text))
    return out


def test_same_documents_at_batch_sizes_1_8_64_give_identical_bytes() -> None:
    ontology = load_ontology("default")
    model = JointModel(JOINT_MODEL, threads=1)
    chunks = _chunks()
    dumps = {}
    for size in (1, 8, 64):
        results = TrainedTier(ontology, model, batch_size=size).extract(chunks)
        dumps[size] = json.dumps([dump_result(results[c.id]) for c in chunks], sort_keys=True)
    assert dumps[1] == dumps[8] == dumps[64]
    assert sum(len(json.loads(dumps[1])[i]["entities"]) for i in range(len(chunks))) > 20


def test_shipped_encoder_quantises_activations_per_row() -> None:
    """A per-tensor ``DynamicQuantizeLinear`` would make batch-mates matter again."""
    graph = onnx.load(str(JOINT_MODEL / "encoder.onnx")).graph
    ops = {n.op_type for n in graph.node}
    assert "DynamicQuantizeLinear" not in ops
    assert "MatMulInteger" in ops
    assert "per-row" in json.loads((JOINT_MODEL / "meta.json").read_text())["activations"]


@pytest.mark.parametrize("padding", ["tokenizer"])
def test_a_sentence_alone_and_among_others_gives_the_same_prediction(padding: str) -> None:
    model = JointModel(JOINT_MODEL, threads=1, padding=padding)
    target = [
        "We",
        "use",
        "a",
        "convolutional",
        "neural",
        "network",
        "for",
        "image",
        "classification",
        ".",
    ]
    others = [
        f"Sentence {i} about k-means clustering of {i} points in PCA space .".split(" ")
        for i in range(15)
    ]
    alone = model.predict([target], batch_size=1)[0]
    mixed = model.predict([*others, target], batch_size=16)[-1]
    assert alone == mixed
    assert alone.entities
