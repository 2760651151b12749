"""`kg merges`: the entity merges resolution applied or proposed, and a person's word on them.

`kg merges` lists them with the rule, the reason and the evidence; `kg merges accept ID` /
`kg merges reject ID` record a decision in the workspace (merge_decisions.json) that every later
`kg extract` applies: a rejected merge is undone, an accepted candidate is applied.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from app.cli_common import JsonOpt, WorkspaceOpt, _friendly_errors, _print_json, _settings, out
from app.cli_help import KgCommand, KgGroup
from kg.errors import BadInput

merges_app = typer.Typer(
    help="Review entity merges: list the applied and candidate merges, accept or reject one.",
    invoke_without_command=True,
    cls=KgGroup,
)
StatusOpt = Annotated[
    str | None,
    typer.Option("--status", help="Only these: applied, candidate or rejected."),
]
IdArg = Annotated[str, typer.Argument(help="The merge's id, as `kg merges` lists it.")]


def _service(workspace: object) -> object:
    from app.service import KG

    return KG(_settings(workspace), use_llm=False)  # type: ignore[arg-type]


@merges_app.callback()
def merges_list(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    status: StatusOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List applied and candidate merges with why each rule fired and what supports it."""
    if ctx.invoked_subcommand is not None:
        return
    with _friendly_errors():
        if status not in (None, "applied", "candidate", "rejected"):
            raise BadInput(f"--status must be applied, candidate or rejected, not {status!r}")
        rows = [r for r in _service(workspace).merges() if status in (None, r["status"])]  # type: ignore[attr-defined]
        if as_json:
            _print_json(rows)
            return
        out.print(f"{len(rows)} merges")
        for r in rows:
            decided = f" ({r['decision']}ed)" if r["decision"] else ""
            line = f"{r['kept_name']} ({r['type']}) <- {r['merged_name']}  [{r['rule']}]"
            out.print(f"[bold]{r['id']}[/] {r['status']}{decided}: {escape(line)}")
            evidence = "; ".join(r["evidence"])
            out.print(escape(f"    why: {r['reason']}" + (f"; {evidence}" if evidence else "")))
        if rows:
            out.print("accept or reject one: kg merges accept ID / kg merges reject ID")


def _decide(merge_id: str, decision: str, workspace: object) -> None:
    with _friendly_errors():
        row = _service(workspace).decide_merge(merge_id, decision)  # type: ignore[attr-defined]
        verb = "accepted" if decision == "accept" else "rejected"
        out.print(
            f"[green]{verb}[/] {row['id']}: {row['kept_name']} ~ {row['merged_name']} "
            "(the next `kg extract` applies it)"
        )


@merges_app.command("accept", cls=KgCommand)
def merges_accept(merge_id: IdArg, workspace: WorkspaceOpt = None) -> None:
    """Merge this pair on every later `kg extract` (whatever the rules say)."""
    _decide(merge_id, "accept", workspace)


@merges_app.command("reject", cls=KgCommand)
def merges_reject(merge_id: IdArg, workspace: WorkspaceOpt = None) -> None:
    """Keep this pair apart on every later `kg extract`."""
    _decide(merge_id, "reject", workspace)
