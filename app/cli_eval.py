"""`kg eval …`: extraction, retrieval and question-answering benchmarks from the command line."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli_common import (
    JsonOpt,
    ModeOpt,
    WorkspaceOpt,
    _friendly_errors,
    _print_json,
    _settings,
    _workspace,
    err,
    out,
)
from app.cli_help import KgCommand, KgGroup

eval_app = typer.Typer(help="Measure extraction and retrieval on public benchmarks.", cls=KgGroup)


def _report(result: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        _print_json(result)
        return
    table = Table("metric", "value", title=title)
    for key, value in result.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, int | str):
            table.add_row(key, str(value))
    out.print(table)


def _run_eval(fn: Callable[[], dict[str, Any]], as_json: bool, title: str) -> None:
    with _friendly_errors():
        _report(fn(), as_json, title)


@eval_app.command("beir", cls=KgCommand)
def eval_beir(
    folder: Annotated[
        Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    split: Annotated[str, typer.Option(help="qrels split: train, dev or test.")] = "test",
    mode: ModeOpt = "hybrid",
    limit: Annotated[int | None, typer.Option(help="Only the first N queries.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """nDCG@10 and recall@100 on a BEIR dataset (e.g. SciFact)."""
    from pipelines.evaluation.beir import evaluate_beir

    _run_eval(
        lambda: evaluate_beir(folder, split, mode, limit=limit), as_json, f"BEIR {folder.name}"
    )


@eval_app.command("2wiki", cls=KgCommand)
def eval_2wiki(
    folder: Annotated[Path, typer.Argument(help="Folder with corpus.json and questions.json.")],
    mode: ModeOpt = "hybrid",
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Multi-hop passage retrieval: recall@2, recall@5, all-gold@5."""
    from pipelines.evaluation.twowiki import evaluate_2wiki

    _run_eval(lambda: evaluate_2wiki(folder, mode, limit=limit), as_json, "2WikiMultihopQA")


class Tier(StrEnum):
    trained = "trained"
    trained_llm = "trained+llm"
    spacy = "spacy"


@eval_app.command("scierc", cls=KgCommand)
def eval_scierc(
    path: Annotated[Path, typer.Argument(help="SciERC JSONL (e.g. dev.jsonl).")],
    limit: Annotated[int | None, typer.Option(help="Only the first N documents.")] = None,
    spacy_only: Annotated[bool, typer.Option("--spacy-only", help="Same as --tier spacy.")] = False,
    tier: Annotated[
        Tier,
        typer.Option(
            help="Extractor: the shipped trained model; trained+llm, the trained model refined "
            "by kg extract's own LLM tier; or spaCy rules."
        ),
    ] = Tier.trained,
    as_json: JsonOpt = False,
) -> None:
    """Entity and relation P/R/F1 on SciERC with the SciERC ontology."""
    from pipelines.evaluation.scierc import evaluate_scierc

    chosen = "spacy" if spacy_only else tier.value
    _run_eval(lambda: evaluate_scierc(path, limit, tier=chosen), as_json, "SciERC")


@eval_app.command("graph", cls=KgCommand)
def eval_graph(
    gold: Annotated[Path, typer.Argument(help="Gold facts JSONL: file, head, relation, tail, …")],
    workspace: WorkspaceOpt = None,
    any_file: Annotated[
        bool, typer.Option("--any-file", help="Match names in every file, not the fact's own.")
    ] = False,
    show_facts: Annotated[
        bool, typer.Option("--facts", help="Also list every gold fact and what it matched.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Graph quality against gold facts: entity and fact recall (any type and typed),
    the share of RELATED_TO edges and entities per 10 KB of text."""
    from rich.markup import escape

    from pipelines.evaluation.graph import GoldFileError, evaluate_graph, facts_table, load_gold

    with _friendly_errors():
        try:
            facts = load_gold(gold)
        except GoldFileError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        ws = _workspace(_settings(workspace))
        result = evaluate_graph(ws, facts, gold_name=gold.name, same_file=not any_file)
        if as_json:
            _print_json(result.model_dump())
            return
        _report(result.summary(), False, f"graph vs {gold.name}")
        if show_facts:
            out.print(facts_table(result))


@eval_app.command("qa", cls=KgCommand)
def eval_qa(
    path: Annotated[
        Path, typer.Argument(help="JSONL: question, answer_contains, gold_docs, evidence.")
    ],
    workspace: WorkspaceOpt = None,
    mode: ModeOpt = "hybrid",
    no_llm: Annotated[bool, typer.Option("--no-llm")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Ask the LLM again even for cached answers.")
    ] = False,
    budget_s: Annotated[
        float | None,
        typer.Option("--budget-s", help="After this many seconds use cached answers only."),
    ] = None,
    llm_limit: Annotated[
        int | None,
        typer.Option("--llm-limit", min=1, help="LLM paths answer only the first N questions."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Doc and chunk recall@5, then per answer path (candidates without the LLM, LLM choice,
    LLM choice + sentence) accuracy, citation precision, latency p50/p95 and the quiet-machine
    estimate; LLM answers are cached for cheap re-runs."""
    from app.service import KG
    from pipelines.evaluation.qa import evaluate_qa

    def run() -> dict[str, Any]:
        kg = KG(_settings(workspace), use_llm=not no_llm)
        try:
            return evaluate_qa(kg, path, mode=mode, use_cache=not no_cache, budget_s=budget_s,
                               llm_limit=llm_limit)  # fmt: skip
        finally:
            kg.close()

    with _friendly_errors():
        result = run()
        if as_json:
            _print_json(result)
            return
        cols = ("questions", "answer_accuracy", "answer_accuracy_two_facts",
                "citation_precision", "latency_p95_s", "quiet_estimate_p95_s",
                "candidates_accuracy_same_questions", "skipped_for_time")  # fmt: skip
        heads = ("n", "acc", "acc 2-fact", "cite prec", "p95 s", "quiet p95 s",
                 "cand. acc same q", "skipped")  # fmt: skip
        table = Table("path", *heads, title=f"QA {path.name} ({result['mode']})")
        for name, summary in result["paths"].items():
            table.add_row(name, *(_cell(summary.get(c)) for c in cols))
        out.print(table)


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "–" if value is None else str(value)
