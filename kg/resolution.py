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
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from kg.models import Entity, Merge, stable_id
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
    """Words of a person's name without titles: "Dr. Jane Smith" -> ["jane", "smith"]."""
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


@dataclass
class Resolution:
    """What resolution decided: kept entities, applied merges, and merges left for a person."""

    entities: list[Entity]
    merges: list[Merge]
    candidates: list[Merge] = field(default_factory=list)


@dataclass
class _Why:
    rule: str
    score: float = 1.0
    reason: str = ""
    evidence: list[str] = field(default_factory=list)


def merge_id(a: str, b: str) -> str:
    """One id per pair of entity ids, in either order: what `kg merges accept|reject` takes."""
    return stable_id("merge", *sorted((a, b)))


def resolve(
    entities: list[Entity],
    *,
    fallback_type: str = "Concept",
    accept: Iterable[tuple[str, str]] = (),
    reject: Iterable[tuple[str, str]] = (),
) -> tuple[list[Entity], list[Merge]]:
    """Merge duplicates; returns the kept entities (sorted by id) and one Merge per merged one."""
    r = resolve_reviewed(entities, fallback_type=fallback_type, accept=accept, reject=reject)
    return r.entities, r.merges


def resolve_reviewed(
    entities: list[Entity],
    *,
    fallback_type: str = "Concept",
    accept: Iterable[tuple[str, str]] = (),
    reject: Iterable[tuple[str, str]] = (),
) -> Resolution:
    """Merge duplicates by the rules, minus the pairs a reviewer rejected, plus those accepted.

    A rule that fires but may not merge (types differ, no shared context, an ambiguous acronym)
    leaves a candidate instead; every applied merge says which rule, why and on what evidence.
    """
    ents = sorted(entities, key=lambda e: e.id)
    n = len(ents)
    uf = _UnionFind(n)
    why: dict[int, _Why] = {}  # how each joining entity got in
    members: dict[int, set[str]] = {i: {e.id} for i, e in enumerate(ents)}
    group_types: dict[int, set[str]] = {i: {e.type} for i, e in enumerate(ents)}
    rejected = {frozenset(p) for p in reject}
    proposals: dict[frozenset[str], tuple[int, int, _Why]] = {}
    docs = [frozenset(m.doc_id for m in e.mentions) for e in ents]

    def _group_type(i: int) -> str:
        types = group_types[uf.find(i)]
        specific = [t for t in types if t != fallback_type]
        return specific[0] if specific else fallback_type

    def propose(i: int, j: int, w: _Why) -> None:
        proposals.setdefault(frozenset((ents[i].id, ents[j].id)), (i, j, w))

    def blocked(ri: int, rj: int) -> bool:
        if not rejected:
            return False
        return any(frozenset((a, b)) in rejected for a in members[ri] for b in members[rj])

    def _join(i: int, j: int, w: _Why, force: bool = False) -> bool:
        ri, rj = uf.find(i), uf.find(j)
        if ri == rj:
            return False
        if not w.reason:
            w.reason = _REASONS.get(w.rule, w.rule)
        if not force and not compatible(_group_type(i), _group_type(j), fallback_type):
            w.reason += f"; not merged: types differ ({_group_type(i)} / {_group_type(j)})"
            propose(i, j, w)
            return False
        if blocked(ri, rj):
            propose(i, j, w)
            return False
        uf.union(i, j)
        why.setdefault(j, w)
        why.setdefault(i, w)  # either end may be the one folded into the group's kept name
        root = uf.find(i)
        group_types[root] = group_types.pop(ri, set()) | group_types.pop(rj, set())
        members[root] = members.pop(ri, set()) | members.pop(rj, set())
        return True

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
                _join(idx[0], j, _named("same-name", ents[idx[0]], ents[j]))
        for j in idx[1:]:
            _join(idx[0], j, _named("same-name", ents[idx[0]], ents[j]))

    # 2. head-noun variants: "K-means clustering" is "K-means" with a generic head noun; they
    #    merge when the types agree and both are mentioned in one document (else a candidate)
    for j, e in enumerate(ents):
        base = head_noun_base(e.name)
        if base is None:
            continue
        for i in sorted(set(by_key.get(base, ())) - {j}):
            w = _named("head-noun", ents[i], e)
            shared = docs[i] & docs[j]
            if not shared:
                w.reason += "; not merged: no document mentions both"
                propose(i, j, w)
                continue
            w.evidence.append(f"both mentioned in {len(shared)} document(s)")
            _join(i, j, w)

    # 3. acronyms: "LLM" <-> "large language model", only when one expansion is known
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
            j = min(expansions[acr])
            _join(j, i, _named("acronym", ents[j], e))
        else:
            for j in sorted(expansions.get(acr, ())):
                w = _named("acronym", ents[j], e)
                w.reason += f"; not merged: {len(roots)} expansions of {e.name!r} are known"
                propose(j, i, w)

    # 4. people: "Ng" -> "Andrew Ng" when exactly one known person has that first/last name
    people = [i for i, e in enumerate(ents) if e.type == "Person"]
    person_key = {i: person_words(ents[i].name) for i in people}
    by_person: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i in people:  # "Dr. Smith" == "Smith", "Prof Andrew Ng" == "Andrew Ng"
        by_person[tuple(person_key[i])].append(i)
    for idx in by_person.values():
        for j in idx[1:]:
            _join(idx[0], j, _named("person-title", ents[idx[0]], ents[j]))
    full = [i for i in people if len(person_key[i]) >= 2]
    for i in people:
        words = person_key[i]
        if len(words) != 1 or len(words[0]) < 2:
            continue
        hits = {uf.find(j) for j in full if words[0] in (person_key[j][-1], person_key[j][0])}
        if len(hits) == 1:
            j = next(j for j in full if uf.find(j) in hits)
            _join(j, i, _named("person-short-name", ents[j], ents[i]))

    # 5. typos in long names ("gradient decent"), same type only, digits must agree
    for i, j, score in _fuzzy_pairs(ents):
        if uf.find(i) == uf.find(j):
            continue
        if _digits(ents[i].name) != _digits(ents[j].name):
            continue
        if _negation_variant(ents[i].name, ents[j].name):
            continue
        w = _named("fuzzy-name", ents[i], ents[j], round(score / 100, 3))
        w.evidence.append(f"similarity {score:.0f}/100")
        _join(i, j, w)

    # 6. what a reviewer accepted: merged whatever the rules said (rejections still hold)
    index = {e.id: i for i, e in enumerate(ents)}
    for a, b in accept:
        if a in index and b in index:
            w = _named("accepted", ents[index[a]], ents[index[b]])
            w.reason = "accepted by a reviewer (kg merges accept)"
            _join(index[a], index[b], w, force=True)

    kept, merges = _collapse(ents, uf, why, fallback_type)
    for m in merges:
        if frozenset((m.kept_id, m.merged_id)) in {frozenset(p) for p in accept}:
            m.decision = "accept"
    candidates = []
    for pair, (i, j, w) in sorted(proposals.items(), key=lambda kv: sorted(kv[0])):
        if uf.find(i) == uf.find(j):
            continue
        status = "rejected" if pair in rejected else "candidate"
        candidates.append(
            Merge(
                id=merge_id(ents[i].id, ents[j].id),
                kept_id=ents[i].id,
                merged_id=ents[j].id,
                kept_name=ents[i].name,
                merged_name=ents[j].name,
                type=ents[i].type,
                rule=w.rule,
                score=w.score,
                reason=w.reason,
                evidence=w.evidence,
                status=status,
                decision="reject" if status == "rejected" else "",
            )
        )
    return Resolution(kept, merges, candidates)


