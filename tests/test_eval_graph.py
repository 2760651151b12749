"""`kg eval graph`: the gold files are honest; the metric gives known answers on a tiny graph."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from kg.models import Document, Entity, Manifest, Mention, Relation
from kg.ontology import load_ontology
from kg.workspace import Workspace
from pipelines.evaluation.graph import (
    GoldFact,
    GoldFileError,
    check_gold,
    evaluate_graph,
    load_gold,
)
from pipelines.evaluation.names import NameIndex

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"
SEED_GOLD = ROOT / "bench" / "seeds_graph.jsonl"
NOTES = ROOT / "examples" / "notes"
NOTES_GOLD = ROOT / "examples" / "notes_graph.jsonl"


# ---- the gold files ----


def _check_evidence(facts: list[GoldFact], folder: Path) -> None:
    texts: dict[str, str] = {}
    for i, fact in enumerate(facts, 1):
        path = folder / fact.file
        assert path.is_file(), f"fact {i}: no file {fact.file}"
        text = texts.setdefault(fact.file, path.read_text(encoding="utf-8"))
        assert fact.evidence in text, f"fact {i}: evidence not in {fact.file}: {fact.evidence!r}"


def test_notes_gold_evidence_occurs_in_its_file() -> None:
    facts = load_gold(NOTES_GOLD)
    assert len(facts) >= 10
    assert {f.file for f in facts} == {p.name for p in NOTES.glob("*.md")}
    _check_evidence(facts, NOTES)


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed corpus not present at {SEEDS}")
def test_seed_gold_evidence_occurs_in_its_file() -> None:
    facts = load_gold(SEED_GOLD)
    _check_evidence(facts, SEEDS)
    per_file = Counter(f.file for f in facts)
    assert set(per_file) == {p.name for p in SEEDS.iterdir() if p.is_file()}
    assert min(per_file.values()) >= 8


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed corpus not present at {SEEDS}")
def test_seed_gold_has_150_facts_and_40_stated_only_in_prose() -> None:
    facts = load_gold(SEED_GOLD)
    assert len(facts) >= 150
    assert all(f.where in ("prose", "structure") for f in facts)
    assert sum(f.where == "prose" for f in facts) >= 40
    assert len({(f.file, f.head, f.relation, f.tail) for f in facts}) == len(facts)  # no repeats


@pytest.mark.parametrize("gold", [SEED_GOLD, NOTES_GOLD], ids=["seeds", "notes"])
def test_gold_is_valid_against_the_ontology(gold: Path) -> None:
    facts = load_gold(gold)
    assert check_gold(facts, load_ontology("default")) == []
    keys = [(f.file, f.head.lower(), f.relation, f.tail.lower()) for f in facts]
    assert len(keys) == len(set(keys)), "duplicate facts"
    if gold == SEED_GOLD:
        assert len(facts) >= 60
        assert len({f.relation for f in facts}) >= 10  # not one relation type dressed up


def test_check_gold_reports_bad_types() -> None:
    fact = GoldFact(
        file="a.md", head="x", head_type="Person", relation="COVERS",
        tail="y", tail_type="Gadget", evidence="x y",
    )  # fmt: skip
    problems = check_gold([fact], load_ontology("default"))
    assert any("Gadget" in p for p in problems)
    assert any("not allowed" in p for p in problems)


# ---- name matching ----


def test_name_matching_is_conservative() -> None:
    names = ["Unsupervised learning", "ICA", "K means clustering Algorithm", "GANs",
             "Anomlay detection", "Principal Component Analysis (PCA)", "self-supervised learning",
             "Ridgeregression", "GPT-2", "Bleu(Bilinguial Evaluation Understudy"]  # fmt: skip
    index = NameIndex([Entity.make(n, "Concept") for n in names])

    def hits(name: str) -> list[str]:
        return [m.entity.name for m in index.match(name)]

    assert hits("supervised learning") == []  # not "unsupervised", not "self-supervised"
    assert hits("PCA") == ["Principal Component Analysis (PCA)"]  # never "ICA"
    assert hits("K-means clustering") == ["K means clustering Algorithm"]
    assert hits("GAN") == ["GANs"]
    assert hits("anomaly detection") == ["Anomlay detection"]  # one typo in a long word
    assert hits("Ridge regression") == ["Ridgeregression"]
    assert hits("GPT-3") == [] and hits("GPT") == []
    assert hits("BLEU") == ["Bleu(Bilinguial Evaluation Understudy"]  # a parenthesis left open
    assert hits("principal component analysis") == ["Principal Component Analysis (PCA)"]
    assert hits("independent component analysis") == ["ICA"]  # its acronym, and only that
    assert [m.rule for m in index.match("ica")] == ["exact"]


# ---- the metric on a hand-built graph ----

A_TEXT = (
    "Unsupervised learning is a kind of machine learning. We compared VAEs with GANs. "
    "An autoencoder has an encoder. ICA is a dimensionality reduction method. "
    "The K means clustering algorithm moves centroids."
)
B_TEXT = "PCA is a dimensionality reduction method."

GOLD_LINES = [
    # head not in the graph: only "Unsupervised learning" is (the fuzzy trap)
    ("supervised learning", "Method", "IS_A", "machine learning", "Concept"),
    # the graph holds VAEs COMPARED_WITH GANs: symmetric, so the reverse edge is typed
    ("GAN", "Model", "COMPARED_WITH", "VAE", "Model"),
    # the graph holds autoencoder PART_OF encoder: an edge, but the wrong direction
    ("encoder", "Model", "PART_OF", "autoencoder", "Model"),
    # PCA is only in b.md, and "ICA" must not stand in for it; the graph types DR as Method
    ("PCA", "Method", "IS_A", "dimensionality reduction", "Concept"),
    # fuzzy (generic "algorithm") and plural; the graph only has RELATED_TO
    ("K-means clustering", "Method", "USES", "centroid", "Concept"),
]


def _workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    docs = {"a": Document.from_text("a.md", A_TEXT), "b": Document.from_text("b.md", B_TEXT)}

    def ent(name: str, type_: str, where: str = "a", surface: str | None = None) -> Entity:
        mentions = []
        for key in where:
            doc = docs[key]
            start = doc.text.index(surface or name)
            mentions.append(
                Mention(chunk_id=f"chk_{key}", doc_id=doc.id, start=start,
                        end=start + len(surface or name), text=surface or name)
            )  # fmt: skip
        return Entity.make(name, type_, mentions=mentions)

    e = {
        "unsup": ent("Unsupervised learning", "Method"),
        "ml": ent("machine learning", "Concept"),
        "gans": ent("GANs", "Model"),
        "vaes": ent("VAEs", "Model"),
        "enc": ent("encoder", "Model"),
        "auto": ent("autoencoder", "Model"),
        "ica": ent("ICA", "Method"),
        "dr": ent("dimensionality reduction", "Method", "ab"),
        "pca": ent("PCA", "Method", "b"),
        "km": ent("K means clustering algorithm", "Method"),
        "cent": ent("centroids", "Concept"),
    }
    rels = [
        ("unsup", "IS_A", "ml"), ("vaes", "COMPARED_WITH", "gans"), ("auto", "PART_OF", "enc"),
        ("ica", "IS_A", "dr"), ("pca", "IS_A", "dr"), ("km", "RELATED_TO", "cent"),
    ]  # fmt: skip
    ws.write("documents", docs.values())
    ws.write("entities", e.values())
    ws.write("relations", [Relation.make(e[h].id, t, e[x].id) for h, t, x in rels])
    ws.write_manifest(Manifest(kg_version="test", created_at=dt.datetime.now(dt.UTC).isoformat()))
    return ws


def _gold(path: Path) -> Path:
    lines = [
        {"file": "a.md", "head": h, "head_type": ht, "relation": r, "tail": t, "tail_type": tt,
         "evidence": "x"}
        for h, ht, r, t, tt in GOLD_LINES
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_metric_on_a_small_graph(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    result = evaluate_graph(ws, load_gold(_gold(tmp_path / "gold.jsonl")))
    found = [(r.head, r.found, r.typed) for r in result.rows]
    assert found == [
        ("supervised learning", False, False),
        ("GAN", True, True),
        ("encoder", True, False),
        ("PCA", False, False),
        ("K-means clustering", True, False),
    ]
    assert result.fact_recall == 0.6 and result.typed_fact_recall == 0.2
    # 10 gold names; "supervised learning" and "PCA" (not in a.md) are missing
    assert result.gold_entities == 10 and result.entity_recall == 0.8
    # typed: those two, and "dimensionality reduction" is a Method in the graph, not a Concept
    assert result.typed_entity_recall == 0.7
    assert result.related_to_share == round(1 / 6, 4)
    chars = len(A_TEXT) + len(B_TEXT)
    assert result.chars == chars and result.entities_per_10kb == round(11 * 10_000 / chars, 2)
    assert result.rows[4].head_match == "K means clustering algorithm"
    assert result.rows[4].edge_types == ["RELATED_TO"]
    assert result.rows[0].head_match is None and result.missing_files == []

    anywhere = evaluate_graph(ws, load_gold(tmp_path / "gold.jsonl"), same_file=False)
    pca = anywhere.rows[3]
    assert (pca.head_match, pca.found, pca.typed) == ("PCA", True, True)
    assert anywhere.fact_recall == 0.8


def test_gold_file_of_a_file_not_extracted(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"file": "c.md", "head": "GAN", "head_type": "Model",
                                "relation": "COMPARED_WITH", "tail": "VAE", "tail_type": "Model",
                                "evidence": "x"}) + "\n")  # fmt: skip
    result = evaluate_graph(ws, load_gold(gold))
    assert result.missing_files == ["c.md"] and result.fact_recall == 0.0


def test_load_gold_errors(tmp_path: Path) -> None:
    with pytest.raises(GoldFileError, match="not found"):
        load_gold(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"file": "a.md", "head": "x"}\n')
    with pytest.raises(GoldFileError, match=r"bad.jsonl:1: head_type"):
        load_gold(bad)
    bad.write_text("not json\n")
    with pytest.raises(GoldFileError, match="not JSON"):
        load_gold(bad)


# ---- the CLI ----


def test_cli_eval_graph(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    gold = _gold(tmp_path / "gold.jsonl")
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "graph", str(gold), "--workspace", str(ws.root), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["fact_recall"] == 0.6 and len(data["rows"]) == 5

    res = runner.invoke(app, ["eval", "graph", str(gold), "-w", str(ws.root), "--facts"],
                        env={"COLUMNS": "200", "NO_COLOR": "1"})  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "typed_fact_recall" in res.stdout and "0.2000" in res.stdout
    assert "K means clustering algorithm (fuzzy)" in res.stdout


def test_cli_eval_graph_bad_gold_is_one_line(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "graph", str(tmp_path / "nope.jsonl"), "-w", str(ws.root)])
    assert res.exit_code == 2
    assert "not found" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n")
    res = runner.invoke(app, ["eval", "graph", str(bad), "-w", str(ws.root)])
    assert res.exit_code == 2 and "not JSON" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1

    res = runner.invoke(app, ["eval", "graph", str(_gold(tmp_path / "g.jsonl")),
                              "-w", str(tmp_path / "none")])  # fmt: skip
    assert res.exit_code == 1 and "no workspace" in res.stderr
