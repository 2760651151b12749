"""Entity resolution: one node per real thing, and an audit record for every merge.

Duplicate nodes ("LLM" and "large language model", "K-means" and "k means", "Ng" and "Andrew Ng")
are the most common complaint about LLM-built graphs, so merging is rule-based and conservative:
spelling variants, acronyms and short person names merge only when unambiguous, fuzzy matching
only for long names that differ by a typo, and never across incompatible types.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from rapidfuzz import fuzz

from kg.models import Entity, Merge
from kg.text import normalize_name, singular, words

# a typed entity may absorb an entity of the fallback type, except for these (a person called
# "Python" is not the tool)
NAMED_TYPES = frozenset({"Person", "Organization", "Location"})
FUZZY_MIN_LENGTH = 8
FUZZY_THRESHOLD = 93.0
_NEGATING_PREFIXES = (
    "un", "non", "semi", "self", "multi", "de", "dis", "in", "anti", "sub", "super", "pre",
    "post", "hyper", "co", "re", "bi", "mis",
)  # fmt: skip
_ACRONYM_STOP = frozenset({"of", "and", "the", "for", "in", "on", "to", "a", "an", "with"})


def compact_key(name: str) -> str:
    """Case/space/hyphen/plural-insensitive key: "K-means" == "k means" == "kmeans"."""
    words_ = words(normalize_name(name), split_apostrophes=True)
    if not words_:
        return normalize_name(name)
    words_[-1] = singular(words_[-1])
    return "".join(words_)


def acronym_of(name: str) -> str | None:
    """The acronym a multi-word name abbreviates to ("large language models" -> "llm")."""
    ws = [w for w in words(normalize_name(name), split_apostrophes=True) if w not in _ACRONYM_STOP]
    if len(ws) < 2:
        return None
    return "".join(w[0] for w in ws)


def as_acronym(name: str) -> str | None:
    """ "LLM", "LLMs", "CNNs" -> "llm", "llm", "cnn"; None for names that are not acronyms."""
    text = name.strip()
    m = re.fullmatch(r"([A-Z][A-Z0-9]{1,7})(s?)", text)
    if not m or not any(c.isalpha() for c in m.group(1)):
        return None
    return m.group(1).lower()


_TITLES = frozenset({"dr", "prof", "professor", "mr", "mrs", "ms", "miss", "sir", "dame"})


def person_words(name: str) -> list[str]:
    """Words of a person's name without titles: "Dr. Lena Okafor" -> ["lena", "okafor"]."""
    words = re.findall(r"[^\W\d_]+", normalize_name(name))
    return [w for w in words if w not in _TITLES] or words


def compatible(a: str, b: str, fallback: str) -> bool:
    if a == b:
        return True
    if fallback in (a, b):
        other = b if a == fallback else a
        return other not in NAMED_TYPES
    return False


def _digits(name: str) -> list[str]:
    return re.findall(r"\d+", name)


def _negation_variant(a: str, b: str) -> bool:
    """ "supervised learning" vs "unsupervised learning": similar strings, opposite things."""
    wa, wb = normalize_name(a).split(), normalize_name(b).split()
    if len(wa) != len(wb):
        return False
    for x, y in zip(wa, wb, strict=True):
        if x == y:
            continue
        short, long_ = sorted((x, y), key=len)
        prefix = long_[: len(long_) - len(short)]
        if long_.endswith(short) and prefix.rstrip("-") in _NEGATING_PREFIXES:
            return True
    return False


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def resolve(
    entities: list[Entity], *, fallback_type: str = "Concept"
) -> tuple[list[Entity], list[Merge]]:
    """Merge duplicates; returns the kept entities (sorted by id) and one Merge per merged one."""
    ents = sorted(entities, key=lambda e: e.id)
    n = len(ents)
    uf = _UnionFind(n)
    rules: dict[int, tuple[str, float]] = {}  # how each joining entity got in

    def link(i: int, j: int, rule: str, score: float = 1.0) -> None:
        if not compatible(_group_type(i), _group_type(j), fallback_type):
            return
        if uf.union(i, j):
            rules.setdefault(j, (rule, score))

    group_types: dict[int, set[str]] = {i: {e.type} for i, e in enumerate(ents)}

    def _group_type(i: int) -> str:
        types = group_types[uf.find(i)]
        specific = [t for t in types if t != fallback_type]
        return specific[0] if specific else fallback_type

    def _join(i: int, j: int, rule: str, score: float = 1.0) -> None:
        ri, rj = uf.find(i), uf.find(j)
        if ri == rj:
            return
        ti, tj = _group_type(i), _group_type(j)
        if not compatible(ti, tj, fallback_type):
            return
        link(i, j, rule, score)
        root = uf.find(i)
        group_types[root] = group_types.get(ri, set()) | group_types.get(rj, set())

    # 1. the same spelling (up to case, spaces, hyphens, articles and a plural ending);
    #    exact type matches first so that a Concept joins the most common typed spelling
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(ents):
        for name in (e.name, *e.aliases):
            by_key[compact_key(name)].append(i)
    for idx in by_key.values():
        idx = sorted(
            set(idx), key=lambda i: (ents[i].type == fallback_type, -len(ents[i].mentions), i)
        )
        for j in idx[1:]:
            if ents[j].type == ents[idx[0]].type:
                _join(idx[0], j, "same-name")
        for j in idx[1:]:
            _join(idx[0], j, "same-name")

    # 2. acronyms: "LLM" <-> "large language model", only when one expansion is known
    expansions: dict[str, set[int]] = defaultdict(set)
    for i, e in enumerate(ents):
        acr = acronym_of(e.name)
        if acr and len(acr) >= 2:
            expansions[acr].add(i)
    for i, e in enumerate(ents):
        acr = as_acronym(e.name)
        if not acr:
            continue
        roots = {uf.find(j) for j in expansions.get(acr, ())}
        if len(roots) == 1:
            _join(next(iter(expansions[acr])), i, "acronym")

    # 3. people: "Ng" -> "Andrew Ng" when exactly one known person has that first/last name
    people = [i for i, e in enumerate(ents) if e.type == "Person"]
    person_key = {i: person_words(ents[i].name) for i in people}
    by_person: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i in people:  # "Dr. Okafor" == "Okafor", "Prof Andrew Ng" == "Andrew Ng"
        by_person[tuple(person_key[i])].append(i)
    for idx in by_person.values():
        for j in idx[1:]:
            _join(idx[0], j, "person-title")
    full = [i for i in people if len(person_key[i]) >= 2]
    for i in people:
        words = person_key[i]
        if len(words) != 1 or len(words[0]) < 2:
            continue
        hits = {uf.find(j) for j in full if words[0] in (person_key[j][-1], person_key[j][0])}
        if len(hits) == 1:
            j = next(j for j in full if uf.find(j) in hits)
            _join(j, i, "person-short-name")

    # 4. typos in long names ("gradient decent"), same type only, digits must agree
    for i, j, score in _fuzzy_pairs(ents):
        if uf.find(i) == uf.find(j):
            continue
        if _digits(ents[i].name) != _digits(ents[j].name):
            continue
        if _negation_variant(ents[i].name, ents[j].name):
            continue
        _join(i, j, "fuzzy-name", round(score / 100, 3))

    return _collapse(ents, uf, rules, fallback_type)


