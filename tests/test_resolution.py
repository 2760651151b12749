"""Entity resolution: duplicates that should merge do, look-alikes that should not, don't."""

from __future__ import annotations

import pytest

from kg.models import Entity, Mention, normalize_name
from kg.resolution import acronym_of, as_acronym, compact_key, resolve


def ent(name: str, type_: str = "Concept", mentions: int = 1, doc: str = "d1") -> Entity:
    start = abs(hash((name, type_))) % 10_000
    return Entity.make(
        name,
        type_,
        mentions=[
            Mention(chunk_id="c", doc_id=doc, start=start + 100 * k, end=start + 100 * k + 3,
                    text=name[:3])
            for k in range(mentions)
        ],
    )


def names_after(*entities: Entity) -> list[list[str]]:
    kept, _ = resolve(list(entities))
    return sorted(sorted([e.name, *e.aliases]) for e in kept)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("K-means", "Method"), ("k means", "Method")),
        (("K-means", "Method"), ("kmeans", "Method")),
        (("neural networks", "Model"), ("Neural Network", "Model")),
        (("LLM", "Model"), ("large language model", "Model")),
        (("LLMs", "Model"), ("Large Language Models", "Model")),
        (("PCA", "Method"), ("principal component analysis", "Method")),
        (("Andrew Ng", "Person"), ("Ng", "Person")),
        (("gradient descent", "Method"), ("gradient decent", "Method")),
        (("backpropagation", "Method"), ("back-propagation", "Method")),
        (("scikit-learn", "Tool"), ("Scikit Learn", "Tool")),
        (("PyTorch", "Tool"), ("pytorch", "Concept")),  # a typed entity absorbs the fallback
        (("the Scottish dataset", "Dataset"), ("Scottish datasets", "Dataset")),
        (("eigenvalues", "Concept"), ("eigenvalue", "Concept")),
        (("MIT", "Organization"), ("Massachusetts Institute of Technology", "Organization")),
    ],
)
def test_duplicates_merge(a: tuple[str, str], b: tuple[str, str]) -> None:
    kept, merges = resolve([ent(*a, mentions=3), ent(*b)])
    assert len(kept) == 1, [e.name for e in kept]
    assert len(merges) == 1
    merged = kept[0]
    spellings = {normalize_name(n) for n in (merged.name, *merged.aliases)}
    assert {normalize_name(a[0]), normalize_name(b[0])} <= spellings
    assert len(merged.mentions) == 4  # every mention is kept
    assert merges[0].kept_id == merged.id
    assert merges[0].rule


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Python", "Person"), ("Python", "Tool")),  # never a person with a tool
        (("Jordan", "Person"), ("Jordan", "Location")),
        (("supervised learning", "Concept"), ("unsupervised learning", "Concept")),
        (("GPT-3", "Model"), ("GPT-4", "Model")),
        (("CS109", "Course"), ("CS229", "Course")),
        (("L1 regularization", "Method"), ("L2 regularization", "Method")),
        (("linear regression", "Method"), ("logistic regression", "Method")),
        (("BERT", "Model"), ("BART", "Model")),
        (("encoder", "Concept"), ("decoder", "Concept")),
        (("K-means", "Method"), ("K-medians", "Method")),
        (("Python", "Person"), ("python", "Concept")),  # a named type keeps its own node
        (("linear model", "Model"), ("nonlinear model", "Model")),
    ],
)
def test_look_alikes_stay_apart(a: tuple[str, str], b: tuple[str, str]) -> None:
    kept, merges = resolve([ent(*a), ent(*b)])
    assert len(kept) == 2, merges
    assert merges == []


def test_short_person_name_is_ambiguous_with_two_candidates() -> None:
    kept, merges = resolve(
        [ent("Andrew Ng", "Person"), ent("Ng", "Person"), ent("Jane Ng", "Person")]
    )
    assert len(kept) == 3
    assert merges == []


def test_acronym_with_two_expansions_is_not_merged() -> None:
    kept, _ = resolve(
        [
            ent("NLP", "Concept"),
            ent("natural language processing", "Concept"),
            ent("neuro linguistic programming", "Concept"),
        ]
    )
    assert len(kept) == 3


