"""Draw a Subgraph as a self-contained SVG (no CDN: the app must work offline).

The layout is computed server-side with networkx's spring layout (seeded, so the same graph
always looks the same); nodes carry ``data-node`` attributes so a small script can report
clicks back to Python.
"""

from __future__ import annotations

import hashlib
import html
import math

import networkx as nx

from kg.models import Subgraph

# fixed colours for the default ontology's types; any other type gets one from its hash
TYPE_COLOURS: dict[str, str] = {
    "Person": "#e4572e",
    "Organization": "#17bebb",
    "Course": "#ffc914",
    "Book": "#76b041",
    "Concept": "#7e6bc4",
    "Method": "#2e86ab",
    "Model": "#f18f01",
    "Tool": "#a23b72",
    "Dataset": "#3b8132",
    "Project": "#c73e1d",
    "Event": "#6c757d",
    "Location": "#8d6a9f",
}
_PALETTE = ("#1b998b", "#ed217c", "#2d3047", "#fffd82", "#ff9b71", "#5f0f40", "#0f4c5c")

# Delegated click handler for gr.HTML(js_on_load=...): the HTML is re-rendered on every update,
# so the listener sits on the component's root element, not on the nodes.
CLICK_JS = """
element.addEventListener('click', (event) => {
  const node = event.target.closest('[data-node]');
  if (node) { trigger('click', {node: node.dataset.node}); }
});
"""


def type_colour(type_: str) -> str:
    if type_ in TYPE_COLOURS:
        return TYPE_COLOURS[type_]
    digest = int(hashlib.sha256(type_.encode()).hexdigest(), 16)
    return _PALETTE[digest % len(_PALETTE)]


def _esc(text: str) -> str:
    """HTML-escape, and neutralise the template characters gr.HTML interprets (`${…}`, `{{…}}`)."""
    return (
        html.escape(text, quote=True)
        .replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
    )


def layout(
    sub: Subgraph, width: int, height: int, margin: int = 60
) -> dict[str, tuple[float, float]]:
    """Node positions in pixels. Each connected component is laid out on its own and the
    components are packed in rows, biggest first, so one stray node cannot squeeze the rest."""
    graph = nx.Graph()
    graph.add_nodes_from(n.id for n in sub.nodes)
    graph.add_edges_from((e.source, e.target) for e in sub.edges if e.source != e.target)
    if len(graph) == 0:
        return {}
    parts = sorted(nx.connected_components(graph), key=lambda c: (-len(c), sorted(c)))
    # each component gets a cell with the canvas' aspect ratio, its area growing with its size
    aspect = (width - 2 * margin) / (height - 2 * margin)
    sides = [math.sqrt(len(c)) for c in parts]
    area = sum(side * side * aspect for side in sides)
    row_width = max(max(sides) * aspect, math.sqrt(area * aspect) * 1.15)
    cells: list[tuple[float, float, float]] = []  # (x, y, side) in layout units
    x = y = row_height = total_w = 0.0
    for side in sides:
        if x > 0 and x + side * aspect > row_width:
            x, y, row_height = 0.0, y + row_height, 0.0
        cells.append((x, y, side))
        x += side * aspect
        total_w = max(total_w, x)
        row_height = max(row_height, side)
    total_h = y + row_height
    scale_x, scale_y = (width - 2 * margin) / total_w, (height - 2 * margin) / total_h
    scale = min(scale_x, scale_y)
    off_x = (width - total_w * scale) / 2
    off_y = (height - total_h * scale) / 2
    pos: dict[str, tuple[float, float]] = {}
    for part, (cx, cy, side) in zip(parts, cells, strict=True):
        local = _unit_layout(graph.subgraph(part))
        pad = 0.1 * side if len(part) > 1 else 0.5 * side
        inner_w, inner_h = side * aspect - 2 * pad, side - 2 * pad
        for node, (ux, uy) in local.items():
            pos[node] = (
                off_x + (cx + pad + ux * inner_w) * scale,
                off_y + (cy + pad + uy * inner_h) * scale,
            )
    return pos


