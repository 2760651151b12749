"""`kg --help` and every sub-command's help: Click-style types, no Typer ``<type>`` placeholders."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from app.cli import app

ROOT = typer.main.get_command(app)


def _paths(cmd: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, sub in getattr(cmd, "commands", {}).items():  # a group (Typer vendors Click)
        out += _paths(sub, (*prefix, name))
    return out


PATHS = _paths(ROOT)


def test_every_command_is_reached() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"", "extract", "ask", "search", "serve", "train", "eval", "eval scierc"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "kg")
def test_help_has_no_type_placeholders(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="kg", env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Usage: kg" in text and "--help" in text
    assert not re.search(r"<(bool|str|int|float|path|list\[[^\]]*\]|int range|float range)>", text)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage  # the usage line names arguments in capitals


def test_help_shows_click_style_types() -> None:
    ask = CliRunner().invoke(app, ["ask", "--help"], env={"COLUMNS": "200"}).output
    assert "[hybrid|bm25|vector|graph|cypher]" in ask and "INTEGER RANGE" in ask
    assert re.search(r"question\s+TEXT", ask)
    flags = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--version\s+Print", flags)  # nothing between a flag and its help
