"""How `vidops --help` names what a parameter takes: the way click always has, not typer 0.29's.

typer 0.29 prints Python types (`--no-dvc <bool>`, `videos... <list[Path]>`) and wraps a
required argument in braces in the usage line (`vidops import [OPTIONS] {source}`). A
user reading the help wants what to type: a flag takes nothing, an option takes a PATH,
TEXT, INTEGER or FLOAT, an argument is named in capitals (`SOURCE`, `VIDEOS...`). The
commands and the group use these classes; nothing else about typer changes.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

# typer's own type label (`<path>`, `<str>`, `<list[Path]>`), spelled as click names it.
_CLICK_NAMES = {"str": "TEXT", "int": "INTEGER", "bool": "BOOLEAN"}


def _click_type(param: Any, ctx: Any) -> str:
    label = TyperArgument.display_type(param, ctx).strip("<>")
    label = label.removeprefix("list[").removesuffix("]").lower()  # VIDEOS... already says "many"
    return _CLICK_NAMES.get(label, label.upper())


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return _click_type(self, ctx)


def _set_metavars(params: list[Any], ctx: Any) -> None:
    for param in params:
        if isinstance(param, TyperArgument):
            # The type column of an argument is not its metavar in typer: print click's name.
            param.__class__ = _Argument
            if param.metavar is None:
                param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
        elif param.metavar is not None:
            continue  # chosen by hand where the option is declared
        elif getattr(param, "is_flag", False):
            param.metavar = ""  # a flag takes no value: nothing to print after it
        else:
            param.metavar = _click_type(param, ctx)  # PATH, TEXT, INTEGER, FLOAT, ...


class _ClickSpelling:
    """Shared by the command and the group: metavars set before parsing or help, and a usage
    line naming arguments plainly (``SOURCE``, ``[SOURCE]``) instead of typer's braces."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        _set_metavars(params, ctx)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []  # type: ignore[attr-defined]
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
        return pieces


class Command(_ClickSpelling, TyperCommand):
    pass


class Group(_ClickSpelling, TyperGroup):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]


class App(typer.Typer):
    """typer.Typer whose commands print click's metavars (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=Group, **kwargs)

    def command(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)
