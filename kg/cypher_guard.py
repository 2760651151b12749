"""Reject any Cypher that could write or administer, before it reaches a store.

The check works on the query's code only: string literals, comments and backtick names are
masked first, so ``'create'`` inside a string is fine while ``CR/**/EATE``, unicode lookalikes
and zero-width characters are not. It is deliberately strict (an allow-list of read clauses and
procedures); stores also execute user Cypher read-only, so this is the first of two walls.

It also refuses reads that take a server down: expressions nested deeper than
``MAX_NESTING`` (FalkorDB's parser time doubles per level of brackets or prefix operators, past
any timeout: 40 levels hang a server thread) and aggregates in a list comprehension's body
(``[x IN l | count(*)]`` aborts the FalkorDB process). Both shapes come from the openCypher TCK.
"""

from __future__ import annotations

import re
import unicodedata

from kg.errors import MissingParameter, UnsafeCypherError

MAX_QUERY_CHARS = 20_000
# brackets plus prefix operators (NOT, unary -/+) in effect; 12 levels parse in ~10-100 ms,
# the TCK's real reads need at most 7
MAX_NESTING = 12
LIST_PREDICATES = frozenset({"ANY", "ALL", "NONE", "SINGLE", "REDUCE"})
AGGREGATES = frozenset(
    {"COUNT", "SUM", "AVG", "MIN", "MAX", "COLLECT", "STDEV", "STDEVP", "PERCENTILECONT",
     "PERCENTILEDISC"}
)  # fmt: skip

READ_STARTS = frozenset(
    {"MATCH", "OPTIONAL", "WITH", "UNWIND", "RETURN", "CALL", "EXPLAIN", "PROFILE"}
)

# words that write or administer anywhere in a query. Admin commands that can only open a
# statement (START/STOP DATABASE, TERMINATE, ENABLE, …) are caught by READ_STARTS instead, so
# that `start`, `stop` or `copy` stay usable as variable names.
FORBIDDEN = frozenset(
    {
        "CREATE", "MERGE", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "LOAD", "CSV",
        "FOREACH", "PERIODIC", "COMMIT", "TRANSACTIONS", "ALTER", "GRANT", "DENY", "REVOKE",
        "SHOW", "USE", "INSERT",
    }
)  # fmt: skip

# procedures that only read; matched case-insensitively on the full dotted name
ALLOWED_PROCEDURES = frozenset(
    {
        "db.labels", "db.relationshiptypes", "db.propertykeys", "db.indexes", "db.constraints",
        "db.schema.visualization", "db.schema.nodetypeproperties", "db.schema.reltypeproperties",
        "db.idx.fulltext.querynodes", "db.idx.fulltext.queryrelationships",
        "db.idx.vector.querynodes", "db.idx.vector.queryrelationships",
        "db.index.fulltext.querynodes", "db.index.fulltext.queryrelationships",
        "db.index.vector.querynodes", "db.index.vector.queryrelationships",
        "db.meta.stats", "algo.pagerank", "algo.bfs", "algo.wcc", "algo.betweenness",
        "algo.labelpropagation", "algo.sppaths", "algo.sspaths",
    }
)  # fmt: skip

# namespaces that can write or administer even as plain functions
FORBIDDEN_NAMESPACES = ("apoc.", "dbms.", "gds.", "db.create.", "tx.")

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\$?[A-Za-z0-9_.]+|''|`_`|\S")
_AS_BEFORE = re.compile(r"(?<![A-Z0-9_$.])AS\s*$")
_CALL = re.compile(r"\bCALL\s*([A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*|\{|\()?")


def _mask(query: str, *, comment_as: str) -> str:
    """The query with strings → ``''``, backtick names → `` `_` `` and comments → ``comment_as``.

    Raises on unterminated strings, names or comments: the database would see something else.
    """
    out: list[str] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        two = query[i : i + 2]
        if two == "//":
            end = query.find("\n", i)
            i = n if end == -1 else end
            out.append(comment_as)
        elif two == "/*":
            end = query.find("*/", i + 2)
            if end == -1:
                raise UnsafeCypherError("unterminated /* comment")
            i = end + 2
            out.append(comment_as)
        elif ch in "'\"":
            j = i + 1
            while j < n and query[j] != ch:
                j += 2 if query[j] == "\\" else 1
            if j >= n:
                raise UnsafeCypherError("unterminated string literal")
            out.append("''")
            i = j + 1
        elif ch == "`":
            j = query.find("`", i + 1)
            if j == -1:
                raise UnsafeCypherError("unterminated `name`")
            if query[j + 1 : j + 2] == "`":  # backends disagree on doubled backticks
                raise UnsafeCypherError("doubled backticks in a name are not allowed")
            out.append("`_`")
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _check_code(code: str) -> None:
    bad = sorted({c for c in code if not (c.isascii() and (c.isprintable() or c in "\t\n\r"))})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise UnsafeCypherError(f"non-ASCII or control characters outside strings ({shown})")
    body = code.strip()
    if body.endswith(";"):
        body = body[:-1]
    if ";" in body:
        raise UnsafeCypherError("only one statement is allowed (found ';')")
    upper = re.sub(r"\s*\.\s*", ".", body.upper())
    words = [m for m in _WORD.finditer(upper)]
    if not words:
        raise UnsafeCypherError("empty query")
    if words[0].group() not in READ_STARTS:
        raise UnsafeCypherError(
            f"a read query must start with MATCH, WITH, RETURN, … not {words[0].group()}"
        )
    for m in words:
        word = m.group()
        if word in FORBIDDEN and upper[max(0, m.start() - 1) : m.start()] not in (".", "$"):
            if _AS_BEFORE.search(upper, 0, m.start()):
                continue  # an alias (`RETURN n.name AS create`) is only a name
            raise UnsafeCypherError(f"{word} is not allowed: queries here are read-only")
    lower = upper.lower()
    for ns in FORBIDDEN_NAMESPACES:
        if re.search(rf"(?<![a-z0-9_.$]){re.escape(ns)}", lower):
            raise UnsafeCypherError(f"{ns}* procedures and functions are not allowed")
    for m in _CALL.finditer(upper):
        target = m.group(1)
        if target is None:
            raise UnsafeCypherError("CALL must name an allowed procedure or open a subquery")
        if target in ("{", "("):
            continue
        proc = re.sub(r"\s+", "", target).lower()
        if proc not in ALLOWED_PROCEDURES:
            raise UnsafeCypherError(f"procedure {proc} is not on the read-only allow-list")
    _check_shape(body)


