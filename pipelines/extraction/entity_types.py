"""Notes entity types: one type per name across the corpus, each with the reason it was chosen.

The trained tier knows SciERC's types (Method, Task, Material ...) and spaCy's NER knows people
and organisations, but neither knows a course, a book or a library. Notes say what a name is in
their structure (a "Resources" column, a heading over a list) and in the words around it ("the
X course", "the X library", "pip install X", "X.com", "the book X"): the ontology declares those
context cues per type (``context:``), so no name is listed in code. A cue also finds the whole
name where the taggers split it ("the course **Introduction to Data Science with R**"), and a
name found so is then looked for in every chunk of the corpus.

The decision per name, strongest first: structure rules, context cues, the LLM, spaCy's NER
(when the name looks like what NER says: a person's name is capitalised words, and one word only
with a title or as part of a full name elsewhere), the trained tier's vote, the fallback type.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kg.models import Entity, Mention, Relation, entity_id, normalize_name
from kg.ontology import Ontology
from pipelines.extraction.junk import junk_filter, word_list
from pipelines.extraction.results import ChunkResult
from pipelines.extraction.spans import find_spans

STRUCTURE_SOURCES = frozenset({"table", "heading", "list"})
DROP = ""  # the decision for a name that is no entity at all
# a name in emphasis or code: **Name**, *Name*, `name`, "Name"
_MARKED = re.compile(r"\*\*([^*\n]{2,80})\*\*|(?<!\*)\*([^*\n]{2,80})\*(?!\*)|`([^`\n]{2,60})`"
                     r"|\"([^\"\n]{2,60})\"|“([^”\n]{2,60})”")  # fmt: skip
# capitalised words, with lower-case joiners inside: "Introduction to Data Science with R"
_CAP = r"(?:[A-Z0-9][\w.+#'&-]*[\w+#]|[A-Z])"
_JOIN = r"(?:of|with|for|and|to|in|on|the|from|&|a|an)"
_TITLE = re.compile(rf"{_CAP}(?:[ \t]+(?:{_JOIN}[ \t]+)*{_CAP})*")
# one identifier-like word: "scikit-learn", "matplotlib", "PyTorch"
_WORD = re.compile(r"[A-Za-z][\w+#-]*[\w+#]")
_LEADING = re.compile(r"^(?:the|a|an|my|our|this|that)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Cue:
    """One context cue of the ontology, split around its X."""

    type: str
    template: str
    before: re.Pattern[str] | None  # matches the text ending right before the name
    after: re.Pattern[str] | None  # matches the text starting right after it
    free_word: bool  # a code cue: a plain lower-case word may be the name ("import numpy")
    literals: tuple[re.Pattern[str], ...] = ()  # its words anywhere: a chunk without them skips it

    def possible(self, text: str) -> bool:
        return all(p.search(text) for p in self.literals)


def _literal(words: str) -> str:
    parts = [re.escape(w) for w in words.split()]
    return r"\s+".join(parts)


def compile_cues(ontology: Ontology) -> list[Cue]:
    cues = []
    for t in ontology.entity_types:
        for template, code in [
            *((x, False) for x in t.context),
            *((x, True) for x in t.code_context),
        ]:
            left, right = re.split(r"(?<![A-Za-z])X(?![A-Za-z])", template, maxsplit=1)
            before = after = None
            if left.strip():
                sep = r"\s+" if left.endswith(" ") else ""
                before = re.compile(rf"(?<![\w]){_literal(left)}{sep}$", re.IGNORECASE)
            if right.strip():
                sep = r"\s+" if right.startswith(" ") else ""
                after = re.compile(rf"^{sep}{_literal(right)}(?![\w])", re.IGNORECASE)
            literals = tuple(re.compile(_literal(part), re.IGNORECASE)
                             for part in (left, right) if part.strip())  # fmt: skip
            cues.append(Cue(t.name, template, before, after, code, literals))
    return cues


@dataclass
class Found:
    """A name a context cue typed in one chunk (chunk offsets)."""

    name: str
    type: str
    start: int
    end: int
    reason: str


def _candidates(text: str, known: Iterable[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Spans that may be a name: marked spans, title runs, single words, known mentions."""
    out: list[tuple[int, int, str]] = []
    for m in _MARKED.finditer(text):
        g = next(i for i in range(1, 6) if m.group(i) is not None)
        out.append((m.start(g), m.end(g), "marked"))
    for m in _TITLE.finditer(text):
        out.append((m.start(), m.end(), "title"))
        # suffixes of a run too: "Yesterday Intro DS course" -> "Intro DS"
        for w in re.finditer(r"[ \t]+(?=[A-Z0-9])", m.group()):
            out.append((m.start() + w.end(), m.end(), "title"))
    for m in _WORD.finditer(text):
        out.append((m.start(), m.end(), "word"))
    out += [(s, e, "known") for s, e in known]
    return out