def _unit_layout(graph: nx.Graph) -> dict[str, tuple[float, float]]:
    """A seeded spring layout scaled into the unit square (one node sits in the middle)."""
    if len(graph) == 1:
        return {next(iter(graph)): (0.5, 0.5)}
    raw = nx.spring_layout(graph, seed=7, k=1.6 / math.sqrt(len(graph)), iterations=80)
    xs = [p[0] for p in raw.values()]
    ys = [p[1] for p in raw.values()]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    return {node: ((p[0] - min(xs)) / span_x, (p[1] - min(ys)) / span_y) for node, p in raw.items()}


CHAR_W = 6.4  # px per character of an 11 px label, on the generous side (fonts vary)
LABEL_H = 13.0
MAX_LABEL = 24  # characters; the full name is in the node's <title> (shown on hover)
MIN_GAP = 46.0  # px between node centres


def spread(
    pos: dict[str, tuple[float, float]], width: int, height: int, margin: int = 40
) -> dict[str, tuple[float, float]]:
    """Push apart nodes closer than ``MIN_GAP`` (a spring layout packs a hub's leaves tight)."""
    pts = {k: [x, y] for k, (x, y) in pos.items()}
    keys = sorted(pts)
    for _ in range(60):
        moved = False
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                (ax, ay), (bx, by) = pts[a], pts[b]
                dx, dy = bx - ax, by - ay
                dist = math.hypot(dx, dy)
                if dist >= MIN_GAP:
                    continue
                if dist < 1e-6:  # same spot: separate along a fixed direction
                    dx, dy, dist = 1.0, 0.5, math.hypot(1.0, 0.5)
                push = (MIN_GAP - dist) / 2 / dist
                pts[a] = [ax - dx * push, ay - dy * push]
                pts[b] = [bx + dx * push, by + dy * push]
                moved = True
        for p in pts.values():
            p[0] = min(max(p[0], margin), width - margin)
            p[1] = min(max(p[1], margin), height - margin)
        if not moved:
            break
    return {k: (x, y) for k, (x, y) in pts.items()}


Box = tuple[float, float, float, float]


def _hits(box: Box, others: list[Box]) -> bool:
    return any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in others)


def place_labels(
    sub: Subgraph,
    pos: dict[str, tuple[float, float]],
    radius: dict[str, float],
    width: int,
    height: int,
) -> dict[str, tuple[str, float, float]]:
    """(text, x, baseline y) for each label that fits: centre entities first, then by degree;
    a label tries below, above, right and left of its node, then a shorter form; one that
    cannot be placed without covering another label or a node is left to the hover title."""
    circles: list[Box] = [
        (x - radius[k] - 1, y - radius[k] - 1, x + radius[k] + 1, y + radius[k] + 1)
        for k, (x, y) in pos.items()
    ]
    placed: list[Box] = []
    out: dict[str, tuple[str, float, float]] = {}
    order = sorted(sub.nodes, key=lambda n: (not n.highlighted, -radius.get(n.id, 0), n.label))
    for n in order:
        if n.id not in pos:
            continue
        x, y = pos[n.id]
        r = radius[n.id]
        for text in _label_forms(n.label):
            w = len(text) * CHAR_W
            spots = [  # (centre x of the text, top of the text box)
                (x, y + r + 2), (x, y - r - 2 - LABEL_H),
                (x + r + 4 + w / 2, y - LABEL_H / 2), (x - r - 4 - w / 2, y - LABEL_H / 2),
            ]  # fmt: skip
            for cx, top in spots:
                box = (cx - w / 2, top, cx + w / 2, top + LABEL_H)
                inside = box[0] >= 2 and box[2] <= width - 2 and box[1] >= 2
                if inside and box[3] <= height - 2 and not _hits(box, placed + circles):
                    placed.append(box)
                    out[n.id] = (text, cx, top + LABEL_H - 3)
                    break
            if n.id in out:
                break
    return out


def _label_forms(label: str) -> list[str]:
    forms = []
    for limit in (MAX_LABEL, 14, 8):
        text = label if len(label) <= limit else label[: limit - 1].rstrip() + "…"
        if text not in forms:
            forms.append(text)
    return forms


