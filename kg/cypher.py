"""Load parameterised Cypher from ``cypher/*.cypher`` by name.

Values always travel as ``$parameters``. Labels and relationship types cannot, so a file may
hold ``{{label}}`` / ``{{rel_type}}`` placeholders, filled here only with names that pass the
ontology's identifier rules; anything else raises before a query is built.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kg.ontology import _LABEL, _REL

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
# which identifier rule applies to each placeholder
_RULES: dict[str, re.Pattern[str]] = {"label": _LABEL, "rel_type": _REL}


def cypher_dir() -> Path:
    """The repo's ``cypher/`` (next to the ``kg`` package) or the wheel's ``kg/_cypher``."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "cypher", here / "_cypher"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no cypher/ directory next to {here} (broken installation?)")


@lru_cache(maxsize=256)
def _raw(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad Cypher file name {name!r}")
    path = cypher_dir() / f"{name}.cypher"
    if not path.is_file():
        raise FileNotFoundError(f"no Cypher file {path}")
    return path.read_text(encoding="utf-8")


def safe_identifier(kind: str, value: str) -> str:
    """Check a label / relationship type against the ontology's rules (never user text)."""
    rule = _RULES.get(kind)
    if rule is None:
        raise ValueError(f"unknown Cypher placeholder {{{{{kind}}}}}")
    if not isinstance(value, str) or not rule.match(value):
        raise ValueError(f"{value!r} is not a safe {kind} (see kg/ontology.py)")
    return value


def cypher(name: str, **identifiers: str) -> str:
    """The text of ``cypher/<name>.cypher`` with its placeholders filled by safe identifiers."""
    text = _raw(name)
    wanted = set(_PLACEHOLDER.findall(text))
    if wanted != set(identifiers):
        raise ValueError(
            f"cypher {name!r} needs identifiers {sorted(wanted)}, got {sorted(identifiers)}"
        )
    values = {k: safe_identifier(k, v) for k, v in identifiers.items()}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def strip_comments(text: str) -> str:
    """Drop whole-line ``//`` comments (kg's files keep comments on their own lines)."""
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("//")).strip()


def statements(name: str, **identifiers: str) -> list[str]:
    """A multi-statement file (schema) split on ``;`` at line ends, comments removed."""
    body = strip_comments(cypher(name, **identifiers))
    parts = re.split(r";\s*(?:\n|$)", body)
    return [p.strip() for p in parts if p.strip()]


def names(folder: str) -> list[str]:
    """The Cypher file names under a folder, e.g. ``names("upsert")``."""
    base = cypher_dir()
    return sorted(
        str(p.relative_to(base).with_suffix("")) for p in (base / folder).rglob("*.cypher")
    )


@dataclass(frozen=True)
class BrowserQuery:
    """A ready-made query for Neo4j Browser / the app, with default parameters."""

    name: str
    description: str
    query: str
    params: dict[str, Any] = field(default_factory=dict)


def _parse_browser(name: str, text: str) -> BrowserQuery:
    description: list[str] = []
    params: dict[str, Any] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("//"):
            continue
        comment = stripped[2:].strip()
        if comment.lower().startswith("params:"):
            params = json.loads(comment.split(":", 1)[1])
        elif comment:
            description.append(comment)
    if not description:
        raise ValueError(f"browser query {name!r} has no // description line")
    return BrowserQuery(
        name=re.sub(r"^\d+_", "", name.removeprefix("browser/")),
        description=" ".join(description),
        query=strip_comments(text).rstrip(";").strip(),
        params=params,
    )


def browser_queries() -> list[BrowserQuery]:
    """Every ``cypher/browser/*.cypher``: first comment lines describe it, ``// params: {json}``
    gives default parameters."""
    return [_parse_browser(n, _raw(n)) for n in names("browser")]
