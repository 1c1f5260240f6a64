"""Hypothesis strategies for what a hostile user types and what a hostile model server sends."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.robustness._server import Reply

# ---------------------------------------------------------------------- user text
MARKUP = (
    "[/]",
    "[/red]",
    "[bold",
    "[/x]",
    "[bold]",
    "[red]text[/blue]",
    "[link=file:///etc/passwd]x[/link]",
    "[[/]]",
    "\\[/]",
    ":warning:",
    "[@click=app.quit]",
    "%s %d {0} {}",
)
ODD = (
    "",
    " ",
    " \t \n ",
    "\x00",
    "\x1b[31mred\x1b[0m",
    "\r",
    "\u202estack",
    "\ufeff",
    "红色方块放在蓝色方块上",
    "把红色的方块放在蓝色的方块上面",
    "🤖🧱",
    "stack the red block on the red block",
    "stack the red block on the blue block",
    "put the green block in the bowl",
    "-",
    "--help",
)
TASKS = ("stack", "pick_place", "tower", "put_in_container", "sort_by_colour", "push_to_region", "clear_table")
VALID_INSTRUCTION = "stack the red block on the blue block"

# every Unicode character but surrogates (which cannot be encoded at all), control characters included
characters = st.characters(exclude_categories=("Cs",))

huge_text = st.sampled_from(["a", "[/]", "stack the red block on the blue block ", "é", "\x00"]).map(
    lambda unit: unit * (100_000 // len(unit))
)

hostile_text: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(MARKUP),
    st.sampled_from(ODD),
    st.text(characters, max_size=40),
    st.lists(st.sampled_from(MARKUP + ODD) | st.text(characters, max_size=8), min_size=2, max_size=4).map("".join),
    st.tuples(st.sampled_from((VALID_INSTRUCTION, "put the green block in the bowl")), st.sampled_from(MARKUP)).map(
        " ".join
    ),
    huge_text,
)


def arg_safe(text: str) -> str:
    """What an argv element can hold in a real process (no NUL byte); in process anything goes."""
    return text.replace("\x00", "")


# ---------------------------------------------------------------------- numbers as a user types them
int_text = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["-1", "0", "1", str(2**31), str(2**32), str(2**63), str(2**64), str(-(2**63) - 1)]),
    st.sampled_from(["", " ", "1e3", "0x10", "abc", "nan", "inf", "[/]", "3 ", "٣"]),
)
float_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e308", "1e-300", "[/]", ""]),
)


# ---------------------------------------------------------------------- what a model says
def json_text(value: Any) -> str:
    """JSON as a sloppy server writes it: ``NaN`` and ``Infinity`` allowed."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(characters, max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
object_ref = st.one_of(
    st.sampled_from(["$OBJ0", "$OBJ1", "$OBJ2", "$OBJ3"]),  # names from the scene the server was shown
    st.sampled_from(["left side", "right side", "front", "back", "bin", "red block"]),
    hostile_text.filter(lambda t: len(t) < 1000),
    json_values,
)
SKILLS = ("pick", "place", "push", "move_to", "open_gripper", "close_gripper", "look")
tool_name = st.one_of(st.sampled_from(SKILLS), st.sampled_from(("done", "__import__", "os.system", "")), hostile_text)


