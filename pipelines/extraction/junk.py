"""The one junk-entity filter: every entity source (spaCy, LLM, rules, trained models) passes it.

A node in the graph must name something specific. The rules are about the *shape* of a name in
English, not about any corpus: numbers and dates ("2023", "Day24", "Week 3", "12 March"),
pronouns and function words ("it", "those ones"), generic nouns with nothing specific around
them ("technique", "a popular technique", "the course", "3 models"; the ontology's own type
names count as generic), and fragments (a name that starts or ends with a preposition or
conjunction, dangling or unbalanced punctuation, a single character).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from kg.text import normalize_name, singular

if TYPE_CHECKING:
    from kg.ontology import Ontology


def word_list(text: str) -> frozenset[str]:
    """A word list written as text (easier to read and extend than a list of strings)."""
    return frozenset(text.split())


PRONOUNS = word_list(
    "i me my mine myself we us our ours ourselves you your yours yourself he him his himself she "
    "her hers herself it its itself they them their theirs themselves one ones oneself someone "
    "something somebody anyone anything anybody everyone everything everybody nobody nothing "
    "noone eachother this that these those who whom whose what which here there"
)
DETERMINERS = word_list(
    "a an the some any each every no all both either neither such much many more most few less "
    "least several another other others own same"
)
PREPOSITIONS = word_list(
    "of in on at by for with without from to into onto upon about above below over under "
    "between among through during before after around against across along behind beyond via "
    "per within than as off out up down towards toward"
)
CONJUNCTIONS = word_list(
    "and or but nor so yet if because while whereas although though unless until since when "
    "where whether then also etc etc. vs vs. versus i.e i.e. ie e.g e.g. eg"
)
AUXILIARIES = word_list(
    "is are was were be been being am do does did have has had can could will would shall should "
    "may might must not very just really quite"
)
FUNCTION_WORDS = PRONOUNS | DETERMINERS | PREPOSITIONS | CONJUNCTIONS | AUXILIARIES
# words that may never begin or end a name: "of the model", "PCA and", "trained with"
EDGE_WORDS = PREPOSITIONS | CONJUNCTIONS | frozenset({"a", "an", "the", "this", "that"})

# nouns too vague to be a node on their own (whatever adjectives or numbers come with them)
GENERIC_NOUNS = word_list(
    """
    thing stuff lot bit way part end start beginning example question answer summary idea concept
    topic subject technique method approach course class lesson lecture tutorial note notes
    something anything everything nothing someone people person kind sort type number amount
    case point fact reason result post blog hello hi fun word section piece rest item aspect
    area field issue problem matter detail details feature step process procedure system model
    algorithm tool thing option choice version value data information material resource content
    article chapter page book paper video image picture project task work job goal plan use
    purpose stage level role term name list set group series way ways today tomorrow yesterday
    time morning evening night day week month year hour minute second moment order theme means
    sense lot couple bunch regard respect portion basis criteria criterion hope
    """
)
# adjectives that add nothing specific: "popular technique", "different parts", "new ideas"
VAGUE_ADJECTIVES = word_list(
    """
    popular new old simple different common basic various important good great bad better best
    main certain specific general whole entire particular typical classic famous interesting
    useful powerful key major big small large little easy hard next last previous following
    above below such own real nice cool overall core additional multiple single same similar
    other many several few numerous huge tiny quick short long high low higher lower
    """
)

NUMBER_WORDS = word_list(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand million billion first second third fourth fifth sixth seventh "
    "eighth ninth tenth half dozen st nd rd th"
)
TIME_WORDS = word_list(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may "
    "june july august september october november december jan feb mar apr jun jul aug sep sept "
    "oct nov dec today tonight tomorrow yesterday morning afternoon evening night noon midnight "
    "weekend am pm ago now daily weekly monthly yearly day days week weeks month months year "
    "years hour hours hr hrs minute minutes min mins second seconds sec secs h"
)
# nouns that number parts of a course or a diary: "Day24", "Week 3", "Chapter 5", "Q3"
SEQUENCE_NOUNS = word_list(
    "day week month year lecture lesson chapter module unit session part step episode class "
    "sprint phase stage level round quarter q semester term page section exercise assignment "
    "homework lab quiz video post entry note figure fig table slide"
)

_TOKEN = re.compile(r"\d+|[^\W\d_]+")
_LETTER = re.compile(r"[^\W\d_]")
_QUANTITY = re.compile(r"^\d+(?:[.,]\d+)?\s?[a-z]{0,2}$")  # "1k", "10m", "2.5x"
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_FORMULA = re.compile(r"[<>=^{}\\|]|->")
_DANGLING_END = ",;:(-/&[{"
_DANGLING_START = ",;:)-/&]}"


def _is_number(token: str) -> bool:
    return token.isdigit() or token in NUMBER_WORDS


class JunkFilter:
    """Says why a name is not an entity (or None); ``ontology`` adds its type names as generic."""

    def __init__(self, generic_extra: frozenset[str] = frozenset()) -> None:
        self.generic = GENERIC_NOUNS | generic_extra

    def reason(self, name: str) -> str | None:
        raw = " ".join(name.split())
        key = normalize_name(raw)
        if not key:
            return "empty name"
        if not _LETTER.search(key):
            return "number or punctuation, not an entity"
        if len(raw.strip("*_`\"' ")) < 2:
            return "single character, not an entity"
        ws = key.split()
        if all(w in FUNCTION_WORDS for w in ws) and not _acronym(raw):
            return "pronoun or function word, not an entity"
        tokens = _TOKEN.findall(key)
        if _date_like(tokens):
            return "date, time or numbering, not an entity"
        if _QUANTITY.match(key):
            return "number or punctuation, not an entity"
        if self._generic(ws):
            return "generic noun, not a specific entity"
        fragment = _fragment(raw, ws)
        if fragment:
            return fragment
        return None

    def __call__(self, name: str) -> bool:
        """True when ``name`` is junk."""
        return self.reason(name) is not None

    def _generic(self, ws: list[str]) -> bool:
        has_noun = False
        for w in ws:
            bare = w.strip("'\".,;:!?()")
            if bare in self.generic or singular(bare) in self.generic:
                has_noun = True
            elif not (
                bare in FUNCTION_WORDS or bare in VAGUE_ADJECTIVES or _is_number(bare) or not bare
            ):
                return False
        return has_noun


def _acronym(raw: str) -> bool:
    """Capitals ("IT", "US") name something; "it" and "us" do not."""
    return len(raw) >= 2 and raw.isupper() and raw.isalpha()


def _date_like(tokens: list[str]) -> bool:
    if not tokens:
        return False
    has_number = any(_is_number(t) for t in tokens)
    for t in tokens:
        if _is_number(t) or t in TIME_WORDS:
            continue
        if t in SEQUENCE_NOUNS and has_number:
            continue
        return False
    return True


def _fragment(raw: str, ws: list[str]) -> str | None:
    if ws[0] in EDGE_WORDS or ws[-1] in EDGE_WORDS:
        return "fragment (starts or ends with a function word)"
    stripped = raw.strip()
    if stripped[-1] in _DANGLING_END or stripped[0] in _DANGLING_START:
        return "fragment (dangling punctuation)"
    for left, right in _PAIRS.items():
        if stripped.count(left) != stripped.count(right):
            return "fragment (unbalanced brackets)"
    if stripped.count('"') % 2:
        return "fragment (unbalanced quotes)"
    if _FORMULA.search(stripped):
        return "formula or markup, not a name"
    if len(ws) > 10:
        return "too long for a name"
    return None


@lru_cache(maxsize=16)
def _filter_for(type_names: frozenset[str]) -> JunkFilter:
    return JunkFilter(type_names)


def junk_filter(ontology: Ontology | None = None) -> JunkFilter:
    """The filter for an ontology: its type names and aliases ("Course", "Library") are generic."""
    if ontology is None:
        return _filter_for(frozenset())
    names: set[str] = set()
    for t in ontology.entity_types:
        for spelling in (t.name, t.label, *t.aliases):
            names.update(w for w in re.split(r"[^a-z]+", spelling.lower()) if len(w) > 2)
    return _filter_for(frozenset(names))


def junk_reason(name: str, ontology: Ontology | None = None) -> str | None:
    """Why ``name`` is not an entity, or None when it may be one."""
    return junk_filter(ontology).reason(name)
