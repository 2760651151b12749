"""Entity search by name (the Graph tab's "Find an entity", /v1/entities): whole words only."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.config import Settings
from kg.entity_search import search_names
from kg.models import Entity

NAMES = [
    ("sum", "Concept"), ("non", "Concept"), ("svc", "Tool"), ("PCA", "Method"),
    ("PCA whitening", "Method"), ("K-means clustering", "Method"), ("K-means", "Method"),
    ("Andrew Ng", "Person"), ("Ian Goodfellow", "Person"), ("StandardScaler", "Tool"),
    ("mean", "Concept"), ("elbow method", "Method"), ("Deep Learning", "Book"),
]  # fmt: skip
ENTITIES = [Entity.make(name, type_) for name, type_ in NAMES]


def names(query: str) -> list[str]:
    return [e.name for e in search_names(query, ENTITIES, limit=5)]


def test_a_query_matching_nothing_returns_nothing() -> None:
    assert names("zzzqqq-no-such") == []
    assert names("qwertyuiop") == []


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("PCA", "PCA"),
        ("k-means", "K-means"),
        ("andrew", "Andrew Ng"),
        ("goodfelow", "Ian Goodfellow"),  # a typo in a long word
        ("goodf", "Ian Goodfellow"),  # a name being typed
        ("sum", "sum"),
        ("the elbow", "elbow method"),
    ],
)
def test_whole_words_and_typos_match(query: str, first: str) -> None:
    found = names(query)
    assert found and found[0] == first


def test_no_substring_matches() -> None:
    assert "StandardScaler" not in names("andrew")  # "andr" inside "standard" is no match
    assert "mean" not in names("k-means clustering")[:2]
    assert names("non") == ["non"]


def test_the_facade_falls_back_to_whole_word_search(tmp_path: Path) -> None:
    from app.service import KG

    kg = KG(Settings(workspace=tmp_path / ".kg"), use_llm=False)
    kg.__dict__["_entities"] = {e.id: e for e in ENTITIES}  # the workspace's entities
    assert kg._name_search("zzzqqq-no-such", 10) == []
    assert [e.name for e in kg._name_search("andrew", 10)] == ["Andrew Ng"]
