"""Loader benchmark: a synthetic graph (50k entities, 100k relations, 20k chunks) loaded into
the embedded FalkorDB (and Neo4j when NEO4J_URI is set): full load rows/s, then a 1% update
loaded incrementally, compared with a full reload.

    .venv/bin/python bench/load.py [--entities 50000 --relations 100000 --chunks 20000]

Writes bench/results/load.md and bench/results/load.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.config import Settings  # noqa: E402
from kg.models import (  # noqa: E402
    Chunk,
    Document,
    Entity,
    Evidence,
    Manifest,
    Mention,
    Relation,
    Summary,
)
from kg.ontology import load_ontology  # noqa: E402
from kg.store import open_store  # noqa: E402
from kg.store.rows import plan_update, workspace_ontology  # noqa: E402
from kg.workspace import Workspace  # noqa: E402
from pipelines.load import load_workspace  # noqa: E402

WORDS = [
    "gradient",
    "descent",
    "learning",
    "rate",
    "matrix",
    "vector",
    "eigenvalue",
    "tensor",
    "model",
    "layer",
    "attention",
    "token",
    "embedding",
    "loss",
    "optimizer",
    "batch",
    "epoch",
    "dataset",
    "feature",
    "kernel",
    "cluster",
]


def synthetic(
    n_docs: int, n_chunks: int, n_entities: int, n_relations: int, seed: int, version: int = 0
) -> dict[str, list[Any]]:
    """A deterministic graph; ``version`` > 0 changes 1% of documents, entities and relations."""
    rng = random.Random(seed)
    onto = load_ontology("default")
    per_doc = n_chunks // n_docs
    changed_docs = set(range(0, n_docs, 100)) if version else set()
    documents, chunks, summaries = [], [], []
    for d in range(n_docs):
        paras = [
            f"{d}.{i} " + " ".join(rng.choice(WORDS) for _ in range(40)) for i in range(per_doc)
        ]
        if d in changed_docs:
            paras[0] += f" revised v{version}"
        text = "\n".join(paras)
        doc = Document.from_text(f"notes/{d:05d}.md", text)
        documents.append(doc)
        start = 0
        for i, p in enumerate(paras):
            chunks.append(Chunk.make(doc.id, i, start, p))
            start += len(p) + 1
        summaries.append(Summary(id=f"sum_{doc.id}", doc_id=doc.id, level=1, text=f"doc {d}"))
    etypes = onto.entity_names
    entities = []
    for e in range(n_entities):
        mentions = []
        for _ in range(2):
            c = chunks[rng.randrange(len(chunks))]
            mentions.append(
                Mention(chunk_id=c.id, doc_id=c.doc_id, start=c.start, end=c.start + 3,
                        text=c.text[:3])
            )  # fmt: skip
        desc = f"entity {e}" + (f" v{version}" if version and e % 100 == 0 else "")
        entities.append(
            Entity.make(f"thing {e}", etypes[e % len(etypes)], mentions=mentions, description=desc)
        )
    rtypes = onto.relation_names
    relations: dict[str, Relation] = {}
    while len(relations) < n_relations:
        h, t = rng.randrange(n_entities), rng.randrange(n_entities)
        ev = entities[h].mentions[0]
        rel = Relation.make(
            entities[h].id, rng.choice(rtypes), entities[t].id,
            evidence=[Evidence(chunk_id=ev.chunk_id, doc_id=ev.doc_id, start=ev.start, end=ev.end)],
            confidence=0.5,
        )  # fmt: skip
        relations[rel.id] = rel
    rel_list = list(relations.values())
    if version:
        for r in rel_list[::100]:
            r.confidence = 0.9
    return {
        "documents": documents,
        "chunks": chunks,
        "entities": entities,
        "relations": rel_list,
        "summaries": summaries,
    }


def write(ws: Workspace, graph: dict[str, list[Any]]) -> None:
    for name, items in graph.items():
        ws.write(name, items)
    ws.write_manifest(Manifest(kg_version="bench", created_at=dt.datetime.now(dt.UTC).isoformat()))


def run(store_settings: Settings, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    ws = Workspace(tmp / "ws")
    sizes = (args.docs, args.chunks, args.entities, args.relations)
    t0 = time.perf_counter()
    write(ws, synthetic(*sizes, seed=1))
    gen = time.perf_counter() - t0
    with open_store(store_settings, ws) as store:
        store.clear()
        full = load_workspace(ws, store, rebuild=True, batch_size=args.batch, progress=False)
        again = load_workspace(ws, store, batch_size=args.batch, progress=False)
        write(ws, synthetic(*sizes, seed=1, version=1))
        state = json.loads((ws.root / "loaded.json").read_text(encoding="utf-8"))
        t0 = time.perf_counter()
        plan_update(ws, state, ontology=workspace_ontology(ws))  # the diff, without writing
        read_s = time.perf_counter() - t0
        inc = load_workspace(ws, store, batch_size=args.batch, progress=False)
        reload = load_workspace(ws, store, rebuild=True, batch_size=args.batch, progress=False)
        if store.name == "neo4j":
            store.clear()
    return {
        "store": store.name,
        "generate_s": round(gen, 2),
        "full": {"seconds": full.seconds, "rows": full.rows_total,
                 "rows_per_s": round(full.rows_total / full.seconds), "counts": full.written},
        "unchanged": {"seconds": again.seconds, "mode": again.mode},
        "incremental": {"seconds": inc.seconds, "rows": inc.rows_total, "mode": inc.mode,
                        "diff_s": round(read_s, 2),
                        "added_docs": len(inc.added_docs), "removed_docs": len(inc.removed_docs)},
        "full_reload": {"seconds": reload.seconds, "rows": reload.rows_total},
        "speedup": round(reload.seconds / inc.seconds, 1),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--chunks", type=int, default=20_000)
    ap.add_argument("--entities", type=int, default=50_000)
    ap.add_argument("--relations", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    results = []
    backends = [("falkordb", Settings())]
    if os.environ.get("NEO4J_URI"):
        backends.append(("neo4j", Settings.from_env(store="neo4j")))
    for name, settings in backends:
        with tempfile.TemporaryDirectory(prefix="kgbench") as tmp:
            print(f"running {name} …", flush=True)
            results.append(run(settings, args, Path(tmp)))

    lines = [
        "# Loader benchmark",
        "",
        f"Synthetic graph: {args.docs} documents, {args.chunks} chunks, {args.entities} entities, "
        f"{args.relations} relations; batch {args.batch}; 1% update = 1% of documents rewritten "
        f"+ 1% of entities and relations changed. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared). {dt.date.today()}.",
        "",
        "| store | full load rows | full load s | rows/s | unchanged reload s | 1% incremental s "
        "| of which diffing the workspace s | incremental rows | full reload s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['store']} | {r['full']['rows']} | {r['full']['seconds']} | "
            f"{r['full']['rows_per_s']} | {r['unchanged']['seconds']} | "
            f"{r['incremental']['seconds']} | {r['incremental']['diff_s']} | "
            f"{r['incremental']['rows']} | "
            f"{r['full_reload']['seconds']} | {r['speedup']}x |"
        )
    load = os.getloadavg()[0]
    lines += [
        "",
        "Targets: >= 50k rows/s full load; incremental >= 20x faster than a full reload.",
        f"Load average when finished: {load:.1f} on {os.cpu_count()} CPUs (other work running).",
    ]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.md").write_text(table + "\n", encoding="utf-8")
    (args.out / "load.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