@st.composite
def tool_arguments(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """Arguments for ``name``: its real parameters, often, with fuzzed values; non-finite numbers included."""
    params = {
        "pick": ("object",),
        "place": ("object", "target"),
        "push": ("object", "region"),
        "move_to": ("x", "y", "z"),
    }.get(name, ())
    number = st.one_of(non_finite, st.floats(-1, 1), st.floats(allow_nan=True, allow_infinity=True), object_ref)
    args = {p: draw(number if name == "move_to" else object_ref) for p in params}
    if draw(st.booleans()):
        args.update(draw(st.dictionaries(st.text(max_size=6), json_values | non_finite, max_size=2)))
    return args


@st.composite
def tool_call(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(tool_name)
    return name, draw(tool_arguments(name))


@st.composite
def decision_text(draw: st.DrawFn) -> str:
    """A decision in the JSON the planner asks for, fuzzed, sometimes wrapped or cut short."""
    decision: dict[str, Any] = {
        "thoughts": draw(hostile_text.filter(lambda t: len(t) < 2000) | json_values),
        "tool_calls": [{"name": n, "arguments": a} for n, a in draw(st.lists(tool_call(), max_size=3))],
        "done": draw(st.booleans() | json_values),
    }
    if draw(st.booleans()):
        decision["subgoals"] = draw(st.lists(st.text(characters, max_size=30) | json_values, max_size=3))
    if draw(st.booleans()):
        decision["memory_query"] = draw(hostile_text.filter(lambda t: len(t) < 1000))
    text = json_text(decision)
    wrap = draw(st.sampled_from(["plain", "fence", "prose", "cut", "twice"]))
    if wrap == "fence":
        return f"```json\n{text}\n```"
    if wrap == "prose":
        return f"Sure! [bold]Here[/] is my answer: {text} Hope that helps [/]."
    if wrap == "cut":
        return text[: draw(st.integers(0, len(text)))]
    if wrap == "twice":
        return text + text
    return text


@st.composite
def goal_text(draw: st.DrawFn) -> str:
    """An LLM+P goal, fuzzed."""
    pred = st.sampled_from(["on", "in", "in_region", "near", "ON", ""]) | hostile_text.filter(lambda t: len(t) < 100)
    atom = st.one_of(st.tuples(pred, object_ref, object_ref).map(list), json_values)
    goal = draw(st.lists(atom, max_size=4))
    return json_text(draw(st.sampled_from([{"goal": goal}, {"goal_atoms": goal}, goal])))


garbage_text = st.one_of(
    st.text(characters, max_size=200),
    st.sampled_from(['{"thoughts": NaN}', "{", "null", "[]", '{"tool_calls": {"name": "pick"}}', "<html>[/]</html>"]),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)
ERROR_BODIES = st.one_of(
    st.sampled_from(
        [
            b'{"error": {"message": "[/] invalid key [bold"}}',
            b'{"error": {"message": "Incorrect API key provided: [/red]"}}',
            b"[/]",
            b"",
            b"<html>502 Bad Gateway</html>",
            b'{"error": NaN}',
        ]
    ),
    st.binary(max_size=300),
    hostile_text.map(lambda t: json.dumps({"error": {"message": t}}).encode()),
)


@st.composite
def native_reply(draw: st.DrawFn) -> Reply:
    """Native tool calls whose argument text is fuzzed JSON (``NaN`` included) or not JSON at all."""
    calls = []
    for name, args in draw(st.lists(tool_call(), min_size=1, max_size=3)):
        text = json_text(args) if draw(st.integers(0, 4)) else draw(garbage_text)
        calls.append((name, text))
    content = draw(st.none() | hostile_text.filter(lambda t: len(t) < 500))
    return Reply(content=content, tool_calls=tuple(calls))


def reply(content: st.SearchStrategy[str]) -> st.SearchStrategy[Reply]:
    """One server reply: mostly answers (``content``), then every way a server misbehaves."""
    completion = content.map(lambda text: Reply(content=text))
    return st.one_of(
        completion,
        native_reply(),
        garbage_text.map(lambda text: Reply(content=text)),
        st.builds(
            Reply,
            kind=st.just("raw"),
            status=st.sampled_from([400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 200]),
            body=ERROR_BODIES,
            content_type=st.sampled_from(["application/json", "text/html", "text/plain"]),
        ),
        st.integers(1, 5).map(lambda mb: Reply(kind="raw", body=b'{"choices": ["' + b"x" * (mb << 20) + b'"]}')),
        st.integers(1, 3).map(lambda mb: Reply(content="[/]" * (mb << 18))),  # a huge but valid completion
        content.map(lambda text: Reply(kind="trickle", content=text, delay_s=0.001)),  # slow but in time
        st.just(Reply(kind="trickle", content='{"thoughts": "", "done": true}', delay_s=0.5)),  # past the deadline
        st.just(Reply(kind="hang", delay_s=30.0)),
        st.just(Reply(kind="drop")),
        content.map(lambda text: Reply(kind="partial", content=text)),
    )


def scripts(content: st.SearchStrategy[str]) -> st.SearchStrategy[list[Reply]]:
    """What the server answers to each request in turn (the last answer repeats)."""
    return st.lists(reply(content), min_size=1, max_size=5)
