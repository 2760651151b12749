"""pipelines.evaluation.qa: chunk recall, accuracy, citation precision, latency, answer cache."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kg.models import Answer, Citation, Document, Manifest, SearchHit
from pipelines.evaluation.qa import contains, evaluate_qa, load_qa, percentile

TEXT = "Intro line. To cut the clips I used VideoPad. Then I slept."
DOC = Document(id="d1", path="/c/000_a.txt", title="a", chars=len(TEXT), sha256="x", text=TEXT)


class StubKG:
    """Retrieval returns one chunk; answers cite a span chosen by the test."""

    def __init__(self, root: Path, span: tuple[int, int], use_llm: bool) -> None:
        self.use_llm = use_llm
        self.settings = SimpleNamespace(llm_model="fake")
        self.workspace = SimpleNamespace(
            root=root,
            iter=lambda name: iter([DOC]) if name == "documents" else iter([]),
            manifest=lambda: Manifest(kg_version="t", created_at="now"),
        )
        self.span, self.asked = span, 0
        self.paths: list[str] = []

    def search(self, question: str, mode: str = "hybrid", k: int = 5) -> list[SearchHit]:
        return [SearchHit(chunk_id="c1", doc_id="d1", path=DOC.path, start=0, end=len(TEXT),
                          text=TEXT)]  # fmt: skip

    def ask(self, question: str, mode: str = "hybrid", k: int = 6, path: str = "sentence"
            ) -> Answer:  # fmt: skip
        self.asked += 1
        self.paths.append(path)
        a, b = self.span
        cite = Citation(n=1, chunk_id="c1", doc_id="d1", path=DOC.path, start=a, end=b, snippet="")
        return Answer(question=question, answer="I used VideoPad [1].", citations=[cite],
                      timings={"first_token_s": 0.5})  # fmt: skip


def _qa(tmp: Path, evidence: list[str]) -> Path:
    path = tmp / "qa.jsonl"
    item = {"question": "Which app cut the clips?", "answer_contains": ["videopad"],
            "gold_docs": ["000_a.txt"], "evidence": evidence, "hops": 2}  # fmt: skip
    path.write_text(json.dumps(item) + "\n", encoding="utf-8")
    return path


def test_metrics_from_spans_and_evidence(tmp_path: Path) -> None:
    right = (TEXT.index("To cut"), TEXT.index(" Then"))
    qa = _qa(tmp_path, ["To cut the clips", "a sentence nowhere in the corpus"])
    result: dict[str, Any] = evaluate_qa(StubKG(tmp_path, right, use_llm=False), qa)
    assert result["doc_recall@5"] == 1.0 and result["chunk_recall@5"] == 0.5
    assert result["answer_accuracy"] == 1.0 and result["answer_accuracy_two_facts"] == 1.0
    assert result["citation_precision"] == 1.0 and result["first_token_p50_s"] == 0.5
    wrong = (0, TEXT.index(" To cut"))  # "Intro line.": the citation does not state it
    result = evaluate_qa(StubKG(tmp_path, wrong, use_llm=False), qa)
    assert result["citation_precision"] == 0.0 and result["answer_accuracy"] == 1.0


def test_llm_answers_are_cached_with_their_latency(tmp_path: Path) -> None:
    qa = _qa(tmp_path, ["To cut the clips"])
    first = StubKG(tmp_path, (0, 5), use_llm=True)
    one = evaluate_qa(first, qa)
    second = StubKG(tmp_path, (0, 5), use_llm=True)
    two = evaluate_qa(second, qa)
    # the candidates path runs every time (no LLM); the two LLM paths come from the cache
    assert first.asked == 3 and second.asked == 1 and two["cached_answers"] == 1
    assert first.paths == ["candidates", "choice", "sentence"] and second.paths == ["candidates"]
    assert two["details"][0]["seconds"] == one["details"][0]["seconds"]
    assert two["details"][0]["answer"] == one["details"][0]["answer"]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10.0 and percentile(values, 95) == 19.0
    assert percentile([], 50) == 0.0


def test_a_spent_budget_keeps_only_cached_answers(tmp_path: Path) -> None:
    qa = _qa(tmp_path, ["To cut the clips"])
    stub = StubKG(tmp_path, (0, 5), use_llm=True)
    result = evaluate_qa(stub, qa, budget_s=-1.0)
    assert stub.paths == ["candidates"] and result["skipped_for_time"] == 1
    assert result["questions"] == 0 and result["paths"]["candidates"]["questions"] == 1
    evaluate_qa(StubKG(tmp_path, (0, 5), use_llm=True), qa)  # now cached
    result = evaluate_qa(StubKG(tmp_path, (0, 5), use_llm=True), qa, budget_s=-1.0)
    assert result["skipped_for_time"] == 0 and result["cached_answers"] == 1


def test_each_path_reports_accuracy_and_the_no_llm_accuracy_on_the_same_questions(
    tmp_path: Path,
) -> None:
    qa = tmp_path / "qa.jsonl"
    items = [{"question": f"Which app cut clip {n}?", "answer_contains": ["videopad"],
              "gold_docs": ["000_a.txt"], "evidence": ["To cut the clips"]} for n in range(3)]
    qa.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    right = (TEXT.index("To cut"), TEXT.index(" Then"))
    result = evaluate_qa(StubKG(tmp_path, right, use_llm=True), qa, use_cache=False, llm_limit=2)
    paths = result["paths"]
    assert set(paths) == {"candidates", "choice", "sentence"} and result["path"] == "sentence"
    assert paths["candidates"]["questions"] == 3 and paths["choice"]["questions"] == 2
    assert paths["choice"]["skipped_for_time"] == 1
    assert paths["choice"]["candidates_accuracy_same_questions"] == 1.0
    assert paths["sentence"]["quiet_estimate_p95_s"] >= 0.0


SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "seeds"
SEED_QA = Path(__file__).resolve().parents[1] / "bench" / "seeds_qa.jsonl"


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed corpus not present at {SEEDS}")
def test_seed_questions_quote_their_files_verbatim() -> None:
    """Every evidence string occurs in one of its gold files, every expected answer string
    in its evidence; >= 90 questions over all five files, >= 25 needing two facts."""
    items = load_qa(SEED_QA)
    texts = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.iterdir() if p.is_file()}
    for item in items:
        for ev in item.evidence:
            assert any(ev in texts[d] for d in item.gold_docs), (item.question, ev)
        for want in item.answer_contains:
            assert any(contains(ev, want) for ev in item.evidence), (item.question, want)
    assert len(items) >= 90 and sum(i.hops > 1 for i in items) >= 25
    assert {d for i in items for d in i.gold_docs} == set(texts)
