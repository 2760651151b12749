"""What ``kg extract`` prints before it works: the dry-run plan and the loaders' warnings."""

from __future__ import annotations

from kg.models import Chunk, Document, Manifest
from kg.ontology import Ontology
from pipelines.extraction.verify_prompt import MAX_OUTPUT_TOKENS, MIN_SUMMARY_CHARS, system_prompt


def print_warnings(documents: list[Document]) -> None:
    """Decoding warnings of the loaders (a wrong encoding guessed, replaced bytes)."""
    from rich.console import Console

    console = Console(stderr=True)
    for doc in documents:
        for warning in doc.warnings:
            console.print(f"[yellow]warning[/] {doc.path}: {warning}")


def print_plan(
    documents: list[Document],
    chunks: dict[str, list[Chunk]],
    ontology: Ontology,
    spacy_only: bool,
    manifest: Manifest,
) -> None:
    """The ``--dry-run`` table: files, chunks and the LLM work an empty cache would cost."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="kg extract --dry-run (nothing is written)")
    for col in ("file", "chars", "chunks", "est. LLM calls", "est. prompt tokens"):
        table.add_column(col, justify="left" if col == "file" else "right")
    sys_tokens = len(system_prompt(ontology)) // 4  # read once: the server caches it
    tot_calls = tot_tokens = 0
    for doc in documents:
        n = len(chunks[doc.id])
        asked = [c for c in chunks[doc.id] if len(c.text.strip()) >= MIN_SUMMARY_CHARS]
        calls = 0 if spacy_only else len(asked) + (_reduce_calls_estimate(n) if n > 1 else 0)
        tokens = 0 if spacy_only else sum(len(c.text) // 4 + 150 for c in asked)
        tot_calls += calls
        tot_tokens += tokens
        table.add_row(doc.path, str(doc.chars), str(n), str(calls), str(tokens))
    table.add_row(
        "[bold]total",
        str(sum(d.chars for d in documents)),
        str(sum(len(v) for v in chunks.values())),
        str(tot_calls),
        str(tot_tokens + (0 if spacy_only else sys_tokens)),
    )
    console.print(table)
    for s in manifest.skipped:
        console.print(f"[yellow]skipped[/] {s.path}: {s.reason}")
    console.print(
        "estimates assume an empty cache: one LLM-tier call per chunk with text to verify or "
        f"summarise, up to {MAX_OUTPUT_TOKENS} output tokens each"
    )


def _reduce_calls_estimate(n_chunks: int) -> int:
    # ~60 tokens per map summary, collapse groups of ~3000 tokens, then one final reduce
    groups = (n_chunks * 60) // 3000
    return 1 + (groups + 1 if groups else 0)
