"""The README's main job, end to end over the user's real corpus, through the real CLI.

Real spaCy model, real embedded FalkorDB, real offline LLM for the answer (extraction is
`--spacy-only` here to keep CI fast; tests/test_extract_llm* run the LLM extraction).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seeds"
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed corpus not found at {SEEDS}")


def kg(*args: str, workspace: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KG_WORKSPACE": str(workspace), "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kg {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def _files(workspace: Path) -> dict[str, bytes]:
    names = ("documents", "chunks", "entities", "relations", "summaries")
    return {n: (workspace / f"{n}.jsonl").read_bytes() for n in names}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("seeds") / ".kg"
    kg("extract", str(SEEDS), "--spacy-only", workspace=ws)
    kg("load", workspace=ws)
    return ws


def test_extract_writes_the_whole_corpus(seeded: Path) -> None:
    manifest = json.loads((seeded / "manifest.json").read_text())
    assert manifest["counts"]["documents"] == 5
    assert manifest["counts"]["chunks"] >= 5
    assert manifest["counts"]["entities"] > 50
    docs = [json.loads(line) for line in (seeded / "documents.jsonl").read_text().splitlines()]
    assert sorted(Path(d["path"]).name for d in docs) == sorted(p.name for p in SEEDS.iterdir())
    chunks = [json.loads(line) for line in (seeded / "chunks.jsonl").read_text().splitlines()]
    text = {d["id"]: d["text"] for d in docs}
    assert all(text[c["doc_id"]][c["start"] : c["end"]] == c["text"] for c in chunks)


def test_rerun_changes_nothing(seeded: Path) -> None:
    before_files = _files(seeded)
    before = json.loads(kg("status", "--json", workspace=seeded).stdout)["store_counts"]
    kg("extract", str(SEEDS), "--spacy-only", workspace=seeded)
    kg("load", workspace=seeded)
    after = json.loads(kg("status", "--json", workspace=seeded).stdout)["store_counts"]
    assert _files(seeded) == before_files
    assert before == after
    assert before["Document"] == 5 and before["Entity"] > 50


def test_query_is_read_only(seeded: Path) -> None:
    rows = json.loads(
        kg("query", "MATCH (d:Document) RETURN count(d) AS n", "--json", workspace=seeded).stdout
    )["rows"]
    assert rows == [[5]]
    refused = kg("query", "MATCH (n) DETACH DELETE n", workspace=seeded, check=False)
    assert refused.returncode == 2 and "error" in refused.stderr.lower()  # refused: exit 2
    after = json.loads(kg("status", "--json", workspace=seeded).stdout)["store_counts"]
    assert after["Document"] == 5


def test_retrieval_finds_the_right_file_without_llm(seeded: Path) -> None:
    hits = json.loads(
        kg("search", "Which course covered K-means clustering?", "--json", workspace=seeded).stdout
    )["hits"]  # one object: {query, mode, hits}
    assert Path(hits[0]["path"]).name == "001_bdc6972e15d317d0.txt"


@pytest.mark.llm
def test_ask_answers_with_a_citation_to_the_right_file(seeded: Path) -> None:
    proc = kg("ask", "Which course covered K-means clustering?", "--json", workspace=seeded)
    answer = json.loads(proc.stdout)
    assert "machine learning specialization" in answer["answer"].lower(), answer["answer"]
    cited = {Path(c["path"]).name for c in answer["citations"]}
    assert "001_bdc6972e15d317d0.txt" in cited
    assert not [w for w in answer["warnings"] if "unavailable" in w.lower()]
