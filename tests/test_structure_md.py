"""Tables and code as markdown-it-py reads them, with the lenient line rules beside it."""

from __future__ import annotations

from pipelines.extraction.structure import split_lines
from pipelines.extraction.structure_md import read_markdown
from tests.test_structure import facts, run

TABLE = "| Days | Topics Covered | Resources |\n|---|---|---|\n| Day1 | PCA | ML Course |\n"


def test_markdown_it_finds_the_table_and_the_fence() -> None:
    text = "# Notes\n\n" + TABLE + "\n```python\nx = a | b\n```\nafter\n"
    md = read_markdown(text)
    assert md.tables == ((2, 5),)
    lines = split_lines(text)
    assert [ln.index for ln in lines if ln.code] == [6, 7, 8]
    assert not lines[9].code  # the line after the closing fence


def test_an_unclosed_fence_runs_to_the_end() -> None:
    lines = split_lines("a\n~~~\n| Days | Topics |\n|---|---|\n| 1 | PCA |\n")
    assert [ln.code for ln in lines] == [False, True, True, True, True]


def test_a_markdown_table_is_read_and_a_fenced_one_is_not() -> None:
    _doc, _chunks, results = run("# Log\n\n" + TABLE)
    assert ("ML Course", "COVERS", "PCA") in facts(results)
    _doc, _chunks, fenced = run("# Log\n\n```\n" + TABLE + "```\n")
    assert not facts(fenced)


def test_rows_that_look_like_list_items_stay_in_the_table() -> None:
    """markdown-it ends the table at "1. …"; the note means a row, and the rows run on."""
    text = ("Resources | Topics Covered |\n---|---|\n1. ML Course | PCA |\n"
            "2.Deep Learning Course | CNN |\n")  # fmt: skip
    assert read_markdown(text).tables == ((0, 2),)  # header and separator only
    _doc, _chunks, results = run(text)
    assert {("ML Course", "COVERS", "PCA"), ("Deep Learning Course", "COVERS", "CNN")} <= facts(
        results
    )


def test_lenient_rules_read_a_pipe_table_without_separator_and_tabs() -> None:
    text = "Resources | Topics Covered\nML Course | PCA\n"
    assert read_markdown(text).tables == ()
    assert ("ML Course", "COVERS", "PCA") in facts(run(text)[2])
    tabs = "Resources\tTopics Covered\nML Course\tK-means\n"
    assert ("ML Course", "COVERS", "K-means") in facts(run(tabs)[2])
