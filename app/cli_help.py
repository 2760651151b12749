"""How `kg … --help` shows parameters: Click-style usage and no type beside on/off flags.

Typer renders a required argument as ``{paths}`` in the usage line and every flag with a
``<bool>`` placeholder, which reads as if ``--json`` took a value. This command class keeps
Typer's help panels and fixes just those two.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperOption


class KgCommand(TyperCommand):
    """A Typer command whose usage reads ``kg extract [OPTIONS] PATHS...``."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""  # shown as nothing in the type column
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = (param.metavar or param.name or "arg").upper()
                name += "..." if param.nargs != 1 else ""
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces
