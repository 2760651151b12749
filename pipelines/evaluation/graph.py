"""`kg eval graph`: does the workspace's graph hold the facts that the notes state outright?

Gold is JSONL, one fact a line: ``{file, head, head_type, relation, tail, tail_type, evidence}``
(``file`` relative to the corpus folder, ``evidence`` an exact substring of it). A gold name
matches an entity by normalised name, alias, canonical form, acronym or a conservative fuzzy rule
(pipelines.evaluation.names), by default only among the entities mentioned in the fact's file,
so that
"PCA" in one note is not credited by "PCA" in another.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.table import Table

from kg.errors import GoldFileError
from kg.models import Document, Entity, Relation
from kg.ontology import Ontology, load_ontology
from kg.workspace import Workspace
from pipelines.evaluation.names import NameIndex, NameMatch, tokens

FALLBACK_RELATION = "RELATED_TO"
KB = 10_000  # "entities per 10 KB": per 10,000 characters of document text


class GoldFact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str
    head: str
    head_type: str
    relation: str
    tail: str
    tail_type: str
    evidence: str
    head_aliases: list[str] = Field(default_factory=list)
    tail_aliases: list[str] = Field(default_factory=list)

    @field_validator("file", "head", "head_type", "relation", "tail", "tail_type", "evidence")
    @classmethod
    def _present(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


class FactRow(BaseModel):
    """One gold fact and what the graph holds for it, for debugging a low score."""

    file: str
    head: str
    relation: str
    tail: str
    head_match: str | None = None  # the best-matching entity's name
    head_rule: str | None = None
    head_typed: bool = False  # some matching entity has the gold type
    tail_match: str | None = None
    tail_rule: str | None = None
    tail_typed: bool = False
    edge_types: list[str] = Field(default_factory=list)  # relation types between the matches
    predicates: list[str] = Field(default_factory=list)  # open relations' verb phrases there
    found: bool = False  # an edge of any type, either direction
    typed: bool = False  # an edge of the gold type (direction kept unless symmetric)


class FileScore(BaseModel):
    facts: int
    fact_recall: float
    typed_fact_recall: float


class GraphEvalResult(BaseModel):
    gold: str
    facts: int
    gold_entities: int
    entity_recall: float
    typed_entity_recall: float
    fact_recall: float
    typed_fact_recall: float
    related_to_share: float
    entities: int
    relations: int
    chars: int
    entities_per_10kb: float
    same_file: bool = True
    missing_files: list[str] = Field(default_factory=list)
    by_file: dict[str, FileScore] = Field(default_factory=dict)
    rows: list[FactRow] = Field(default_factory=list)

    def summary(self) -> dict[str, float | int | str]:
        """The headline figures (what the CLI table shows)."""
        skip = {"rows", "by_file", "missing_files", "same_file"}
        return {k: v for k, v in self.model_dump().items() if k not in skip}


def load_gold(path: Path) -> list[GoldFact]:
    if not path.is_file():
        raise GoldFileError(f"gold file {path} not found")
    facts: list[GoldFact] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldFileError(f"gold file {path} unreadable: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            facts.append(GoldFact.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise GoldFileError(f"{path}:{n}: not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            raise GoldFileError(f"{path}:{n}: {where}: {first['msg']}") from exc
    if not facts:
        raise GoldFileError(f"gold file {path} holds no facts")
    return facts


def check_gold(facts: list[GoldFact], ontology: Ontology) -> list[str]:
    """Problems of the gold against an ontology (unknown types, disallowed head/tail types)."""
    problems = []
    for i, f in enumerate(facts, 1):
        for t in (f.head_type, f.tail_type):
            if ontology.entity_type(t) is None:
                problems.append(f"fact {i}: unknown entity type {t!r}")
        if ontology.relation_type(f.relation) is None:
            problems.append(f"fact {i}: unknown relation {f.relation!r}")
        elif not ontology.allows(f.relation, f.head_type, f.tail_type):
            problems.append(f"fact {i}: {f.head_type} {f.relation} {f.tail_type} not allowed")
    return problems


def _file_docs(file: str, docs: list[Document]) -> set[str]:
    def hit(path: str) -> bool:
        if path == file or path.endswith("/" + file):
            return True
        return "/" not in file and Path(path).name == file

    return {d.id for d in docs if hit(d.path)}


class _Graph:
    """The workspace graph with the look-ups the metric needs."""

    def __init__(self, entities: list[Entity], relations: list[Relation]) -> None:
        self.index = NameIndex(entities)
        self.by_doc: dict[str, set[int]] = defaultdict(set)
        self.unplaced: set[int] = set()  # entities without mentions may come from any file
        for i, ent in enumerate(entities):
            if not ent.mentions:
                self.unplaced.add(i)
            for m in ent.mentions:
                self.by_doc[m.doc_id].add(i)
        self.edges: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.predicates: dict[tuple[str, str], set[str]] = defaultdict(set)  # open relations
        for rel in relations:
            self.edges[(rel.head_id, rel.tail_id)].add(rel.type)
            if rel.predicate:
                self.predicates[(rel.head_id, rel.tail_id)].add(rel.predicate)

    def allowed(self, doc_ids: set[str] | None) -> set[int] | None:
        if doc_ids is None:
            return None
        out = set(self.unplaced)
        for d in doc_ids:
            out |= self.by_doc.get(d, set())
        return out

    def match(self, names: list[str], allowed: set[int] | None) -> list[NameMatch]:
        seen: dict[str, NameMatch] = {}
        for name in names:
            for m in self.index.match(name, allowed):
                if m.entity.id not in seen or m.strength < seen[m.entity.id].strength:
                    seen[m.entity.id] = m
        return sorted(seen.values(), key=lambda m: (m.strength, m.entity.name))


def _typed(matches: list[NameMatch], type_: str) -> bool:
    return any(m.entity.type == type_ for m in matches)


def _score_fact(
    fact: GoldFact, graph: _Graph, allowed: set[int] | None, symmetric: bool
) -> FactRow:
    heads = graph.match([fact.head, *fact.head_aliases], allowed)
    tails = graph.match([fact.tail, *fact.tail_aliases], allowed)
    row = FactRow(file=fact.file, head=fact.head, relation=fact.relation, tail=fact.tail)
    if heads:
        row.head_match, row.head_rule = heads[0].entity.name, heads[0].rule
        row.head_typed = _typed(heads, fact.head_type)
    if tails:
        row.tail_match, row.tail_rule = tails[0].entity.name, tails[0].rule
        row.tail_typed = _typed(tails, fact.tail_type)
    types: set[str] = set()
    predicates: set[str] = set()
    for h in heads:
        for t in tails:
            if h.entity.id == t.entity.id:
                continue
            forward = graph.edges.get((h.entity.id, t.entity.id), set())
            backward = graph.edges.get((t.entity.id, h.entity.id), set())
            types |= forward | backward
            predicates |= graph.predicates.get((h.entity.id, t.entity.id), set())
            predicates |= graph.predicates.get((t.entity.id, h.entity.id), set())
            if fact.relation in forward or (symmetric and fact.relation in backward):
                row.typed = True
    row.edge_types = sorted(types)
    row.predicates = sorted(predicates)
    row.found = bool(types)
    return row


def _ontology(name: str) -> Ontology:
    try:
        return load_ontology(name or "default")
    except (FileNotFoundError, ValueError):  # a custom YAML that moved: symmetry from default
        return load_ontology("default")


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def evaluate_graph(
    workspace: Workspace,
    gold: list[GoldFact],
    *,
    gold_name: str = "",
    same_file: bool = True,
    ontology: Ontology | None = None,
) -> GraphEvalResult:
    """Score ``workspace``'s graph against ``gold``; ``same_file=False`` matches names anywhere."""
    manifest = workspace.manifest()  # a clear error when there is no workspace
    onto = ontology or _ontology(manifest.ontology)
    docs = workspace.read("documents")
    entities = workspace.read("entities")
    relations = workspace.read("relations")
    graph = _Graph(entities, relations)

    rows: list[FactRow] = []
    missing: set[str] = set()
    entity_hits: dict[tuple[str, str], bool] = {}
    typed_hits: dict[tuple[str, str, str], bool] = {}
    for fact in gold:
        doc_ids = _file_docs(fact.file, docs)
        if not doc_ids:
            missing.add(fact.file)
        allowed = graph.allowed(doc_ids) if same_file else None
        rel_type = onto.relation_type(fact.relation)
        row = _score_fact(fact, graph, allowed, bool(rel_type and rel_type.symmetric))
        rows.append(row)
        for name, type_, match, typed in (
            (fact.head, fact.head_type, row.head_match, row.head_typed),
            (fact.tail, fact.tail_type, row.tail_match, row.tail_typed),
        ):
            key = (fact.file, " ".join(tokens(name)))
            entity_hits[key] = entity_hits.get(key, False) or match is not None
            tkey = (*key, type_)
            typed_hits[tkey] = typed_hits.get(tkey, False) or typed

    by_file: dict[str, FileScore] = {}
    for file in dict.fromkeys(f.file for f in gold):
        mine = [r for r in rows if r.file == file]
        by_file[file] = FileScore(
            facts=len(mine),
            fact_recall=_ratio(sum(r.found for r in mine), len(mine)),
            typed_fact_recall=_ratio(sum(r.typed for r in mine), len(mine)),
        )
    chars = sum(d.chars for d in docs)
    fallback = sum(r.type == FALLBACK_RELATION for r in relations)
    return GraphEvalResult(
        gold=gold_name,
        facts=len(gold),
        gold_entities=len(entity_hits),
        entity_recall=_ratio(sum(entity_hits.values()), len(entity_hits)),
        typed_entity_recall=_ratio(sum(typed_hits.values()), len(typed_hits)),
        fact_recall=_ratio(sum(r.found for r in rows), len(rows)),
        typed_fact_recall=_ratio(sum(r.typed for r in rows), len(rows)),
        related_to_share=_ratio(fallback, len(relations)),
        entities=len(entities),
        relations=len(relations),
        chars=chars,
        entities_per_10kb=round(len(entities) * KB / chars, 2) if chars else 0.0,
        same_file=same_file,
        missing_files=sorted(missing),
        by_file=by_file,
        rows=rows,
    )


def facts_table(result: GraphEvalResult, only_missed: bool = False) -> Table:
    """Per-fact rows as a rich table: what each gold name matched and which edges exist."""
    table = Table("file", "gold fact", "head →", "tail →", "edges", "ok", title="facts")
    for r in result.rows:
        if only_missed and r.typed:
            continue
        mark = "typed" if r.typed else ("edge" if r.found else "–")
        table.add_row(
            r.file[:12],
            f"{r.head} {r.relation} {r.tail}",
            f"{r.head_match} ({r.head_rule})" if r.head_match else "–",
            f"{r.tail_match} ({r.tail_rule})" if r.tail_match else "–",
            ",".join(r.edge_types) or "–",
            mark,
        )
    return table
