"""Hostile model servers: `embodied run --llm openai:fake` against a loopback OpenAI-protocol server.

The server answers each request with the next reply of a fuzzed script: fuzzed decisions and goals
(markup, non-finite numbers such as ``{"x": NaN}`` in tool-call arguments, wrong types, cut-off
JSON), garbage, huge bodies, 4xx/5xx (a 401 whose body holds ``[/]``), bodies trickled byte by byte
(in time, and past the deadline), no answer at all, and dropped connections. Tool-call arguments
name real objects of the scene now and then (``$OBJ0``), so skills really run and memory really
learns. In process, a request's deadline is 1.5 s and there is one retry (the conftest's
``fast_llm``); the run must end within its watchdog, however the server behaves.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from tests.robustness._server import Loopback, Reply
from tests.robustness._strategies import decision_text, goal_text, json_text, scripts
from tests.robustness._support import Expect, check, example_dir, examples, invoke, snapshot, time_limit

HANG_S = 75.0  # an episode against the worst script ends well within this (1.5 s × 2 per request)


def llm_run(server: Loopback, folder: Path, planner: str, task: str, seed: int, max_steps: int) -> None:
    out, memory = folder / "runs", folder / "memory.sqlite"
    argv = ["run", "--task", task, "--seed", str(seed), "--llm", "openai:fake", "--planner", planner]
    argv += ["--perception", "ground_truth", "--no-video", "--max-steps", str(max_steps), "--out", str(out)]
    argv += ["--memory", str(memory), "--embedder", "lexical"]
    env = {"OPENAI_BASE_URL": server.state.url, "OPENAI_API_KEY": "sk-fuzz"}
    before = snapshot(memory)
    outcome = invoke(argv, env=env, hang_s=HANG_S)
    if outcome.hung or outcome.exception is not None:
        script = "\n  ".join(r.describe() for r in server.state.script)
        outcome.output += f"\nserver script:\n  {script}\nrequests answered: {len(server.state.requests)}"
    check(outcome, Expect(outs=[out], memory=memory, before=before, ground_truth=True))


def native(*calls: tuple[str, dict[str, object]]) -> Reply:
    return Reply(tool_calls=tuple((name, json_text(args)) for name, args in calls))


DONE = Reply(content='{"thoughts": "the task is done", "tool_calls": [], "done": true}')
CASE_8 = [  # issue 14 case 8: pick, place on a region, then "done" on a stack task
    native(("pick", {"object": "$OBJ0"})),
    native(("place", {"object": "$OBJ0", "target": "right side"})),
    DONE,
]
CASE_4 = [  # issue 14 case 4: non-finite numbers in tool-call arguments
    Reply(tool_calls=(("move_to", '{"x": NaN, "y": Infinity, "z": -Infinity}'),)),
    Reply(content='{"thoughts": "again", "tool_calls": [{"name": "move_to", "arguments": {"x": NaN}}], "done": false}'),
    DONE,
]
CASE_3 = [Reply(kind="raw", status=401, body=b'{"error": {"message": "Incorrect API key [/] provided [bold"}}')]
CASE_5 = [Reply(kind="trickle", content='{"thoughts": "", "done": true}', delay_s=0.5)]  # one byte every 0.5 s


@time_limit(ci=240, fuzz=7200)
@examples(ci=10, fuzz=300)
@given(script=scripts(decision_text()), task=st.sampled_from(["stack", "pick_place", "tower"]), seed=st.integers(0, 3))
@example(script=CASE_8, task="stack", seed=0)
@example(script=CASE_4, task="stack", seed=0)
@example(script=CASE_3, task="stack", seed=0)
@example(script=CASE_5, task="stack", seed=0)
@example(script=[Reply(kind="drop"), Reply(kind="partial", content="{}"), DONE], task="stack", seed=1)
def test_llm_planner_against_a_hostile_server(
    hostile: Loopback, fast_llm: None, scratch: Path, script: list[Reply], task: str, seed: int
) -> None:
    hostile.state.load(script)
    with example_dir(scratch) as folder:
        llm_run(hostile, folder, "llm", task, seed, max_steps=160)


@time_limit(ci=150, fuzz=5400)
@examples(ci=6, fuzz=200)
@given(script=scripts(goal_text()), task=st.sampled_from(["stack", "put_in_container", "push_to_region"]))
@example(script=[Reply(content=json.dumps({"goal": [["on", "$OBJ0", "$OBJ0"]]}))], task="stack")
@example(script=[Reply(content='{"goal": [["in_region", "$OBJ0", NaN]]}')], task="stack")
@example(script=CASE_3, task="stack")
def test_llm_plus_p_against_a_hostile_server(
    hostile: Loopback, fast_llm: None, scratch: Path, script: list[Reply], task: str
) -> None:
    hostile.state.load(script)
    with example_dir(scratch) as folder:
        llm_run(hostile, folder, "llm+p", task, 0, max_steps=120)
