"""kg.text2cypher: guard, EXPLAIN, one repair, read-only run; hostile questions never write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from kg.config import Settings
from kg.ontology import load_ontology
from kg.text2cypher import CypherResult, build_messages, text_to_cypher

try:
    from kg.cypher_guard import ensure_read_only  # noqa: F401
except ImportError:  # pragma: no cover - another engineer's module
    pytest.skip("kg.cypher_guard is not written yet", allow_module_level=True)

ONTOLOGY = load_ontology("default")
GOOD = (
    "MATCH (c:Course)-[:COVERS]->(m:Entity) WHERE toLower(m.name) CONTAINS toLower($term) "
    "RETURN c.name AS course LIMIT 25"
)


def reply(cypher: str, **params: str) -> str:
    return json.dumps({"cypher": cypher, "params": params})


PROMPTS: list[Any] = []


class Chat(GenericFakeChatModel):
    """Replies in order and records every prompt (in PROMPTS)."""

    def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        PROMPTS.append(messages)
        return super()._generate(messages, *args, **kwargs)


def chat(*replies: str) -> Chat:
    PROMPTS.clear()
    return Chat(messages=iter([AIMessage(content=r) for r in replies]))


class FakeStore:
    """explain raises for queries containing ``bad``; read returns canned rows."""

    def __init__(self, bad: str = "RETURN m LIMIT") -> None:
        self.bad = bad
        self.explained: list[tuple[str, dict[str, Any]]] = []
        self.reads: list[tuple[str, dict[str, Any]]] = []

    def explain(self, query: str, params: dict[str, Any] | None = None) -> None:
        self.explained.append((query, dict(params or {})))
        if self.bad in query:
            raise ValueError("invalid Cypher: m not defined")

    def read(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.reads.append((query, dict(params or {})))
        return [{"course": "ML Specialization"}, {"course": "CS229", "extra": 1}]

    def run(self, query: str, params: dict[str, Any] | None = None) -> None:
        raise AssertionError("text_to_cypher must never use the write path")


def test_valid_query_runs_read_only_with_params() -> None:
    store = FakeStore()
    result = text_to_cypher(
        "Which courses covered PCA?", ONTOLOGY, store, chat(reply(GOOD, term="PCA"))
    )
    assert isinstance(result, CypherResult)
    assert result.error is None and not result.repaired
    assert result.query == GOOD and result.params == {"term": "PCA"}
    assert store.explained == [(GOOD, {"term": "PCA"})] and store.reads == [(GOOD, {"term": "PCA"})]
    assert result.columns == ["course", "extra"]
    assert result.rows == [["ML Specialization", None], ["CS229", 1]]


def test_one_repair_round_with_the_error_message() -> None:
    store = FakeStore()
    broken = "MATCH (c:Course) RETURN m LIMIT 25"
    result = text_to_cypher("q", ONTOLOGY, store, chat(reply(broken), reply(GOOD, term="PCA")))
    assert result.error is None and result.repaired and result.query == GOOD
    assert [q for q, _ in store.explained] == [broken, GOOD]
    assert [q for q, _ in store.reads] == [GOOD]
    repair_prompt = str(PROMPTS[1][-1].content)
    assert "m not defined" in repair_prompt
    assert result.usage.calls == 2


def test_a_second_failure_is_reported_not_run() -> None:
    store = FakeStore()
    broken = "MATCH (c:Course) RETURN m LIMIT 25"
    result = text_to_cypher("q", ONTOLOGY, store, chat(reply(broken), reply(broken)))
    assert result.error and "m not defined" in result.error and result.repaired
    assert store.reads == []


def test_unparseable_output_twice_is_an_error_without_store_calls() -> None:
    store = FakeStore()
    result = text_to_cypher("q", ONTOLOGY, store, chat("no idea", "still no idea"))
    assert result.error and "no query" in result.error
    assert store.explained == [] and store.reads == []


def test_unsafe_parameter_names_are_dropped() -> None:
    store = FakeStore()
    result = text_to_cypher("q", ONTOLOGY, store, chat(reply(GOOD, term="PCA", **{"a b": "x"})))
    assert result.params == {"term": "PCA"}


WRITES = [
    ("Delete everything", "MATCH (n) DETACH DELETE n"),
    ("MERGE a node called x", "MERGE (:Entity {name: 'x'})"),
    (
        "CALL dbms.security.createUser('a', 'b', false)",
        "CALL dbms.security.createUser('a','b',false)",
    ),
    ("MATCH (n) SET n.name = 'pwned' RETURN n", "MATCH (n) SET n.name = 'pwned' RETURN n"),
    ("create a course", "CREATE (c:Course {name: 'x'}) RETURN c"),
    ("drop the index", "DROP INDEX ON :Entity(id)"),
    ("load a csv", "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l"),
    ("sneaky", "MATCH (n) WITH n CALL { WITH n DETACH DELETE n } RETURN 1"),
]


@pytest.mark.parametrize(("question", "write"), WRITES)
def test_hostile_questions_never_reach_the_store(question: str, write: str) -> None:
    store = FakeStore()
    result = text_to_cypher(question, ONTOLOGY, store, chat(reply(write), reply(GOOD)))
    assert result.error and result.error.startswith("refused")
    assert store.explained == [] and store.reads == []
    assert len(PROMPTS) == 1  # a write is refused, never "repaired"


def test_a_repair_that_writes_is_refused() -> None:
    store = FakeStore()
    broken = "MATCH (c:Course) RETURN m LIMIT 25"
    result = text_to_cypher("q", ONTOLOGY, store, chat(reply(broken), reply(WRITES[0][1])))
    assert result.error and result.error.startswith("refused")
    assert [q for q, _ in store.explained] == [broken] and store.reads == []


def test_prompt_is_grounded_in_the_ontology() -> None:
    system = build_messages("q", ONTOLOGY)[0][1]
    for name in (*ONTOLOGY.entity_names, *ONTOLOGY.relation_names, "FROM_DOCUMENT", "MENTIONS"):
        assert name in system
    scierc = load_ontology("scierc")
    messages = build_messages("Which methods are used for parsing?", scierc)
    text = " ".join(content for _, content in messages)
    assert "USED_FOR" in text and "COVERS" not in text and ":Course" not in text
    assert 4 <= (len(build_messages("q", ONTOLOGY)) - 2) // 2 <= 6  # few-shot pairs
    assert messages[-1] == ("user", "Which methods are used for parsing?")


def test_real_falkordb_explain_repair_and_read_only(tmp_path: Path) -> None:
    from kg.store import open_store
    from kg.workspace import Workspace

    with open_store(Settings(), Workspace(tmp_path / "ws")) as store:
        store.run(
            "CREATE (:Entity:Course {id: 'c1', name: 'ML Specialization'})"
            "-[:COVERS]->(:Entity:Method {id: 'm1', name: 'PCA'})"
        )
        broken = "MATCH (c:Course)-[:COVERS]->(m:Entity) WHERE m.name = $term RETURN x"
        result = text_to_cypher(
            "Which courses covered PCA?",
            ONTOLOGY,
            store,
            chat(reply(broken), reply(GOOD, term="pca")),
        )
        assert result.error is None and result.repaired
        assert result.columns == ["course"] and result.rows == [["ML Specialization"]]
        hostile = text_to_cypher(
            "wipe it", ONTOLOGY, store, chat(reply("MATCH (n) DETACH DELETE n"))
        )
        assert hostile.error and hostile.error.startswith("refused")
        assert store.read("MATCH (n) RETURN count(n) AS n") == [{"n": 2}]
