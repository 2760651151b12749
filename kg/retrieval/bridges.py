"""Second hops named by a relation word: "directed by X" answers "the director of the film".

A walk from the page a question names spreads evenly over everything that page mentions (the
director, five actors, the studio). The word that introduces a mention usually names the
relation ("directed by", "composed by", "performed by", "married"), and the question names the
same relation ("the director of", "the composer of"). So a mention whose introducing word shares
a stem prefix with a question word, in a page the question names, lifts the page of the
mentioned entity to just below the page it was reached from. No relation extractor is needed:
only the mention offsets the entity pass already produced.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from kg.text import STOPWORDS, tokenize

PREFIX = 5  # "director"/"directed", "composer"/"composed", "performer"/"performed" meet
WINDOW = 48  # characters before a mention searched for its introducing word
LIFT = 0.9  # a lifted page ranks just below the page it was reached from
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]*")


def prefix(stem: str) -> str:
    return stem[:PREFIX]


def cue_of(text: str, start: int) -> str | None:
    """The stem prefix of the last content word before ``start`` in its sentence, if any."""
    before = text[max(0, start - WINDOW) : start]
    cut = max(before.rfind("."), before.rfind(";"), before.rfind("\n"))
    words = _WORDS.findall(before[cut + 1 :])
    for w in reversed(words):
        if w.lower() in STOPWORDS:
            continue
        stems = tokenize(w)
        return prefix(stems[0]) if stems else None
    return None


class Bridges:
    """Per chunk: (entity node, introducing-word prefix) for every mention of a titled entity."""

    def __init__(
        self,
        cues: Sequence[Iterable[tuple[int, str]]],
        title_chunks: dict[int, list[int]],
    ) -> None:
        self.cues = [list(c) for c in cues]
        self.title_chunks = title_chunks

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        mentions: Iterable[tuple[int, int, int]],
        title_chunks: dict[int, list[int]],
    ) -> Bridges:
        """``mentions``: (chunk position, entity node, start offset within the chunk's text)."""
        cues: list[dict[int, set[str]]] = [defaultdict(set) for _ in texts]
        for pos, node, start in mentions:
            if node not in title_chunks or pos in title_chunks[node]:
                continue
            cue = cue_of(texts[pos], start)
            if cue:
                cues[pos][node].add(cue)
        return cls(
            [[(n, c) for n, cs in per.items() for c in sorted(cs)] for per in cues], title_chunks
        )

    def boost(
        self, query: str, link_keys: Iterable[str], seeds: Iterable[int], ppr: np.ndarray
    ) -> np.ndarray:
        """``ppr`` with the pages reached by a question-named relation lifted to their source."""
        named = {s for key in link_keys for s in tokenize(key)}
        wanted = {prefix(s) for s in tokenize(query) if s not in named}
        if not wanted:
            return ppr
        bonus = np.zeros_like(ppr)
        for node in seeds:
            for src in self.title_chunks.get(node, ()):
                for target, cue in self.cues[src]:
                    if cue in wanted:
                        for dst in self.title_chunks[target]:
                            bonus[dst] = max(bonus[dst], LIFT * ppr[src])
        return np.maximum(ppr, bonus)
