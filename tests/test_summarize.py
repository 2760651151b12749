"""Map-reduce summaries: collapse levels, sources, cache, and failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from kg.llm_cache import LLMCache
from kg.models import Chunk, Document, LLMUsage
from pipelines.summarize import map_summaries, reduce_summaries, split_list_of_docs

DOC = Document.from_text("long.md", "x" * 100)


def level0(n: int, words: int = 40) -> list[Any]:
    chunks = [Chunk.make(DOC.id, i, i, "x") for i in range(n)]
    return map_summaries(DOC, [(c, f"part {i} " + "word " * words) for i, c in enumerate(chunks)])


class Counting(FakeListChatModel):
    calls: int = 0

    def _call(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        return super()._call(*args, **kwargs)


def test_one_chunk_needs_no_reduce() -> None:
    chat = Counting(responses=["x"])
    assert reduce_summaries(DOC, level0(1), chat) == []
    assert chat.calls == 0


def test_short_list_reduces_in_one_call() -> None:
    chat = Counting(responses=["the whole document"])
    out = reduce_summaries(DOC, level0(3), chat)
    assert chat.calls == 1
    (final,) = out
    assert final.level == 1 and final.text == "the whole document"
    assert final.source_summary_ids == [s.id for s in level0(3)]
    assert len(final.source_chunk_ids) == 3


def test_long_list_collapses_recursively_and_keeps_every_level(tmp_path: Path) -> None:
    summaries = level0(40, words=60)  # ~40 * 75 tokens > budget of 500
    chat = Counting(responses=["collapsed " + "w " * 100])
    usage = LLMUsage()
    cache = LLMCache(tmp_path)
    out = reduce_summaries(DOC, summaries, chat, cache=cache, model="m", usage=usage,
                           token_max=500)
    levels = [s.level for s in out]
    assert levels == sorted(levels) and levels[0] == 1 and max(levels) >= 2
    final = out[-1]
    assert final.level == max(levels) and levels.count(final.level) == 1
    # the final summary covers every chunk, each level points at the level below
    assert set(final.source_chunk_ids) == {c for s in summaries for c in s.source_chunk_ids}
    ids = {s.id for s in summaries} | {s.id for s in out}
    assert all(set(s.source_summary_ids) <= ids for s in out)
    assert usage.calls == chat.calls == len(out)
    # a second run is answered from the cache
    again = Counting(responses=["different"])
    usage2 = LLMUsage()
    out2 = reduce_summaries(DOC, summaries, again, cache=cache, model="m", usage=usage2,
                            token_max=500)
    assert again.calls == 0 and usage2.cached == len(out)
    assert out2 == out


def test_failed_call_falls_back_to_the_sources() -> None:
    class Broken(FakeListChatModel):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            raise ValueError("context too long")

    usage = LLMUsage()
    (final,) = reduce_summaries(DOC, level0(2), Broken(responses=["x"]), usage=usage)
    assert "part 0" in final.text and "part 1" in final.text
    assert usage.failures == 1


def test_lazy_chat_is_only_built_when_needed(tmp_path: Path) -> None:
    built = []

    def factory() -> Any:
        built.append(1)
        return FakeListChatModel(responses=["summary"])

    cache = LLMCache(tmp_path)
    reduce_summaries(DOC, level0(2), factory, cache=cache, model="m")
    reduce_summaries(DOC, level0(2), factory, cache=cache, model="m")
    assert built == [1]


def test_split_list_of_docs_respects_the_budget() -> None:
    from langchain_core.documents import Document as LC

    docs = [LC(page_content="a" * 400) for _ in range(10)]  # 100 tokens each
    groups = split_list_of_docs(docs, lambda d: sum(len(x.page_content) for x in d) // 4, 250)
    assert [len(g) for g in groups] == [2, 2, 2, 2, 2]
    assert [d for g in groups for d in g] == docs
