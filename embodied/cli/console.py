"""The one printing path of the ``embodied`` command, and the exit for a bad command line.

Every command prints through this module, and nothing here reads markup in text the CLI did not
write. A *template* is ours and may use rich markup (``"[bold]planner[/] {}"``); the *values* filled
into its ``{}`` slots (task names, instructions, paths, error messages, a model's thoughts, a
server's reply) are shown as typed: ``[/]`` prints as ``[/]``, ``pip install 'embodied[memory]'``
keeps its ``[memory]``, and control characters (an ANSI escape in a model's answer) are shown as
``\\x1b`` instead of reaching the terminal.

* :func:`say` prints one line made from a template and values; :func:`styled` makes that line as a
  :class:`~rich.text.Text` for a table cell or title.
* :func:`table` is a table whose title and string cells are plain text; :func:`show` prints it.
* :func:`progress` is a progress bar whose descriptions are plain text.
* :func:`fail_usage` prints ``error: <message>`` (the message is a value) and exits with code 2.
* :func:`echo_data` writes machine-readable output (JSON) to stdout unchanged.
"""

from __future__ import annotations

import string
import unicodedata
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Span, Text

_console = Console(highlight=False)
_stderr = Console(highlight=False, stderr=True)

#: Private-use code points stand in for the values while a template's markup is parsed.
_SLOT = 0xE000


def printable(value: object) -> str:
    """``str(value)`` with control characters (but newline and tab) written as escapes (``\\x1b``)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) != "Cc" else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def styled(template: str, *values: object) -> Text:
    """``template`` (our own rich markup) with its ``{}`` slots filled by ``values`` as plain text.

    A slot may carry a conversion and a format spec (``{!r}``, ``{:.1f}``, ``{:12s}``); a value
    inside a styled span takes that style (``"[bold]{}[/]"``) but its own brackets stay text.
    """
    pieces: list[str] = []
    filled: list[str] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        pieces.append(literal)
        if field is None:
            continue
        if field:
            raise ValueError(f"template {template!r}: use empty slots {{}}, not {{{field}}}")
        if len(filled) == len(values):
            raise ValueError(f"template {template!r} has more slots than the {len(values)} values given")
        value = values[len(filled)]
        shown = repr(value) if conversion == "r" else ascii(value) if conversion == "a" else value
        filled.append(printable(format(shown, spec or "")))
        pieces.append(chr(_SLOT + len(filled) - 1))
    if len(filled) != len(values):
        raise ValueError(f"template {template!r} has {len(filled)} slots for {len(values)} values")
    marked = Text.from_markup("".join(pieces), emoji=False)
    out = Text(style=marked.style)
    start = 0
    for i, char in enumerate(marked.plain):
        slot = ord(char) - _SLOT
        if 0 <= slot < len(filled):
            value = filled[slot]
            out.append_text(marked[start:i])
            out.append_text(Text(value, spans=[Span(0, len(value), s.style) for s in marked[i : i + 1].spans]))
            start = i + 1
    out.append_text(marked[start:])
    return out


def plain(value: object) -> Text:
    """``value`` as text with no markup read in it (a table cell, a title)."""
    return Text(printable(value))


def say(template: str, *values: object, soft_wrap: bool = False, stderr: bool = False) -> None:
    """Print ``styled(template, *values)``; ``soft_wrap``: do not break the line (a path to copy);
    ``stderr``: to stderr (where stdout carries a protocol, as for ``embodied mcp serve``)."""
    (_stderr if stderr else _console).print(styled(template, *values), soft_wrap=soft_wrap)


class _PlainTable(Table):
    """A table whose string cells are plain text (pass :func:`styled` text for a styled cell)."""

    def add_row(self, *renderables: Any, style: Any = None, end_section: bool = False) -> None:
        cells = [plain(r) if isinstance(r, str) else r for r in renderables]
        super().add_row(*cells, style=style, end_section=end_section)


def table(*headers: str, title: str | Text | None = None, **options: Any) -> Table:
    """A :class:`~rich.table.Table` with our ``headers``; its title and string cells are plain text."""
    if isinstance(title, str):
        title = Text(printable(title), style="table.title")
    return _PlainTable(*headers, title=title, **options)


def show(renderable: Table | Text) -> None:
    """Print a table made by :func:`table` (or a text made by :func:`styled`)."""
    _console.print(renderable)


def progress(counter: str, *, style: str = "", transient: bool = False, console: Console | None = None) -> Progress:
    """A progress bar: its description as plain text (in ``style``), the bar, ``counter``, the time.

    ``counter`` is ours, a format of the task (``"{task.completed} steps"``).
    """
    return Progress(
        TextColumn("{task.description}", style=style, markup=False),
        BarColumn(),
        TextColumn(counter, markup=False),
        TimeElapsedColumn(),
        console=console or _console,
        transient=transient,
    )


def echo_data(text: str) -> None:
    """Write machine-readable output (JSON) to stdout exactly as given, with a newline."""
    typer.echo(text)


def fail_usage(message: str, *, stderr: bool = False) -> NoReturn:
    """Print ``error: message`` (``message`` shown as typed) and exit with code 2 (a usage error)."""
    say("[bold red]error:[/] {}", message, stderr=stderr)
    raise typer.Exit(code=2)
