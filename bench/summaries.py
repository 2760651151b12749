"""Extractive summaries without the LLM: coverage, validity, stability and cost per corpus.

Chunks each file as `kg extract` does, builds the extractive map-reduce summaries with a cold
sentence-vector cache, then again with it warm (a re-run), and checks every summary: each
document has map and reduce levels and one top summary, every span's text is the sentence the
summary holds, and the second run is identical. The baseline, measured in the same run, is the
LLM path's map step with no LLM answers (what `--llm off` wrote before: nothing). Writes
bench/results/summaries.json and .md.

    nice -n 10 .venv/bin/python bench/summaries.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from kg.chunking import chunk_document  # noqa: E402
from kg.models import Document  # noqa: E402
from pipelines.summarize import map_summaries  # noqa: E402
from pipelines.summarize_extractive import default_encoder, summarize_all  # noqa: E402

SEEDS = next(
    (p for p in (ROOT.parent / "shared" / "corpus" / "seeds", Path("/work/shared/corpus/seeds"))
     if p.is_dir()),
    ROOT.parent / "shared" / "corpus" / "seeds",
)  # fmt: skip
CORPORA = {"seeds": SEEDS, "notes": ROOT / "examples" / "notes"}


def run(name: str, folder: Path) -> dict:
    docs = [
        Document.from_text(p.name, p.read_text(encoding="utf-8"))
        for p in sorted(folder.iterdir())
        if p.is_file()
    ]
    chunks = {d.id: chunk_document(d) for d in docs}
    baseline = [s for d in docs for s in map_summaries(d, [(c, "") for c in chunks[d.id]])]
    encode = default_encoder()
    t0 = time.perf_counter()
    first = summarize_all(docs, chunks, encode)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = summarize_all(docs, chunks, encode)
    warm = time.perf_counter() - t0
    texts = {d.id: d.text for d in docs}
    valid = all(" ".join(texts[s.doc_id][a:b] for a, b in s.spans) == s.text for s in first)
    covered = 0
    levels = []
    for d in docs:
        mine = [s for s in first if s.doc_id == d.id]
        top = max((s.level for s in mine), default=-1)
        if 0 in {s.level for s in mine} and top >= 1:
            covered += 1
        levels.append(top)
    return {
        "corpus": name,
        "documents": len(docs),
        "kb": round(sum(len(t.encode()) for t in texts.values()) / 1000, 1),
        "chunks": sum(len(c) for c in chunks.values()),
        "baseline_documents_summarised": len({s.doc_id for s in baseline}),
        "documents_summarised": covered,
        "summaries": len(first),
        "max_level": max(levels, default=0),
        "spans_valid": valid,
        "rerun_identical": [s.model_dump() for s in first] == [s.model_dump() for s in second],
        "cold_s": round(cold, 2),
        "warm_s": round(warm, 3),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["KG_CACHE_DIR"] = cache  # a cold sentence-vector cache
        load = os.getloadavg()
        rows = [run(name, folder) for name, folder in CORPORA.items() if folder.is_dir()]
    header = ("corpus", "documents", "kb", "chunks", "baseline_documents_summarised",
              "documents_summarised", "summaries", "max_level", "spans_valid",
              "rerun_identical", "cold_s", "warm_s")  # fmt: skip
    lines = [
        f"load average at start: {load[0]:.1f} (2 cores)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows),
    ]
    print("\n".join(lines))
    out = ROOT / "bench" / "results"
    (out / "summaries.json").write_text(
        json.dumps({"load_average": load, "rows": rows}, indent=2), encoding="utf-8"
    )
    (out / "summaries.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
