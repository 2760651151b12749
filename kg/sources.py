"""Which sources (folders, files, the chatbot's uploads) a workspace is built from.

A workspace remembers its sources in the manifest, so ``kg extract NEW`` adds NEW to them and
an upload keeps the folders extracted before. Only a source the user takes away (``--replace``)
or a file deleted inside a source that is still there drops documents; a source folder that has
gone missing (moved, unmounted) keeps its documents from the last run and is reported. Every
removal is listed before anything is written, and recorded in the manifest for ``kg status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kg.models import Document, Manifest, RemovedDocument
from kg.workspace import Workspace


def _key(path: Path | str) -> str:
    return str(Path(path).resolve())


@dataclass
class SourcePlan:
    """The sources of this run: which to read, which are missing, which the user dropped."""

    sources: list[str]  # every source the workspace keeps (absolute paths)
    read: list[Path]  # the ones that exist now, read this run
    missing: list[str]  # kept sources that are gone: their documents are carried over
    dropped: list[str]  # sources the user removed (``--replace``)
    previous: list[Document] = field(default_factory=list)
    previous_by_source: dict[str, list[str]] = field(default_factory=dict)

    def settle(self, documents: list[Document]) -> tuple[list[Document], list[RemovedDocument]]:
        """The documents of missing sources to keep, and the previous documents that go.

        ``documents`` are the ones read this run from ``read``."""
        read_ids = {d.id for d in documents}
        by_id = {d.id: d for d in self.previous}
        kept: list[Document] = []
        claimed: set[str] = set()
        for source in self.missing:
            ids = self.previous_by_source.get(source)
            if ids is None:  # a manifest from before sources were tracked per document
                ids = [d.id for d in self.previous if not _inside_any(d, self.read)]
            for doc_id in ids:
                doc = by_id.get(doc_id)
                if doc is not None and doc_id not in read_ids and doc_id not in claimed:
                    kept.append(doc)
                    claimed.add(doc_id)
        now = read_ids | claimed
        paths_now = {d.path for d in documents} | {d.path for d in kept}  # edited, not removed
        removed = [
            RemovedDocument(path=d.path, source=src, reason=self._why(src))
            for d in self.previous
            if d.id not in now and d.path not in paths_now
            for src in [self._source_of(d.id)]
        ]
        return kept, removed

    def _source_of(self, doc_id: str) -> str:
        return next((s for s, ids in self.previous_by_source.items() if doc_id in ids), "")

    def _why(self, source: str) -> str:
        if source in self.dropped:
            return "its source was removed (--replace)"
        return "deleted from its source" if source else "no longer found in any source"

    def by_source(self, documents: Sequence[Document]) -> dict[str, list[str]]:
        """Source -> ids of its documents, for the next run's ``settle``."""
        out: dict[str, list[str]] = {}
        for doc in documents:
            src = next((_key(p) for p in self.read if _holds(Path(p), doc)), None)
            if src is None:  # carried over from a missing source
                src = self._source_of(doc.id) or (self.missing[0] if self.missing else "")
            out.setdefault(src, []).append(doc.id)
        return out


def _holds(source: Path, doc: Document) -> bool:
    """Whether ``doc`` (path relative to the folder it was read from) came from ``source``."""
    if source.is_dir():
        return (source / doc.path).exists()
    return source.name == doc.path


def _inside_any(doc: Document, sources: Sequence[Path]) -> bool:
    return any(_holds(Path(s), doc) for s in sources)


def plan_sources(
    workspace: Workspace, paths: Sequence[Path], *, replace: bool = False
) -> SourcePlan:
    """This run's sources: the given ones plus (unless ``replace``) those the workspace has."""
    given = [_key(p) for p in paths]
    manifest: Manifest | None = None
    if workspace.exists():
        try:
            manifest = workspace.manifest()
        except ValueError:  # an unreadable manifest: start from the given paths
            manifest = None
    previous_sources = list(manifest.sources) if manifest else []
    kept = [] if replace else [s for s in previous_sources if s not in given]
    sources = list(dict.fromkeys([*kept, *given]))
    dropped = [s for s in previous_sources if s not in sources]
    previous = workspace.read("documents") if manifest else []
    return SourcePlan(
        sources=sources,
        read=[Path(s) for s in sources if Path(s).exists()],
        missing=[s for s in sources if not Path(s).exists()],
        dropped=dropped,
        previous=previous,  # type: ignore[arg-type]
        previous_by_source=dict(manifest.source_documents) if manifest else {},
    )


def describe(plan: SourcePlan, removed: Sequence[RemovedDocument]) -> list[str]:
    """Lines to print before writing: missing sources kept, dropped sources, removed files."""
    lines = []
    for source in plan.missing:
        n = len(plan.previous_by_source.get(source, []))
        lines.append(
            f"source {source} is missing: keeping its {n} documents from the last run "
            "(`kg extract --replace PATH…` to drop it)"
        )
    for source in plan.dropped:
        lines.append(f"removing source {source} (--replace)")
    for doc in removed:
        lines.append(f"removing document {doc.path}: {doc.reason}")
    return lines
