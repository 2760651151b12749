"""`kg train`: rebuild every shipped model from its config, reproducibly, on a CPU.

A config (``pipelines/train/configs/*.cfg``, spaCy's config format) names the data, the encoder and
the hyper-parameters. Training keeps the epoch with the best dev score, exports the encoder to ONNX
(int8), the heads to ``heads.npz``, and writes ``meta.json`` with the config hash, the training
data hash, the kg version and the dev scores measured through the exported (run-time) model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_DIR = Path(__file__).parent / "configs"


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def config_hash(path: Path) -> str:
    """The hash a shipped model records; tests compare it with the config in the repo.

    It hashes the parsed values, not the bytes, so editing a comment does not orphan a model.
    """
    canonical = json.dumps(load_config(path), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    from confection import Config

    cfg = Config().from_disk(path, overrides=overrides or {})
    return dict(cfg.interpolate())


def score(sentences: Sequence[Any], preds: Sequence[Any]) -> dict[str, float]:
    """Micro entity and Rel F1, keyed and scored as `kg eval scierc` does (one implementation)."""
    from pipelines.evaluation.scierc import _rel_key, prf

    gold_e, pred_e, gold_r, pred_r = set(), set(), set(), set()
    for s, p in zip(sentences, preds, strict=True):
        span = [(s.starts[i], s.ends[j]) for i, j, _ in s.entities]
        for (_, _, t), sp in zip(s.entities, span, strict=True):
            gold_e.add((s.doc_id, *sp, t))
        for h, t, r in s.relations:
            gold_r.add(_rel_key(s.doc_id, span[h], span[t], r))
        pspan = [(s.starts[i], s.ends[j]) for i, j, _, _ in p.entities]
        for (_, _, t, _), sp in zip(p.entities, pspan, strict=True):
            pred_e.add((s.doc_id, *sp, t))
        for h, t, r, _ in p.relations:
            pred_r.add(_rel_key(s.doc_id, pspan[h], pspan[t], r))
    return {"ent_f1": prf(pred_e, gold_e)["f1"], "rel_f1": prf(pred_r, gold_r)["f1"]}


def torch_dev_eval(tokenizer: Any, dev: Sequence[Any], max_pieces: int) -> Callable:
    """Score dev with the torch encoder and the numpy decoder of the shipped model."""
    import torch

    from kg.trained.joint import Heads, first_pieces

    def run(encoder: Any, heads: Any) -> dict[str, float]:
        np_heads = Heads(
            {k: v.detach().numpy() for k, v in heads.state_dict().items()}, heads.cfg.max_width
        )
        order = sorted(range(len(dev)), key=lambda i: len(dev[i].words))
        out: dict[int, Any] = {}
        for k in range(0, len(order), 32):
            idx = order[k : k + 32]
            ids, mask, first = first_pieces(
                tokenizer, [dev[i].encoder_words for i in idx], max_pieces
            )
            words = encoder(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(first))
            for b, i in enumerate(idx):
                out[i] = np_heads.decode(words[b, : len(dev[i].words)].numpy())
        preds = [out[i] for i in range(len(dev))]
        return score(dev, preds)

    return run


def export(encoder: Any, heads: Any, folder: Path, quantize: bool) -> None:
    """Encoder -> ONNX (dynamic batch and length; int8 weights), heads -> npz."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)

    class Wrapped(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = Wrapped(encoder.bert).eval()
    ids = torch.ones((2, 12), dtype=torch.long)
    raw = folder / "encoder.fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, torch.ones_like(ids)), str(raw),
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"},
                          "last_hidden_state": {0: "b", 1: "t"}},
            opset_version=17, dynamo=False,
        )  # fmt: skip
    target = folder / "encoder.onnx"
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(raw), str(target), weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        )  # fmt: skip
        from pipelines.train.per_row import per_row_quantize

        per_row_quantize(target, target)  # batch-independent activations
        # the fp32 export stays beside the model (git-ignored, ~90 MB) for re-quantising
        raw.replace(folder.parent / f"{folder.name.removesuffix('.tmp')}.fp32.onnx")
    else:
        raw.replace(target)
    np.savez_compressed(
        folder / "heads.npz", **{k: v.detach().numpy() for k, v in heads.state_dict().items()}
    )


def train_joint(
    config_path: Path,
    out: Path,
    data_dir: Path,
    report: Callable[[str], None] = print,
    limit_docs: int | None = None,
    max_steps: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, export and describe the joint SciERC model; returns its meta."""
    from tokenizers import Tokenizer

    from kg import __version__
    from kg.trained.joint import JointModel, tokenizer_path
    from pipelines.train.joint import HeadConfig, TrainConfig, train
    from pipelines.train.scierc import load_sentences

    t0 = time.perf_counter()
    cfg = load_config(config_path, overrides)
    train_path, dev_path = data_dir / "train.jsonl", data_dir / "dev.jsonl"
    train_sents = load_sentences(train_path, limit_docs)
    dev_sents = load_sentences(dev_path, limit_docs)
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    heads_cfg = HeadConfig(**cfg["heads"])
    train_cfg = TrainConfig(**cfg["training"])
    encoder_path = _encoder_path(cfg["encoder"]["package"])
    report(f"training on {len(train_sents)} sentences, dev {len(dev_sents)}")
    encoder, heads, info = train(
        encoder_path, tokenizer, train_sents,
        torch_dev_eval(tokenizer, dev_sents, train_cfg.max_pieces),
        heads_cfg, train_cfg, report, max_steps,
    )  # fmt: skip
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    export(encoder, heads, tmp, bool(cfg["export"]["quantize"]))
    meta: dict[str, Any] = {
        "name": out.name,
        "kg_version": __version__,
        "config": config_path.name,
        "config_hash": config_hash(config_path),
        "overrides": overrides or {},
        "train_data_sha256": file_hash(train_path),
        "dev_data_sha256": file_hash(dev_path),
        "limit_docs": limit_docs,
        "encoder_package": cfg["encoder"]["package"],
        "heads": {"max_width": heads_cfg.max_width},
        "max_pieces": train_cfg.max_pieces,
        "rel_threshold": 0.0,
        "training": {**info, "seconds": round(time.perf_counter() - t0, 1)},
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    model = JointModel(tmp, threads=train_cfg.threads)
    preds = model.predict([s.encoder_words for s in dev_sents])
    meta["dev"] = score(dev_sents, preds)
    meta["training"]["seconds"] = round(time.perf_counter() - t0, 1)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    report(f"{out.name}: dev entity F1 {meta['dev']['ent_f1']} rel F1 {meta['dev']['rel_f1']} "
           f"(exported model), {meta['training']['seconds']:.0f}s")  # fmt: skip
    return meta


def _encoder_path(package: str) -> str:
    """Encoder weights come from their registry package, found where pip put it."""
    import importlib

    mod = importlib.import_module(package)
    return os.path.join(os.path.dirname(mod.__file__ or ""), "model")
