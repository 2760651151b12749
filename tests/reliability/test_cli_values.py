"""Values the CLI used to accept silently, and small things a user notices (issue 25, 8 and 9).
The real CLI in-process (Typer's runner) over a real small workspace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from kg.models import Document

runner = CliRunner()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.real_kg import build_workspace

    return build_workspace(tmp_path_factory.mktemp("cli_values")).workspace


def _run(*args: str) -> object:
    return runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["extract", "examples/notes", "--concurrency", "0", "--dry-run"], "--concurrency"),
        (["load", "--batch-size", "0"], "--batch-size"),
        (["query", "RETURN 1", "-p", "noequals"], "name=value"),
        (["search", "k-means", "--mode", "cypher"], "not a search mode"),
    ],
)
def test_bad_values_are_refused(ws: Path, args: list[str], hint: str) -> None:
    result = _run(*args, "-w", str(ws))
    assert result.exit_code == 2, result.output
    assert hint in result.output, result.output


def test_search_json_is_one_object(ws: Path) -> None:
    result = _run("search", "clustering", "--json", "-w", str(ws))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict) and data["query"] == "clustering" and data["hits"]


def test_query_before_load_says_the_store_is_not_loaded(ws: Path) -> None:
    result = _run("query", "MATCH (n) RETURN count(n) AS n", "-w", str(ws))
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output and "kg load" in result.output


def test_titles_drop_the_markdown_hashes_and_citations_start_at_one(ws: Path) -> None:
    assert Document.from_text("a.md", "# R&D notes\n\nbody").title == "R&D notes"
    result = _run("ask", "What is K-means clustering?", "--no-llm", "-w", str(ws))
    assert result.exit_code == 0, result.output
    numbers = [int(n) for n in re.findall(r"^\s+\[(\d+)\]", result.output, re.M)]
    assert numbers and numbers == list(range(1, len(numbers) + 1)), result.output
