"""Plain functions that turn facade models into the Markdown/HTML the chatbot shows."""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.document_page import span_url
from app.graph_view import _esc
from kg.models import Answer, Citation, EntityDetail, GraphFact, LLMCoverage, SkippedFile, Status


def sources_html(citations: Sequence[Citation]) -> str:
    """Numbered sources; each expands (HTML ``<details>``) to the full chunk text and a link
    to the passage in its document."""
    if not citations:
        return ""
    items = []
    for c in citations:
        body = c.text or c.snippet
        link = _esc(span_url(c.doc_id, c.start, c.end))
        items.append(
            f'<details class="kg-source"><summary><b>[{c.n}]</b> '
            f"<code>{_esc(c.path)}</code> <small>chars {c.start}–{c.end}</small><br>"
            f'<span class="kg-snippet">{_esc(_one_line(c.snippet, 220))}</span></summary>'
            f'<div class="kg-chunk">{_block(body)}</div>'
            f'<a class="kg-open" href="{link}" target="_blank" rel="noopener">'
            f"open {_esc(c.path)} at this passage ↗</a></details>"
        )
    return '<div class="kg-sources"><b>Sources</b>' + "".join(items) + "</div>"


def facts_md(facts: Sequence[GraphFact], limit: int = 12) -> str:
    if not facts:
        return ""
    lines = [f"- {_md(f.head)} **{_md(f.type)}** {_md(f.tail)}" for f in facts[:limit]]
    more = f"\n- … {len(facts) - limit} more" if len(facts) > limit else ""
    return "**Graph facts**\n" + "\n".join(lines) + more


def facts_html(facts: Sequence[GraphFact], limit: int = 12) -> str:
    """The graph facts an answer used, as an HTML list (escaped: names are text)."""
    if not facts:
        return ""
    items = "".join(
        f"<li>{_esc(f.head)} <b>{_esc(f.type)}</b> {_esc(f.tail)}</li>" for f in facts[:limit]
    )
    more = f"<li>… {len(facts) - limit} more</li>" if len(facts) > limit else ""
    return f'<div class="kg-facts"><b>Graph facts used</b><ul>{items}{more}</ul></div>'


def answer_text_md(text: str) -> str:
    """The answer for the chat: the quoted sentence keeps its *emphasis*; anything else in it
    that Markdown would read (headings, list marks, HTML) is escaped, since notes are text."""
    parts = text.split("*")
    out = [_md(p) if i % 2 == 0 else "*" + _md(p).strip() + "*" for i, p in enumerate(parts)]
    return "".join(out) if len(parts) % 2 == 1 else _md(text)


def answer_message(answer: Answer) -> str:
    """The assistant's final chat message: the answer, warnings, the query used, the sources."""
    parts = [answer_text_md(answer.answer) if answer.answer else "_No answer._"]
    for warning in answer.warnings:
        parts.append(f"> ⚠️ {_md(warning)}")
    if answer.cypher:
        parts.append(f"Cypher used:\n```cypher\n{answer.cypher}\n```")
    facts = facts_html(answer.facts)
    if facts:
        parts.append(facts)
    sources = sources_html(answer.citations)
    if sources:
        parts.append(sources)
    elif not answer.citations:
        parts.append("_No sources matched._")
    if answer.timings:
        parts.append(f"<small>mode {answer.mode} · {answer_seconds(answer.timings):.2f} s</small>")
    return "\n\n".join(parts)


def answer_seconds(timings: dict[str, float]) -> float:
    """Wall time of an answer: retrieval plus the answer step (which includes the LLM's
    ``llm_s``, so adding every ``*_s`` would count the model twice)."""
    if "retrieval_s" in timings or "answer_s" in timings:
        return float(timings.get("retrieval_s", 0.0)) + float(timings.get("answer_s", 0.0))
    return float(timings.get("llm_s", 0.0))