def _fuzzy_pairs(ents: list[Entity]) -> list[tuple[int, int, float]]:
    """Similar long names of one type and word count; compared within prefix/suffix buckets."""
    from rapidfuzz import process

    buckets: dict[tuple[str, int, str], list[tuple[int, str]]] = defaultdict(list)
    for i, e in enumerate(ents):
        key = compact_key(e.name)
        if len(key) < FUZZY_MIN_LENGTH:
            continue
        words = len(e.name.split())
        buckets[(e.type, words, "p" + key[:2])].append((i, key))
        buckets[(e.type, words, "s" + key[-2:])].append((i, key))
    pairs: dict[tuple[int, int], float] = {}
    for members in buckets.values():
        if len(members) < 2:
            continue
        keys = [k for _, k in members]
        matrix = process.cdist(keys, keys, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD)
        for a, b in zip(*matrix.nonzero(), strict=True):
            i, j = members[a][0], members[b][0]
            ki, kj = members[a][1], members[b][1]
            if i < j and ki != kj and abs(len(ki) - len(kj)) <= 2:
                pairs[(i, j)] = float(matrix[a, b])
    return sorted((i, j, s) for (i, j), s in pairs.items())


def _collapse(
    ents: list[Entity],
    uf: _UnionFind,
    rules: dict[int, tuple[str, float]],
    fallback_type: str,
) -> tuple[list[Entity], list[Merge]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ents)):
        groups[uf.find(i)].append(i)
    kept: list[Entity] = []
    merges: list[Merge] = []
    for members in groups.values():
        if len(members) == 1:
            kept.append(ents[members[0]])
            continue
        keep = max(members, key=lambda i: _rank(ents[i], fallback_type))
        base = ents[keep].model_copy(deep=True)
        names: list[str] = list(base.aliases)
        for i in members:
            if i == keep:
                continue
            other = ents[i]
            if other.id == base.id:  # the same entity given twice: just pool its mentions
                base.mentions += other.mentions
                continue
            rule, score = _rule_for(i, keep, rules)
            merges.append(
                Merge(
                    kept_id=base.id,
                    merged_id=other.id,
                    kept_name=base.name,
                    merged_name=other.name,
                    type=base.type,
                    rule=rule,
                    score=score,
                )
            )
            names += [other.name, *other.aliases]
            base.mentions += other.mentions
            if len(other.description) > len(base.description):
                base.description = other.description
            if other.source == "llm":
                base.source = "llm"
        base.aliases = _uniq(n for n in names if normalize_name(n) != normalize_name(base.name))
        seen: set[tuple[str, int, int]] = set()
        mentions = []
        for m in sorted(base.mentions, key=lambda m: (m.doc_id, m.start, m.end)):
            if (m.doc_id, m.start, m.end) not in seen:
                seen.add((m.doc_id, m.start, m.end))
                mentions.append(m)
        base.mentions = mentions
        kept.append(base)
    kept.sort(key=lambda e: e.id)
    merges.sort(key=lambda m: (m.kept_id, m.merged_id))
    return kept, merges


def _rank(e: Entity, fallback_type: str) -> tuple[int, int, int, str]:
    """Keep the typed, most-mentioned, longest name (the acronym becomes an alias)."""
    return (e.type != fallback_type, len(e.mentions), len(e.name), e.id)


def _rule_for(i: int, keep: int, rules: dict[int, tuple[str, float]]) -> tuple[str, float]:
    return rules.get(i) or rules.get(keep) or ("same-group", 1.0)


def _uniq(names: Iterable[str]) -> list[str]:
    out: dict[str, str] = {}
    for n in names:
        out.setdefault(normalize_name(n), n)
    return sorted(out.values(), key=str.lower)