def test_three_way_merge_keeps_typed_most_mentioned_name() -> None:
    kept, merges = resolve(
        [
            ent("K-means", "Method", mentions=5),
            ent("k means", "Concept", mentions=1),
            ent("K-Means clustering", "Method", mentions=1),
            ent("kmeans", "Method", mentions=2),
        ]
    )
    names = {e.name: e for e in kept}
    assert "K-means" in names
    k = names["K-means"]
    assert k.type == "Method"
    assert {"k means", "kmeans", "K-Means clustering"} <= set(k.aliases)
    assert len(k.mentions) == 9
    assert {m.merged_name for m in merges} == {"k means", "kmeans", "K-Means clustering"}
    head = next(m for m in merges if m.merged_name == "K-Means clustering")
    assert head.rule == "head-noun" and "generic head noun" in head.reason
    assert head.evidence and all(m.id and m.reason for m in merges)


def test_resolution_is_deterministic_and_order_independent() -> None:
    items = [ent("LLM", "Model"), ent("large language model", "Model"), ent("Ng", "Person"),
             ent("Andrew Ng", "Person"), ent("PyTorch", "Tool")]
    first = resolve(items)
    second = resolve(list(reversed(items)))
    assert [e.model_dump() for e in first[0]] == [e.model_dump() for e in second[0]]
    assert first[1] == second[1]


def test_keys() -> None:
    assert compact_key("K-Means") == compact_key("k means") == "kmean"
    assert acronym_of("large language models") == "llm"
    assert acronym_of("Python") is None
    assert as_acronym("LLMs") == "llm"
    assert as_acronym("Python") is None


def test_person_titles_and_short_names_merge_into_the_full_name() -> None:
    kept, merges = resolve(
        [ent("Dr. Okafor", "Person"), ent("Okafor", "Person"), ent("Lena Okafor", "Person"),
         ent("Prof. Andrew Ng", "Person"), ent("Andrew Ng", "Person", mentions=2)]
    )
    assert sorted(e.name for e in kept) == ["Andrew Ng", "Lena Okafor"]
    okafor = next(e for e in kept if e.name == "Lena Okafor")
    assert {"Dr. Okafor", "Okafor"} <= set(okafor.aliases)
    assert len(merges) == 3


def test_same_entity_twice_pools_mentions_without_a_merge_record() -> None:
    a = ent("PyTorch", "Tool")
    b = a.model_copy(deep=True)
    b.mentions[0].start += 7
    b.mentions[0].end += 7
    kept, merges = resolve([a, b])
    assert merges == [] and len(kept) == 1 and len(kept[0].mentions) == 2


# ---- merges a person can check: candidates, accept, reject ----


def test_head_noun_variant_in_other_notes_is_a_candidate_not_a_merge() -> None:
    from kg.resolution import resolve_reviewed

    r = resolve_reviewed(
        [ent("t-SNE", "Method", doc="d1"), ent("t-SNE algorithm", "Method", doc="d2")]
    )
    assert len(r.entities) == 2 and not r.merges
    (cand,) = r.candidates
    assert (cand.status, cand.rule) == ("candidate", "head-noun")
    assert "no document mentions both" in cand.reason


def test_head_noun_variant_of_another_type_is_a_candidate() -> None:
    from kg.resolution import resolve_reviewed

    r = resolve_reviewed([ent("scikit-learn", "Tool"), ent("scikit-learn library", "Person")])
    assert len(r.entities) == 2
    assert "types differ" in r.candidates[0].reason


def test_generic_word_alone_is_no_base() -> None:
    from kg.resolution import head_noun_base

    assert head_noun_base("K-means clustering") == compact_key("K-means")
    assert head_noun_base("the model") is None
    assert head_noun_base("learning algorithm") == "learning"
    assert head_noun_base("Python course") is None  # a course about X is not X


def test_accepted_candidate_merges_and_rejected_merge_is_undone() -> None:
    from kg.resolution import merge_id, resolve_reviewed

    a, b = ent("t-SNE", "Method", doc="d1"), ent("t-SNE algorithm", "Method", doc="d2")
    cand = resolve_reviewed([a, b]).candidates[0]
    assert cand.id == merge_id(b.id, a.id)  # one id per pair, either order
    merged = resolve_reviewed([a, b], accept=[(cand.kept_id, cand.merged_id)])
    assert len(merged.entities) == 1 and merged.merges[0].rule == "accepted"
    assert merged.merges[0].decision == "accept" and not merged.candidates

    k1, k2, k3 = ent("K-means", "Method"), ent("k means", "Method"), ent("kmeans", "Method")
    applied = resolve_reviewed([k1, k2, k3]).merges
    assert len(applied) == 2
    undone = resolve_reviewed([k1, k2, k3], reject=[(k1.id, k2.id)])
    groups = sorted(sorted([e.name, *e.aliases]) for e in undone.entities)
    assert ["k means"] in groups or ["K-means"] in groups  # the two rejected stay apart
    assert any(c.status == "rejected" for c in undone.candidates)