def _too_deep() -> UnsafeCypherError:
    return UnsafeCypherError(
        f"expression nested more than {MAX_NESTING} levels deep (brackets and NOT/-/+ chains): "
        "it would stall the store"
    )


class _Frame:
    """One open bracket: the nesting outside it, and whether a comprehension body has begun."""

    __slots__ = ("base", "body", "kind", "run")

    def __init__(self, base: int, run: int, kind: str) -> None:
        self.base, self.run, self.kind, self.body = base, run, kind, False


def _check_shape(code: str) -> None:
    """Refuse the shapes that hang or crash the store (see the module docstring)."""
    stack: list[_Frame] = []
    base = run = 0  # nesting of the current bracket; prefix operators since the last operand
    tokens = _TOKEN.findall(code)
    for i, tok in enumerate(tokens):
        up = tok.upper()
        if tok in "([{":
            before = tokens[i - 1].upper() if i else ""
            kind = "pred" if tok == "(" and before in LIST_PREDICATES else tok
            stack.append(_Frame(base, run, kind))
            base, run = base + run + 1, 0
            if base > MAX_NESTING:
                raise _too_deep()
        elif tok in ")]}":
            if stack:
                frame = stack.pop()
                base = frame.base
            run = 0
        elif up == "NOT" or tok in "+-":
            run += 1
            if base + run > MAX_NESTING:
                raise _too_deep()
        elif tok[0].isalnum() or tok[0] in "_$'`":
            run = 0
            if up == "WHERE" and stack and stack[-1].kind in ("[", "pred"):
                stack[-1].body = True
            elif up in AGGREGATES and tokens[i + 1 : i + 2] == ["("] and any(f.body for f in stack):
                raise UnsafeCypherError(
                    f"{tok}() inside a list comprehension or predicate (any/all/none/single/"
                    "reduce) is not supported (the store crashes or answers wrongly); aggregate "
                    "first, e.g. WITH count(*) AS c RETURN [x IN l | c]"
                )
        elif tok == "|" and stack and stack[-1].kind in ("[", "pred"):
            stack[-1].body = True


def ensure_read_only(query: str) -> str:
    """Return the query (trimmed, one trailing ``;`` dropped) if it can only read; else raise."""
    if not isinstance(query, str):
        raise UnsafeCypherError("query must be a string")
    if len(query) > MAX_QUERY_CHARS:
        raise UnsafeCypherError(f"query longer than {MAX_QUERY_CHARS} characters")
    if "\x00" in query:
        raise UnsafeCypherError("NUL byte in query")
    normalised = unicodedata.normalize("NFKC", query)
    # the original is what the database parses; the NFKC form catches lookalikes that a
    # lenient parser might fold; comments are checked both removed and as token breaks
    for text in dict.fromkeys((query, normalised)):
        for comment_as in (" ", ""):
            _check_code(_mask(text, comment_as=comment_as))
    cleaned = query.strip()
    return cleaned[:-1].rstrip() if cleaned.endswith(";") else cleaned


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def missing_parameters(query: str, params: dict[str, object] | None) -> None:
    """Raise MissingParameter naming every ``$name`` in the query's code that ``params`` lacks
    (stores report these obliquely, e.g. "Limit operates only on non-negative integers")."""
    used = dict.fromkeys(_PARAM.findall(_mask(query, comment_as=" ")))
    missing = [name for name in used if name not in (params or {})]
    if missing:
        names = ", ".join(f"${n}" for n in missing)
        how = " ".join(f"-p {n}=…" for n in missing)
        raise MissingParameter(
            f"the query needs parameter{'s' if len(missing) > 1 else ''} {names}: pass "
            f"{how} to kg query, the Parameters field of the Cypher tab, or \"params\" to the API"
        )
