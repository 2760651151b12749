"""The layers read one way: app/ -> pipelines/ -> kg/. Every import counts, lazy ones too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a layer may import only the layers listed for it (and itself)
ALLOWED = {"kg": {"kg"}, "pipelines": {"kg", "pipelines"}, "app": {"kg", "pipelines", "app"}}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """Top-level project packages a file imports, with line numbers (function-level too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return [(line, name) for line, name in found if name in ALLOWED]


def wrong_way_imports() -> list[str]:
    bad = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((ROOT / layer).rglob("*.py")):
            for line, name in imported_packages(path):
                if name not in allowed:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


def test_no_import_runs_against_the_layers() -> None:
    assert wrong_way_imports() == []


def test_the_checker_sees_a_wrong_way_import(tmp_path: Path) -> None:
    """The scan is not vacuous: a lazy import inside a function is found."""
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from app.cli import app\n    import pipelines.load\n")
    assert imported_packages(src) == [(2, "app"), (3, "pipelines")]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_has_code(layer: str) -> None:
    assert any((ROOT / layer).rglob("*.py"))