def render_svg(
    sub: Subgraph,
    selected: str | None = None,
    width: int = 860,
    height: int = 520,
    empty_text: str = "Ask a question to see the entities behind its answer.",
) -> str:
    """The whole graph view: an SVG with edges, labelled nodes and a type legend."""
    if not sub.nodes:
        return f'<div class="kg-graph kg-graph-empty">{_esc(empty_text)}</div>'
    pos = spread(layout(sub, width, height), width, height)
    degree: dict[str, int] = {}
    for e in sub.edges:
        degree[e.source] = degree.get(e.source, 0) + 1
        degree[e.target] = degree.get(e.target, 0) + 1
    radius = {n.id: _radius(degree.get(n.id, 0)) for n in sub.nodes}
    labels = place_labels(sub, pos, radius, width, height)
    parts = [
        f'<svg class="kg-graph-svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="knowledge graph, {len(sub.nodes)} entities" '
        f'xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="kg-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#9aa5b1"/></marker></defs>',
    ]
    show_edge_labels = len(sub.edges) <= 8  # more would cross the node labels
    for e in sub.edges:
        if e.source not in pos or e.target not in pos or e.source == e.target:
            continue
        (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
        dist = math.hypot(x2 - x1, y2 - y1) or 1.0
        r2 = _radius(degree.get(e.target, 0)) + 2
        x2e, y2e = x2 - (x2 - x1) / dist * r2, y2 - (y2 - y1) / dist * r2
        parts.append(
            f'<g class="kg-edge"><title>{_esc(e.type)}</title>'
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2e:.1f}" y2="{y2e:.1f}" '
            f'stroke="#9aa5b1" stroke-width="1.4" marker-end="url(#kg-arrow)"/>'
        )
        if show_edge_labels:
            parts.append(
                f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 3:.1f}" '
                f'class="kg-edge-label" text-anchor="middle">{_esc(e.type)}</text>'
            )
        parts.append("</g>")
    for n in sub.nodes:
        x, y = pos[n.id]
        r = radius[n.id]
        ring = (
            ' stroke="#111" stroke-width="3"'
            if n.id == selected
            else (
                ' stroke="#333" stroke-width="1.5"'
                if n.highlighted
                else ' stroke="#fff" stroke-width="1"'
            )
        )
        text = ""
        if n.id in labels:
            label, lx, ly = labels[n.id]
            text = (
                f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle" class="kg-node-label">'
                f"{_esc(label)}</text>"
            )
        parts.append(
            f'<g class="kg-node{" kg-node-hl" if n.highlighted else ""}" '
            f'data-node="{_esc(n.id)}" data-type="{_esc(n.type)}" style="cursor:pointer">'
            f"<title>{_esc(n.label)} ({_esc(n.type)})</title>"
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{type_colour(n.type)}"{ring}/>'
            f"{text}</g>"
        )
    parts.append("</svg>")
    return (
        '<div class="kg-graph">'
        + legend(sorted({n.type for n in sub.nodes}))
        + "".join(parts)
        + "</div>"
    )


def _radius(degree: int) -> float:
    return 8.0 + min(degree, 10) * 1.2


def legend(types: list[str]) -> str:
    items = "".join(
        f'<span class="kg-legend-item"><span class="kg-swatch" '
        f'style="background:{type_colour(t)}"></span>{_esc(t)}</span>'
        for t in types
    )
    return f'<div class="kg-legend">{items}</div>'


GRAPH_CSS = """
.kg-graph { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px;
  background: var(--background-fill-secondary); }
.kg-graph-empty { color: var(--body-text-color-subdued); padding: 48px; text-align: center; }
.kg-graph-svg { display: block; max-height: 560px; }
.kg-node-label { font-size: 11px; fill: var(--body-text-color); pointer-events: none; }
.kg-edge-label { font-size: 9px; fill: #7b8794; pointer-events: none; }
.kg-node:hover circle { stroke: #111; stroke-width: 2.5; }
.kg-legend { display: flex; flex-wrap: wrap; gap: 10px; font-size: 12px; margin-bottom: 4px; }
.kg-legend-item { display: inline-flex; align-items: center; gap: 4px; }
.kg-swatch { width: 11px; height: 11px; border-radius: 50%; display: inline-block; }
"""
