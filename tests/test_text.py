"""kg/text.py is the one place words are read: every stage gets the same singular and words."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kg.text import normalize_name, singular, squash_space, stem, tokenize, words

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("networks", "network"),
        ("libraries", "library"),
        ("classes", "class"),
        ("boxes", "box"),
        ("gans", "gan"),
        ("loss", "loss"),
        ("corpus", "corpus"),
        ("analysis", "analysis"),
        ("gas", "gas"),  # three letters or fewer stay
        ("l1s", "l1s"),  # not a plain word
    ],
)
def test_singular(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_words_keep_or_split_apostrophes() -> None:
    assert words("Today's Topics: K-means, café") == ["today's", "topics", "k", "means", "café"]
    assert words("Today's", split_apostrophes=True) == ["today", "s"]
    assert words("snake_case") == ["snake", "case"]


def test_stem_and_tokenize_are_snowball() -> None:
    assert stem("dying") == "die"
    assert tokenize("Cells are dying in the tissue") == ["cell", "die", "tissu"]


def test_normalize_name_and_squash_space() -> None:
    assert normalize_name("  The   Transformer! ") == "transformer"
    assert squash_space("A\n  b\tC") == "a b c"


def test_no_other_module_defines_its_own_singular_words_or_stem() -> None:
    """One copy only (kg/answer* is being rewritten separately and keeps its light stem)."""
    own = {"singular", "words", "stem", "tokenize", "normalize_name"}
    offenders = []
    for path in [*ROOT.glob("kg/**/*.py"), *ROOT.glob("pipelines/**/*.py"), *ROOT.glob("app/*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel == "kg/text.py" or rel.startswith("kg/answer"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [
            f"{rel}:{node.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name in own
        ]
    # structure_vocab.words is singularised words for header matching, built on kg.text
    assert offenders == ["pipelines/extraction/structure_vocab.py:words"]
