"""How `kg … --help` shows parameters: Click-style usage and types, no ``<type>`` placeholders.

Typer renders a required argument as ``{paths}`` in the usage line and every parameter's type as
``<bool>``, ``<str>``, ``<int range>``, which reads as if ``--json`` took a value. These command
and group classes keep Typer's help panels and show what Click would: nothing beside an on/off
flag, ``TEXT``, ``PATH``, ``INTEGER RANGE`` or the choices ``[a|b]`` beside the rest.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

_CLICK_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN",
                "int range": "INTEGER RANGE", "float range": "FLOAT RANGE"}


def _kind(param: Any, ctx: Any) -> str:
    """Click's name for what ``param`` takes: ``TEXT``, ``PATH``, ``[hybrid|bm25]``, ``TEXT...``."""
    label = param.display_type(ctx).removeprefix("<").removesuffix(">")
    many = label.startswith("list[") and label.endswith("]")
    label = label.removeprefix("list[").removesuffix("]") if many else label
    if param.type_descriptor.is_choice:
        kind = f"[{label}]"
    else:
        kind = _CLICK_NAMES.get(label, label.upper())
    variadic = isinstance(param, TyperArgument) and (many or param.nargs != 1)
    return kind + "..." if variadic else kind  # a repeatable option shows its one value


def plain_types(params: list[Any], ctx: Any) -> list[Any]:
    """Give each parameter a Click-style type label in place of Typer's ``<type>``."""
    for param in params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _kind(param, ctx)
        elif isinstance(param, TyperArgument):
            kind = _kind(param, ctx)
            param.display_type_rich = lambda ctx, kind=kind: kind  # the metavar names the usage
    return params


class KgCommand(TyperCommand):
    """A Typer command whose usage reads ``kg extract [OPTIONS] PATHS...``."""

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_types(super().get_params(ctx), ctx)

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


class KgGroup(TyperGroup):
    """``kg`` and ``kg eval``: the same plain types for the group's own options."""

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_types(super().get_params(ctx), ctx)