_REASONS = {
    "same-name": "the same name up to case, spaces, hyphens, articles and a plural ending",
    "head-noun": "one name is the other with a generic head noun",
    "acronym": "one name is the acronym of the other",
    "person-title": "the same person's name with or without a title",
    "person-short-name": "the only known person with this first or last name",
    "fuzzy-name": "long names that differ by a typo",
}
# generic head nouns: "K-means clustering" names the same thing as "K-means" (language, not names)
GENERIC_HEADS = frozenset({
    "algorithm", "method", "technique", "approach", "model", "clustering", "library",
    "framework", "package", "tool", "function", "dataset", "platform",
})  # fmt: skip


def head_noun_base(name: str) -> str | None:
    """The compact key of ``name`` without a trailing generic head noun, or None.

    "K-means clustering" -> "kmean" (the key of "K-means"), "the sigmoid function" -> "sigmoid";
    a name that is only a generic word has no base.
    """
    words = re.findall(r"[^\W_]+", normalize_name(name))
    if len(words) < 2 or singular(words[-1]) not in GENERIC_HEADS:
        return None
    rest = words[:-1]
    if len(rest) == 1 and (singular(rest[0]) in GENERIC_HEADS or len(rest[0]) < 2):
        return None
    return compact_key(" ".join(rest))


def _named(rule: str, a: Entity, b: Entity, score: float = 1.0) -> _Why:
    w = _Why(rule, score, _REASONS.get(rule, rule))
    w.evidence.append(f"{a.name!r} ({a.type}) ~ {b.name!r} ({b.type})")
    return w


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
    why: dict[int, _Why],
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
            w = (
                why.get(i)
                or why.get(keep)
                or _Why("same-group", 1.0, "joined through another member")
            )
            merges.append(
                Merge(
                    kept_id=base.id,
                    merged_id=other.id,
                    kept_name=base.name,
                    merged_name=other.name,
                    type=base.type,
                    rule=w.rule,
                    score=w.score,
                    id=merge_id(base.id, other.id),
                    reason=w.reason,
                    evidence=list(w.evidence),
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


def _uniq(names: Iterable[str]) -> list[str]:
    out: dict[str, str] = {}
    for n in names:
        out.setdefault(normalize_name(n), n)
    return sorted(out.values(), key=str.lower)
