"""The API soak, short: 60 s of the mixed load of ``bench/soak.py`` against a real `kg serve`
(the sample notes, extracted and loaded), 4 clients on loopback: no errors, every route
answered, the server's memory flat, and it stops by itself (issue 25, the soak)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_short_soak_has_no_errors_and_flat_memory(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import soak  # bench/soak.py

    from app.service import KG
    from tests.real_kg import build_workspace, load_into_store

    settings = build_workspace(tmp_path)
    kg = KG(settings, use_llm=False)
    try:
        load_into_store(kg)
    finally:
        kg.close()
    from concurrent.futures import ThreadPoolExecutor

    # a thread of its own: a session-scoped Playwright fixture may hold the main thread's loop
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(
            soak.soak, settings.workspace, seconds=60, max_requests=20_000, sample_s=3
        ).result()
    assert result["errors"] == 0, result["error_examples"]
    assert result["seconds"] < 75  # bounded: it stopped by itself
    for route, figures in result["routes"].items():
        assert figures["requests"] > 0 and figures["p95_ms"] > 0, (route, figures)
    assert result["rss"]["flat"], result["rss"]  # within 10 %
    assert result["server_exit"] == 0
