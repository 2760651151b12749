"""Fine-tuning MiniLM as a joint span-typing and relation model on SciERC (SpERT's design).

One encoder pass per sentence gives word vectors (first word piece). Every span of up to
``max_width`` words is typed from [max-pool, first word, last word, width embedding]; every
ordered pair of entity spans is labelled from [head span, tail span, max-pool of the words between,
both type embeddings]. Training uses gold spans for the pairs; decoding uses predicted ones. The
heads are small enough to run in numpy at run time (``kg.trained.joint``); only the encoder is
exported to ONNX.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from kg.trained.joint import first_pieces
from pipelines.train.scierc import ENTITY_LABELS, RELATION_LABELS, SYMMETRIC, Sentence

NEG = -1e4  # the same padding value as the numpy heads


@dataclass
class HeadConfig:
    max_width: int = 10
    width_dim: int = 32
    hidden: int = 256
    type_dim: int = 16
    dropout: float = 0.1


class JointHeads(nn.Module):
    """Span and pair classifiers over word vectors of size ``dim``."""

    def __init__(self, dim: int, cfg: HeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_ent, n_rel = len(ENTITY_LABELS) + 1, len(RELATION_LABELS) + 1
        self.width = nn.Embedding(cfg.max_width, cfg.width_dim)
        span_dim = 3 * dim + cfg.width_dim
        self.span_hidden = nn.Linear(span_dim, cfg.hidden)
        self.span_out = nn.Linear(cfg.hidden, n_ent)
        self.type_emb = nn.Embedding(n_ent, cfg.type_dim)
        pair_dim = 2 * span_dim + dim + 2 * cfg.type_dim
        self.pair_hidden = nn.Linear(pair_dim, cfg.hidden)
        self.pair_out = nn.Linear(cfg.hidden, n_rel)
        self.drop = nn.Dropout(cfg.dropout)

    def spans(self, words: torch.Tensor) -> torch.Tensor:
        """[B, W, D] word vectors -> [B, W, max_width, span_dim] (span at word i of width w+1)."""
        b, n, d = words.shape
        pooled = [words]
        for w in range(1, self.cfg.max_width):
            prev = pooled[-1]
            shifted = torch.cat([words[:, w:], words.new_full((b, w, d), NEG)], dim=1)[:, :n]
            pooled.append(torch.maximum(prev, shifted))
        maxpool = torch.stack(pooled, dim=2)  # [B, W, MW, D]
        ends = []
        for w in range(self.cfg.max_width):
            ends.append(torch.cat([words[:, w:], words.new_zeros((b, w, d))], dim=1)[:, :n])
        end = torch.stack(ends, dim=2)
        start = words.unsqueeze(2).expand(-1, -1, self.cfg.max_width, -1)
        width = self.width.weight.unsqueeze(0).unsqueeze(0).expand(b, n, -1, -1)
        return torch.cat([maxpool, start, end, width], dim=-1)

    def span_logits(self, span_vecs: torch.Tensor) -> torch.Tensor:
        return self.span_out(self.drop(torch.nn.functional.gelu(self.span_hidden(span_vecs))))

    def pair_logits(
        self,
        head: torch.Tensor,
        tail: torch.Tensor,
        between: torch.Tensor,
        head_type: torch.Tensor,
        tail_type: torch.Tensor,
    ) -> torch.Tensor:
        x = torch.cat([head, tail, between, self.type_emb(head_type), self.type_emb(tail_type)], -1)
        return self.pair_out(self.drop(torch.nn.functional.gelu(self.pair_hidden(x))))


class WordEncoder(nn.Module):
    """A BERT-style encoder read out at each word's first word piece.

    With ``frozen_layers`` = k the embeddings and the first k layers are not trained, so their
    output can be computed once per sentence (``lower``) and each step runs only the top layers
    (``upper``): on two CPU cores that is what makes fine-tuning fit in minutes.
    """

    def __init__(self, path: str, frozen_layers: int = 0) -> None:
        super().__init__()
        from transformers import AutoModel

        self.bert = AutoModel.from_pretrained(path)
        self.dim = self.bert.config.hidden_size
        self.frozen = frozen_layers
        if frozen_layers:
            for p in self.bert.embeddings.parameters():
                p.requires_grad = False
            for layer in self.bert.encoder.layer[:frozen_layers]:
                for p in layer.parameters():
                    p.requires_grad = False

    @staticmethod
    def _additive(mask: torch.Tensor) -> torch.Tensor:
        return (1.0 - mask[:, None, None, :].float()) * NEG

    def _run(self, h: torch.Tensor, mask: torch.Tensor, layers: Sequence[nn.Module]) -> Any:
        ext = self._additive(mask)
        for layer in layers:
            out = layer(h, ext)
            h = out[0] if isinstance(out, tuple) else out
        return h

    def lower(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Output of the frozen part (no gradient)."""
        with torch.no_grad():
            was = self.bert.training
            self.bert.eval()
            h = self.bert.embeddings(input_ids=ids)
            h = self._run(h, mask, self.bert.encoder.layer[: self.frozen])
            self.bert.train(was)
        return h

    def upper(self, h: torch.Tensor, mask: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        hidden = self._run(h, mask, self.bert.encoder.layer[self.frozen :])
        index = first.clamp(min=0).unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        return torch.gather(hidden, 1, index)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        return self.upper(self.lower(ids, mask) if self.frozen else self.bert.embeddings(
            input_ids=ids), mask, first)


# ---------------------------------------------------------------- batches


@dataclass
class Batch:
    ids: torch.Tensor
    mask: torch.Tensor
    first: torch.Tensor  # [B, W] index of each word's first piece, -1 for padding
    n_words: list[int]
    span_labels: torch.Tensor  # [B, W, MW], -100 where the span is invalid
    pairs: list[tuple[int, int, int, int, int, int, int]]  # b, hs, he, ts, te, htype, ttype
    pair_labels: torch.Tensor


LABEL_ID = {t: i + 1 for i, t in enumerate(ENTITY_LABELS)}
REL_ID = {t: i + 1 for i, t in enumerate(RELATION_LABELS)}


def make_batch(tokenizer: Any, sents: Sequence[Sentence], mw: int, max_pieces: int) -> Batch:
    ids, mask, first = first_pieces(tokenizer, [s.encoder_words for s in sents], max_pieces)
    n = first.shape[1]
    labels = np.full((len(sents), n, mw), -100, dtype=np.int64)
    pairs, pair_labels = [], []
    for b, s in enumerate(sents):
        usable = int((first[b] >= 0).sum())
        for i in range(usable):
            labels[b, i, : min(mw, usable - i)] = 0
        for i, j, t in s.entities:
            if j - i < mw and j < usable:
                labels[b, i, j - i] = LABEL_ID[t]
        gold: dict[tuple[int, int], int] = {}
        for h, t, r in s.relations:
            gold[(h, t)] = REL_ID[r]
            if r in SYMMETRIC:
                gold[(t, h)] = REL_ID[r]
        ents = s.entities
        for a, (hi, hj, ht) in enumerate(ents):
            for c, (ti, tj, tt) in enumerate(ents):
                if a == c or hj - hi >= mw or tj - ti >= mw or max(hj, tj) >= usable:
                    continue
                pairs.append((b, hi, hj, ti, tj, LABEL_ID[ht], LABEL_ID[tt]))
                pair_labels.append(gold.get((a, c), 0))
    return Batch(
        torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(first),
        [len(s.words) for s in sents], torch.from_numpy(labels), pairs,
        torch.tensor(pair_labels, dtype=torch.long),
    )  # fmt: skip


def pair_inputs(
    words: torch.Tensor, span_vecs: torch.Tensor, pairs: Sequence[tuple[int, ...]]
) -> tuple[torch.Tensor, ...]:
    """Gather head/tail span vectors and the max-pool of the words between each pair."""
    idx = torch.tensor(pairs, dtype=torch.long)
    b, hi, hj, ti, tj, ht, tt = idx.unbind(1)
    head = span_vecs[b, hi, hj - hi]
    tail = span_vecs[b, ti, tj - ti]
    lo = torch.minimum(hj, tj) + 1
    hi_ = torch.maximum(hi, ti)  # exclusive
    pos = torch.arange(words.shape[1]).unsqueeze(0)
    inside = (pos >= lo.unsqueeze(1)) & (pos < hi_.unsqueeze(1))  # [P, W]
    vec = words[b]  # [P, W, D]
    vec = vec.masked_fill(~inside.unsqueeze(-1), NEG).max(dim=1).values
    between = torch.where(inside.any(1, keepdim=True), vec, torch.zeros_like(vec))
    return head, tail, between, ht, tt


# ---------------------------------------------------------------- training


@dataclass
class TrainConfig:
    seed: int = 13
    epochs: int = 12
    patience: int = 3
    batch_size: int = 16
    encoder_lr: float = 8e-5
    head_lr: float = 1e-3
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_pieces: int = 256
    threads: int = 2
    frozen_layers: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    encoder_path: str,
    tokenizer: Any,
    train_sents: list[Sentence],
    dev_eval: Callable[[WordEncoder, JointHeads], dict[str, float]],
    heads_cfg: HeadConfig,
    cfg: TrainConfig,
    report: Callable[[str], None] = print,
    max_steps: int | None = None,
) -> tuple[WordEncoder, JointHeads, dict[str, Any]]:
    """Fine-tune; keep the weights of the epoch with the best dev entity F1 + Rel F1."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    encoder = WordEncoder(encoder_path, cfg.frozen_layers)
    heads = JointHeads(encoder.dim, heads_cfg)
    trainable = [p for p in encoder.parameters() if p.requires_grad]
    groups = [
        {"params": trainable, "lr": cfg.encoder_lr},
        {"params": list(heads.parameters()), "lr": cfg.head_lr},
    ]
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    order = sorted(range(len(train_sents)), key=lambda i: len(train_sents[i].words))
    chunks = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    lower = _lower_cache(encoder, tokenizer, train_sents, chunks, cfg.max_pieces, report)
    total = len(chunks) * cfg.epochs if max_steps is None else max_steps
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    best: dict[str, Any] = {"score": -1.0}
    history: list[dict[str, float]] = []
    step, bad = 0, 0
    rng = random.Random(cfg.seed)
    for epoch in range(cfg.epochs):
        encoder.train()
        heads.train()
        rng.shuffle(chunks)
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        for chunk in chunks:
            batch = make_batch(
                tokenizer, [train_sents[i] for i in chunk], heads_cfg.max_width, cfg.max_pieces
            )
            if lower is None:
                words = encoder(batch.ids, batch.mask, batch.first)
            else:
                h = torch.zeros((len(chunk), batch.ids.shape[1], encoder.dim))
                for b, i in enumerate(chunk):
                    h[b, : lower[i].shape[0]] = lower[i]
                words = encoder.upper(h, batch.mask, batch.first)
            span_vecs = heads.spans(words)
            loss = ce(heads.span_logits(span_vecs).flatten(0, 2), batch.span_labels.flatten())
            if batch.pairs:
                logits = heads.pair_logits(*pair_inputs(words, span_vecs, batch.pairs))
                loss = loss + ce(logits, batch.pair_labels)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable + list(heads.parameters()), 1.0)
            opt.step()
            sched.step()
            step += 1
            seen += 1
            loss_sum += float(loss.detach())
            if seen % 20 == 0:
                rate = seen / (time.perf_counter() - t0)
                eta = (len(chunks) - seen) / rate
                report(f"epoch {epoch + 1}/{cfg.epochs} batch {seen}/{len(chunks)} "
                       f"loss {loss_sum / seen:.3f} eta {eta:.0f}s")  # fmt: skip
            if max_steps is not None and step >= max_steps:
                break
        encoder.eval()
        heads.eval()
        with torch.no_grad():
            scores = dev_eval(encoder, heads)
        scores = {"epoch": epoch + 1, "loss": round(loss_sum / max(1, seen), 4), **scores}
        history.append(scores)
        report(f"epoch {epoch + 1}: dev entity F1 {scores['ent_f1']:.1f} "
               f"rel F1 {scores['rel_f1']:.1f} "
               f"({time.perf_counter() - t0:.0f}s)")  # fmt: skip
        score = scores["ent_f1"] + scores["rel_f1"]
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, "scores": scores,
                    "encoder": copy.deepcopy(encoder.state_dict()),
                    "heads": copy.deepcopy(heads.state_dict())}  # fmt: skip
            bad = 0
        else:
            bad += 1
            if bad >= cfg.patience:
                report(f"early stop: no dev gain for {cfg.patience} epochs")
                break
        if max_steps is not None and step >= max_steps:
            break
    if "encoder" in best:
        encoder.load_state_dict(best["encoder"])
        heads.load_state_dict(best["heads"])
    info = {"best_epoch": best.get("epoch"), "dev": best.get("scores"), "history": history}
    return encoder, heads, info


def _lower_cache(
    encoder: WordEncoder,
    tokenizer: Any,
    sents: Sequence[Sentence],
    chunks: Sequence[Sequence[int]],
    max_pieces: int,
    report: Callable[[str], None],
) -> list[torch.Tensor] | None:
    """The frozen layers' output for every training sentence, computed once."""
    if not encoder.frozen:
        return None
    t0 = time.perf_counter()
    out: list[torch.Tensor] = [torch.empty(0)] * len(sents)
    for chunk in chunks:
        ids, mask, _ = first_pieces(tokenizer, [sents[i].encoder_words for i in chunk], max_pieces)
        h = encoder.lower(torch.from_numpy(ids), torch.from_numpy(mask))
        for b, i in enumerate(chunk):
            out[i] = h[b, : int(mask[b].sum())].clone()
    report(f"frozen layers computed once for {len(sents)} sentences "
           f"({time.perf_counter() - t0:.0f}s)")  # fmt: skip
    return out