def skipped_md(skipped: Sequence[SkippedFile], first: Sequence[str] = (), limit: int = 8) -> str:
    """Skipped files as "name: reason" lines, the ones named in ``first`` (uploads) first."""
    if not skipped:
        return ""
    wanted = set(first)
    ordered = sorted(skipped, key=lambda s: s.path.rsplit("/", 1)[-1] not in wanted)
    lines = [f"- **{_md(s.path)}**: {_md(s.reason)}" for s in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"- … {len(ordered) - limit} more (`kg status` lists them)")
    return f"Skipped {len(skipped)}:\n" + "\n".join(lines)


def status_md(status: Status) -> str:
    m = status.manifest
    lines = [f"**Workspace** `{status.workspace}`"]
    if m is None:
        lines.append("- no extraction yet: upload files below, or run `kg extract PATH`")
    else:
        counts = ", ".join(f"{v:,} {k}" for k, v in sorted(m.counts.items())) or "empty"
        lines += [
            f"- **Contents:** {counts}",
            f"- **Last run:** {m.created_at} ({m.seconds:.1f} s, ontology `{m.ontology}`)",
        ]
        if m.skipped:
            lines.append(f"- **Skipped files:** {len(m.skipped)}")
        lines.append(f"- **LLM tier:** {coverage_md(m.llm_coverage)}")
    store = f"**Store** {status.store or '?'}: "
    if status.store_error:
        store += f"⚠️ unavailable ({_md(status.store_error)})"
    else:
        store += ", ".join(f"{v:,} {k}" for k, v in sorted(status.store_counts.items())) or "empty"
    lines.append(store)
    llm = f"**LLM** {status.llm or '?'}"
    if status.llm_error:
        llm += f" — ⚠️ {_md(status.llm_error)} (answers are retrieval-only)"
    lines.append(llm)
    return "\n\n".join(lines)


def coverage_md(cov: LLMCoverage) -> str:
    """How much of the corpus the LLM tier has refined (the rest is the trained tier's graph)."""
    if cov.state == "off":
        return "off (the graph is the trained tier's)"
    if not cov.needed:
        return "nothing to ask"
    share = 100 * cov.done / cov.needed
    rest = "" if cov.done == cov.needed else (
        " — the rest is the trained tier's graph; `kg extract PATH --llm on` continues"
    )
    return f"{cov.done:,} of {cov.needed:,} chunks ({share:.0f} %){rest}"


def entity_md(detail: EntityDetail) -> str:
    e = detail.entity
    lines = [f"### {_md(e.name)} <small>({_md(e.type)})</small>"]
    if e.aliases:
        lines.append("Also: " + ", ".join(_md(a) for a in e.aliases[:10]))
    if e.description:
        lines.append(_md(e.description))
    lines.append(f"{len(e.mentions)} mention(s)")
    facts = facts_md(detail.facts, limit=20)
    if facts:
        lines.append(facts)
    return "\n\n".join(lines)


def _block(text: str) -> str:
    """Escaped text with its newlines as character references: the chat renders Markdown, and a
    blank line would end the HTML block and turn the rest of the chunk into Markdown."""
    return _esc(text).replace("\r", "").replace("\n", "&#10;")


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$&])")
_LINE_START = re.compile(r"^(\s*)([-+=>]|\d+[.)])")  # a list, heading line or quote


def _md(text: str) -> str:
    """Untrusted text (entity names, error messages) as literal text in Markdown, on one line.

    Every special character is backslash-escaped (CommonMark shows it as itself), not turned
    into an HTML entity: Gradio's Markdown showed ``&#x27;`` and ``&#36;`` where a name had
    ``'`` or ``$``. ``<`` escaped this way is text, never a tag."""
    escaped = _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return _LINE_START.sub(_escape_marker, escaped)


def _escape_marker(m: re.Match[str]) -> str:
    mark = m.group(2)  # "1." -> "1\.", "-" -> "\-"
    return m.group(1) + (mark[:-1] + "\\" + mark[-1] if mark[0].isdigit() else "\\" + mark)


def text_md(text: str) -> str:
    """Notes quoted in an answer, shown as text: each line escaped (``# R&D notes`` is no
    heading, a ``<script>`` line stays visible), line breaks kept."""
    lines = [_md(line) for line in str(text).splitlines()]
    return "  \n".join(line for line in lines if line) or ""