def find_context_types(text: str, cues: Sequence[Cue], known: Iterable[tuple[int, int]],
                       ontology: Ontology) -> list[Found]:  # fmt: skip
    """Names the context cues type in ``text`` (longest first where they overlap)."""
    junk = junk_filter(ontology)
    cues = [c for c in cues if c.possible(text)]
    found: list[Found] = []
    if not cues:
        return found
    for s, e, how in _candidates(text, list(known)):
        raw = text[s:e]
        name = _LEADING.sub("", raw.strip(" *_`\"'“”.,;:()")).strip()
        if not name or len(name.split()) > ontology.structure.max_words:
            continue
        if how == "title" and " " not in name and _sentence_start(text, s):
            continue  # "Right model neither ...": a capital that only opens the sentence
        for cue in cues:
            if not _fits(cue, text, s, e, how):
                continue
            plain = how == "word" and name.replace("-", "").isalpha() and name.islower()
            if plain and not cue.free_word:
                continue
            if junk(name):
                continue
            lead = raw.find(name)
            found.append(Found(name, cue.type, s + max(lead, 0), s + max(lead, 0) + len(name),
                               f"context: {cue.template!r}"))  # fmt: skip
    # longest wins where two overlap
    found.sort(key=lambda f: (-(f.end - f.start), f.start))
    kept: list[Found] = []
    for f in found:
        if all(f.end <= k.start or k.end <= f.start for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def _sentence_start(text: str, s: int) -> bool:
    before = text[:s].rstrip(" \t*_#>-•")
    return not before or before[-1] in ".!?:\n"


def _fits(cue: Cue, text: str, s: int, e: int, how: str) -> bool:
    """Does the text around ``text[s:e]`` read as ``cue``?"""
    if cue.before is None and cue.after is None:
        return False
    if cue.template.strip() == "`X`":  # a code span
        return how == "marked" and text[s - 1 : s] == "`" and text[e : e + 1] == "`"
    pre, post = text[max(0, s - 42) : s], text[e : e + 42]
    if how == "marked":  # the cue sits outside the marks
        pre, post = pre.rstrip('*`"“'), post.lstrip('*`"”')
    if cue.before is not None and not cue.before.search(pre):
        return False
    if cue.after is None:
        return True
    m = cue.after.search(post)
    # "Large Language Model": a capitalised cue word belongs to the name, it does not type it
    return bool(m) and not any(ch.isupper() for ch in m.group().strip()[:1])


class TypeEvidence:
    """What the corpus says about each name's type, gathered before the decision."""

    def __init__(self) -> None:
        self.context: dict[str, Counter[str]] = defaultdict(Counter)
        self.context_reason: dict[tuple[str, str], str] = {}
        self.names: dict[str, str] = {}  # key -> the name as first found by a cue

    def add(self, f: Found) -> None:
        key = normalize_name(f.name)
        self.context[key][f.type] += 1
        self.context_reason.setdefault((key, f.type), f.reason)
        self.names.setdefault(key, f.name)


def discover_names(results: dict[str, ChunkResult], ontology: Ontology) -> TypeEvidence:
    """Context-cue names of every chunk; new ones become entities, overlapped mentions go."""
    cues = compile_cues(ontology)
    evidence = TypeEvidence()
    for r in results.values():
        c = r.chunk
        known = [(m.start - c.start, m.end - c.start) for e in r.entities for m in e.mentions]
        for f in find_context_types(c.text, cues, known, ontology):
            evidence.add(f)
            _claim(r, f.name, f.type, [(f.start, f.end)], "context")
    return evidence


def propagate(results: dict[str, ChunkResult], evidence: TypeEvidence,
              ontology: Ontology) -> int:  # fmt: skip
    """Look for every cue-found name of two or more words in every chunk; returns mentions added."""
    added = 0
    names = [(k, n) for k, n in evidence.names.items() if len(n.split()) > 1]
    for r in results.values():
        low = r.chunk.text.lower()
        for key, name in names:
            if name.split()[0].lower() not in low:
                continue
            type_ = evidence.context[key].most_common(1)[0][0]
            spans = find_spans(name, r.chunk.text)
            if spans:
                added += _claim(r, name, type_, spans, "context")
    return added


def _claim(r: ChunkResult, name: str, type_: str, spans: list[tuple[int, int]],
           source: str) -> int:  # fmt: skip
    """Put ``name`` at ``spans`` (chunk offsets) in ``r``; other mentions overlapping them go."""
    c = r.chunk
    doc_spans = [(c.start + s, c.start + e) for s, e in spans]
    ent = next((e for e in r.entities if normalize_name(e.name) == normalize_name(name)), None)
    if ent is None:
        ent = Entity.make(name, type_, source=source)
        r.entities.append(ent)
    new = 0
    for s, e in doc_spans:
        if any((m.start, m.end) == (s, e) for m in ent.mentions):
            continue
        ent.mentions.append(Mention(chunk_id=c.id, doc_id=c.doc_id, start=s, end=e,
                                    text=c.text[s - c.start : e - c.start]))  # fmt: skip
        new += 1
    for other in r.entities:
        if other is ent:
            continue
        other.mentions = [
            m for m in other.mentions if all(_compatible(m, s, e) for s, e in doc_spans)
        ]
    _drop_orphans(r)
    return new


def _compatible(m: Mention, s: int, e: int) -> bool:
    """A mention may stay beside a claimed span: apart, the same span, or a longer name around."""
    apart = m.end <= s or e <= m.start
    return apart or (m.start, m.end) == (s, e) or (m.start <= s and e <= m.end)


def _drop_orphans(r: ChunkResult) -> None:
    ids = {e.id for e in r.entities if e.mentions}
    r.entities = [e for e in r.entities if e.id in ids]
    r.relations = [
        x for x in r.relations if x.relation.head_id in ids and x.relation.tail_id in ids
    ]
    r.candidates = [
        x for x in r.candidates if x.relation.head_id in ids and x.relation.tail_id in ids
    ]


# ------------------------------------------------------------------------- the decision

_TITLED = re.compile(r"(?:Dr|Prof|Professor|Mr|Mrs|Ms|Sir|Dame)\.?\s+$")
# lower-case words inside a person's name: "Ludwig van Beethoven", "Leonardo da Vinci"
NAME_PARTICLES = word_list("van von de da di del der den la le du dos bin ibn al")
_NAME_WORD = re.compile(r"^(?:[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*|[A-Z]\.?|[A-Z][a-z]?\.)$")


_ONE_WORD = "one word, without a title or a full name elsewhere"


def person_problem(name: str, full_names: set[str], titled: set[str]) -> str | None:
    """Why spaCy's PERSON is not believable for ``name`` (None when it is)."""
    words = name.split()
    inner = words[1:-1]
    if not all(_NAME_WORD.match(w) for w in words if w not in inner or w not in NAME_PARTICLES):
        return "not capitalised name words"
    if len(words) == 1 and normalize_name(name) not in titled and name not in full_names:
        return _ONE_WORD
    return None


def decide_types(results: dict[str, ChunkResult], evidence: TypeEvidence,
                 ontology: Ontology) -> dict[str, tuple[str, str]]:  # fmt: skip
    """One (type, reason) per normalised name over the whole corpus."""
    fallback = ontology.fallback_entity_type
    votes: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    display: dict[str, str] = {}
    titled: set[str] = set()
    person_words: set[str] = set()
    for r in results.values():
        for e in r.entities:
            key = normalize_name(e.name)
            display.setdefault(key, e.name)
            group = (
                "structure"
                if e.source in STRUCTURE_SOURCES
                else e.source
                if e.source in {"llm", "trained", "context"}
                else "ner"
            )
            votes[key][group][e.type] += max(1, len(e.mentions))
            if e.type == "Person":
                words = e.name.split()
                if len(words) > 1 and person_problem(e.name, set(), set()) in (None, _ONE_WORD):
                    person_words.update(words)
                for m in e.mentions:
                    pre = r.chunk.text[
                        max(0, m.start - r.chunk.start - 12) : m.start - r.chunk.start
                    ]
                    if _TITLED.search(pre):
                        titled.add(key)
    decided: dict[str, tuple[str, str]] = {}
    for key, groups in votes.items():
        decided[key] = _decide(key, display[key], groups, evidence, person_words, titled, fallback)
    return decided


def _decide(
    key: str,
    name: str,
    groups: dict[str, Counter[str]],
    evidence: TypeEvidence,
    person_words: set[str],
    titled: set[str],
    fallback: str,
) -> tuple[str, str]:
    specific = {
        g: Counter({t: n for t, n in c.items() if t != fallback}) for g, c in groups.items()
    }
    if specific.get("structure"):
        t, n = specific["structure"].most_common(1)[0]
        return t, f"structure: a table column, heading or label ({n} mentions)"
    if evidence.context.get(key):
        t = evidence.context[key].most_common(1)[0][0]
        return t, evidence.context_reason[(key, t)]
    if specific.get("llm"):
        return specific["llm"].most_common(1)[0][0], "llm"
    ner = specific.get("ner", Counter())
    for t, _ in ner.most_common():
        if t == "Person":
            problem = person_problem(name, person_words, titled)
            if problem is None:
                return t, "ner: a person's name"
            continue
        if t == "Organization" and len(name.split()) == 1 and name in person_words:
            return "Person", "ner: part of a person's full name"
        return t, f"ner: {t}"
    if len(name.split()) == 1 and name in person_words:
        return "Person", "part of a person's full name"
    trained = specific.get("trained", Counter())
    if trained:
        t, n = trained.most_common(1)[0]
        return t, f"trained vote: {t} ({n} of {sum(groups.get('trained', Counter()).values())})"
    if "Person" in ner:
        problem = person_problem(name, person_words, titled) or ""
        if len(name.split()) > 1:  # a span NER cut wrongly ("Ran K-means"): not a name at all
            return DROP, "ner PERSON refused: " + problem
        return fallback, "ner PERSON refused: " + problem
    return fallback, "fallback"


def retype(results: dict[str, ChunkResult], decided: dict[str, tuple[str, str]]) -> int:
    """Give every entity its name's decided type and reason; relation ends follow the new ids."""
    changed = 0
    for r in results.values():
        remap: dict[str, str] = {}
        for e in r.entities:
            want = decided.get(normalize_name(e.name))
            if want is None:
                continue
            e.type_reason = want[1]
            if want[0] == DROP:
                e.mentions = []
                continue
            if want[0] != e.type:
                new_id = entity_id(e.name, want[0])
                remap[e.id] = new_id
                e.id, e.type = new_id, want[0]
                changed += 1
        if remap:
            _remap_relations(r, remap)
        _merge_duplicates(r)
        _drop_orphans(r)
    return changed


def _remap_relations(r: ChunkResult, remap: dict[str, str]) -> None:
    for rs in [*r.relations, *r.candidates]:
        rel = rs.relation
        head, tail = remap.get(rel.head_id, rel.head_id), remap.get(rel.tail_id, rel.tail_id)
        if (head, tail) != (rel.head_id, rel.tail_id):
            rs.relation = Relation.make(
                head, rel.type, tail, evidence=rel.evidence, confidence=rel.confidence,
                extractor=rel.extractor, description=rel.description, predicate=rel.predicate,
            )  # fmt: skip
    r.relations = [x for x in r.relations if x.relation.head_id != x.relation.tail_id]


def _merge_duplicates(r: ChunkResult) -> None:
    by_id: dict[str, Entity] = {}
    for e in r.entities:
        known = by_id.get(e.id)
        if known is None:
            by_id[e.id] = e
            continue
        seen = {(m.start, m.end) for m in known.mentions}
        known.mentions += [m for m in e.mentions if (m.start, m.end) not in seen]
    r.entities = list(by_id.values())


def type_entities(results: dict[str, ChunkResult], ontology: Ontology
                  ) -> tuple[int, dict[str, tuple[str, str]]]:  # fmt: skip
    """The whole notes-typing step over a corpus (in place): (entities re-typed, decisions)."""
    evidence = discover_names(results, ontology)
    propagate(results, evidence, ontology)
    decided = decide_types(results, evidence, ontology)
    return retype(results, decided), decided
