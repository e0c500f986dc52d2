"""Plain help that reads well at 80 columns, and one error style (`error: ...` on stderr).

Typer's own help boxes squeeze option help into one-word lines at 80 columns and show every type as
`<bool>`/`<str>` and a required argument as `{paths}...`; these classes keep click's plain two-column
layout, write metavars the usual way (`--model TEXT`, `IMAGE...`), list the commands in the order a
user needs them, in two sections, with one-line summaries that are never cut off.
"""
from __future__ import annotations

import re
from typing import Any, Optional

try:  # this Typer vendors its own copy of click: its exceptions and parameters are that copy's classes
    from typer._click.core import Context, Parameter
    from typer._click.exceptions import UsageError
    from typer._click.formatting import HelpFormatter
    from typer._click.utils import echo
except ImportError:  # pragma: no cover - a Typer built on click itself
    from click import Context, HelpFormatter, Parameter, UsageError, echo
from typer.core import TyperCommand, TyperGroup

# (section title, commands in the order shown); commands missing here are listed last
COMMAND_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Commands", ("scan", "audit", "report", "inspect", "models", "fetch-clip", "demo")),
    ("Training and research", ("generate", "train", "train-fused", "eval", "calibrate", "average", "import-backbone",
                               "fit-head", "analyze")),
)

_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH", "bool": "BOOLEAN"}


def _type_metavar(param: Parameter, ctx: Context) -> str:
    """`<int range>` -> INTEGER, `<list[str]>` -> TEXT, `<a|b>` -> [a|b]: click's usual spelling."""
    if param.metavar:
        return param.metavar
    try:
        raw = param.display_type(ctx) if hasattr(param, "display_type") else param.make_metavar(ctx)
    except Exception:
        raw = ""
    label = str(raw or "").strip("<>")
    label = re.sub(r"^list\[(.*)\]$", r"\1", label)
    label = re.sub(r" range$", "", label)
    if "|" in label:
        return f"[{label}]"
    return _TYPE_NAMES.get(label.lower(), label.upper() or "VALUE")


def _is_argument(param: Parameter) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def _argument_name(param: Parameter) -> str:
    name = param.metavar or (param.name or "arg").upper()
    return name + ("..." if param.nargs != 1 and not name.endswith("...") else "")


def _option_name(param: Any, ctx: Context) -> str:
    text = ", ".join(param.opts)
    if param.secondary_opts:
        text += " / " + ", ".join(param.secondary_opts)
    if not param.is_flag and not param.count:
        text += " " + _type_metavar(param, ctx)
    return text


class ForensicsCommand(TyperCommand):
    """A command whose help is click's plain layout with usual metavars."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if _is_argument(p):
                name = _argument_name(p)
                pieces.append(name if p.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        args, opts = [], []
        for p in self.get_params(ctx):
            record = p.get_help_record(ctx)
            if record is None:
                continue
            if _is_argument(p):
                args.append((_argument_name(p), record[1]))
            else:
                opts.append((_option_name(p, ctx), record[1]))  # type: ignore[arg-type]
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        self.format_options(ctx, formatter)
        self.format_epilog(ctx, formatter)


class ForensicsUsageError(UsageError):
    """A usage error shown as `error: ...` (like every other error of the CLI) with the usage line after."""

    def show(self, file: Any = None) -> None:
        import sys

        file = file or sys.stderr
        echo(f"error: {self.format_message()}", file=file)
        if self.ctx is not None:
            echo(self.ctx.get_usage(), file=file)
            cmd = self.ctx.command_path
            echo(f"Try '{cmd} --help' for help.", file=file)


def _restyle(e: UsageError) -> ForensicsUsageError:
    if isinstance(e, ForensicsUsageError):
        return e
    msg = e.format_message()
    if msg[:1].isupper() and not msg[1:2].isupper():  # "Missing argument" -> "missing argument"
        msg = msg[:1].lower() + msg[1:]
    return ForensicsUsageError(msg, e.ctx)


class ForensicsGroup(TyperGroup):
    """The root group: commands in a useful order and two sections; usage errors as `error: ...`."""

    def list_commands(self, ctx: Context) -> list[str]:
        names = list(self.commands)
        ordered = [n for _, group in COMMAND_SECTIONS for n in group if n in self.commands]
        return ordered + [n for n in names if n not in ordered]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        self.format_options(ctx, formatter)
        self.format_epilog(ctx, formatter)

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        ForensicsCommand.format_options(self, ctx, formatter)  # type: ignore[arg-type]
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        listed = self.list_commands(ctx)
        sections: list[tuple[str, list[str]]] = []
        placed: set[str] = set()
        for title, group in COMMAND_SECTIONS:
            names = [n for n in group if n in listed]
            placed.update(names)
            sections.append((title, names))
        rest = [n for n in listed if n not in placed]
        if rest:
            sections.append(("Other commands", rest))
        for title, names in sections:
            rows = []
            for name in names:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                rows.append((name, cmd.short_help or cmd.get_short_help_str(limit=1000)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def make_context(self, info_name: Optional[str], args: list[str], parent: Optional[Context] = None,
                     **extra: Any) -> Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as e:
            raise _restyle(e) from None

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as e:
            raise _restyle(e) from None
