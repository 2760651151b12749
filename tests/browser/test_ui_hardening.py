"""Issue 15's UI items in headless Chromium: sources link to the document span, the answer's
graph is centred, capped and legible, an entity search that matches nothing says so."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_ui import ask, last_answer

pytestmark = pytest.mark.browser

# every label's box, the circles' boxes, in SVG user units
_BOXES_JS = """
(svg) => {
  const box = (el) => { const b = el.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
  return {
    labels: [...svg.querySelectorAll('.kg-node-label')].map(box),
    circles: [...svg.querySelectorAll('.kg-node circle')].map(box),
    titles: [...svg.querySelectorAll('.kg-node > title')].map((t) => t.textContent),
  };
}
"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_a_source_links_to_its_span_in_the_document(page: Page) -> None:
    ask(page, "Which book explains K-means clustering?")
    first = last_answer(page).locator("details.kg-source").first
    link = first.locator("a.kg-open")
    first.locator("summary").click()  # the source opens: its chunk, then the link
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    match = re.search(r"/v1/documents/[^?]+\?start=(\d+)&end=(\d+)#kg-span$", href)
    assert match, href
    chunk_text = first.locator(".kg-chunk").inner_text()
    with page.context.expect_page() as opened:
        link.click()
    doc = opened.value
    doc.wait_for_load_state()
    assert "/v1/documents/" in doc.url
    mark = doc.locator("mark#kg-span")
    expect(mark).to_be_visible()
    shown = " ".join(mark.inner_text().split())
    assert shown and shown[:60] in " ".join(chunk_text.split())
    assert int(match.group(2)) - int(match.group(1)) == len(mark.inner_text())
    doc.close()


def test_answer_graph_is_centred_capped_and_its_labels_do_not_overlap(page: Page) -> None:
    ask(page, "Who teaches the course on K-means clustering?")
    expect(last_answer(page)).to_be_visible()
    page.get_by_role("tab", name="Graph").click()
    svg = page.locator("#kg-graph svg.kg-graph-svg")
    expect(svg).to_be_visible()
    centre = page.locator("#kg-graph .kg-node-hl")
    expect(centre.first).to_be_visible()
    centre_titles = [
        t.lower() for t in centre.evaluate_all("els => els.map(e => e.firstChild.textContent)")
    ]
    assert any("k-means" in t for t in centre_titles), centre_titles  # the question's entity
    others = page.locator("#kg-graph .kg-node:not(.kg-node-hl)").count()
    assert others <= 12
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "graph-answer.png"))
    boxes = svg.evaluate(_BOXES_JS)
    labels, circles = boxes["labels"], boxes["circles"]
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not _overlap(a, b), (a, b)
        for c in circles:
            assert not _overlap(a, c), (a, c)
    for label in labels:  # inside the drawing
        assert label[0] >= 0 and label[2] <= 860 and label[1] >= 0 and label[3] <= 520


def test_entity_search_that_matches_nothing_says_so(page: Page) -> None:
    page.get_by_role("tab", name="Graph").click()
    box = page.locator("#kg-entity-q textarea, #kg-entity-q input").first
    box.fill("PCA")
    box.press("Enter")
    expect(page.locator("#kg-entity-detail h3")).to_contain_text("PCA")
    box.fill("zzzqqq-no-such")
    box.press("Enter")
    detail = page.locator("#kg-entity-detail")
    expect(detail).to_contain_text("No entity matches")
    expect(detail.locator("h3")).to_have_count(0)  # the previous entity is not kept
    entity = page.locator("#kg-entity input").first
    expect(entity).to_have_value("")


def _dense(neighbours: int) -> object:
    from kg.models import GraphEdge, GraphNode, Subgraph

    centre = [GraphNode(id=f"c{i}", label=name, type="Method", highlighted=True)
              for i, name in enumerate(["K-means clustering", "Andrew Ng"])]  # fmt: skip
    types = ["Concept", "Tool", "Person", "Dataset"]
    others = [
        GraphNode(id=f"n{i}", label=f"neighbour {i} with a rather long name", type=types[i % 4])
        for i in range(neighbours)
    ]
    edges = [GraphEdge(source="c0", target="c1", type="TAUGHT_BY")]
    edges += [GraphEdge(source=f"c{i % 2}", target=f"n{i}", type="RELATED_TO")
              for i in range(neighbours)]  # fmt: skip
    return Subgraph(nodes=[*centre, *others], edges=edges)


@pytest.mark.parametrize("neighbours", [12, 40])
def test_dense_graph_labels_do_not_overlap(browser_context, neighbours: int) -> None:
    from app.graph_view import GRAPH_CSS, render_svg

    sub = _dense(neighbours)
    page = browser_context.new_page()
    try:
        html = f"<style>{GRAPH_CSS}</style><div style='width:860px'>{render_svg(sub)}</div>"
        page.set_content(html)
        svg = page.locator("svg.kg-graph-svg")
        boxes = svg.evaluate(_BOXES_JS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"graph-dense-{neighbours}.png"))
    finally:
        page.close()
    labels, circles = boxes["labels"], boxes["circles"]
    assert len(circles) == len(sub.nodes)
    # every node names itself in full on hover, whatever its label shows
    assert sorted(t.rsplit(" (", 1)[0] for t in boxes["titles"]) == sorted(
        n.label for n in sub.nodes
    )
    assert len(labels) >= min(len(sub.nodes), 14)  # most nodes keep a visible label
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not _overlap(a, b), (a, b)
        for c in circles:
            assert not _overlap(a, c), (a, c)
    for label in labels:
        assert label[0] >= 0 and label[2] <= 860 and label[1] >= 0 and label[3] <= 520


def test_upload_result_names_a_skipped_file_and_why(page: Page, tmp_path) -> None:
    broken = tmp_path / "broken_notes.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")  # no xref, no EOF
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#kg-upload input[type=file]").set_input_files(str(broken))
    expect(page.locator("#kg-upload")).to_contain_text(broken.name)
    page.locator("#kg-ingest").click()
    result = page.locator("#kg-ingest-result")
    expect(result).to_contain_text("Skipped", timeout=180_000)
    expect(result).to_contain_text(broken.name)
    expect(result).to_contain_text("unreadable PDF")
