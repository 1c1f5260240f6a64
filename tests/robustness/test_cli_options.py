"""Fuzzed option values and instructions for `embodied run`, `embodied eval` and `embodied skills show`.

Unicode, rich markup (``[/]``, ``[/red]``, ``[bold``), control characters, empty and all-space
text, 100 KB strings, negative and huge numbers, unknown choices, and an ``--out`` that is a regular
file or a read-only folder. Whatever the input: exit 0/1/2/130, no crash, and every episode folder
left behind is complete and strict JSON (see ``_support``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from tests.robustness._strategies import TASKS, VALID_INSTRUCTION, float_text, hostile_text, int_text
from tests.robustness._support import (
    Expect,
    check,
    example_dir,
    examples,
    expect_exit,
    invoke,
    read_only,
    snapshot,
    time_limit,
)

OUT_KINDS = ("fresh", "fresh", "file", "under_file", "read_only")


def out_path(kind: str, folder: Path) -> tuple[Path, Path | None]:
    """The ``--out`` to pass and the folder to look for episode folders in (None: nothing may appear)."""
    if kind == "fresh":
        return folder / "runs", folder / "runs"
    if kind == "file":
        (folder / "a_file").write_text("not a folder\n")
        return folder / "a_file", None
    if kind == "under_file":
        (folder / "a_file").write_text("not a folder\n")
        return folder / "a_file" / "runs", None
    out = folder / "read_only"
    out.mkdir()
    return out, out


# ---------------------------------------------------------------------- embodied run
SAFE_RUN: dict[str, str | None] = {
    "task": "stack",
    "instruction": None,
    "seed": "1",
    "env": "tabletop",
    "planner": "classical",
    "perception": "ground_truth",
    "max_steps": "40",
    "out": "fresh",
    "memory": "fresh",
}
run_options = st.fixed_dictionaries(
    {
        "task": st.one_of(st.sampled_from(TASKS), hostile_text),
        "instruction": st.none() | hostile_text,
        "seed": st.one_of(st.sampled_from(["0", "3"]), int_text),
        "env": st.sampled_from(["tabletop", "tabletop", "pybullet"]) | hostile_text,
        "planner": st.sampled_from(["classical", "auto", "llm", "llm+p", "LLM"]) | hostile_text,
        "perception": st.sampled_from(["ground_truth", "ground_truth", "vision"]) | hostile_text,
        "max_steps": st.sampled_from(["40", "40", "1", "0", "-1", "abc", str(2**64)]),
        "out": st.sampled_from(OUT_KINDS),
        "memory": st.sampled_from(["fresh", "none", "folder"]),
    }
)


def run_argv(options: dict[str, str | None], out: Path, memory: Path) -> list[str]:
    argv = ["run", "--task", str(options["task"]), "--seed", str(options["seed"])]
    if options["instruction"] is not None:
        argv += ["--instruction", options["instruction"]]
    argv += ["--env", str(options["env"]), "--planner", str(options["planner"])]
    argv += ["--perception", str(options["perception"]), "--max-steps", str(options["max_steps"])]
    argv += ["--no-video", "--out", str(out), "--embedder", "lexical"]
    if options["memory"] == "none":
        return [*argv, "--no-memory"]
    return [*argv, "--memory", str(memory.parent if options["memory"] == "folder" else memory)]


@time_limit(ci=150, fuzz=3600)
@examples(ci=14, fuzz=400)
@given(options=run_options)
@example(options={**SAFE_RUN, "task": "[/]"})
@example(options={**SAFE_RUN, "instruction": " ", "seed": "-1", "memory": "none"})
@example(options={**SAFE_RUN, "instruction": f"{VALID_INSTRUCTION} [/red]", "seed": "2"})
@example(options={**SAFE_RUN, "out": "file", "memory": "none"})
@example(options={**SAFE_RUN, "out": "read_only", "memory": "none"})
def test_run_options(scratch: Path, options: dict[str, str | None]) -> None:
    with example_dir(scratch) as folder:
        out, episodes = out_path(str(options["out"]), folder)
        memory = folder / "memory" / "memory.sqlite"
        memory.parent.mkdir()
        argv = run_argv(options, out, memory)
        if options["out"] == "read_only":
            with read_only(out) as ok:
                outcome = invoke(argv) if ok else None
            if outcome is None:
                return  # read-only folders cannot be made here
        else:
            outcome = invoke(argv)
        check(
            outcome,
            Expect(
                outs=[episodes] if episodes else [],
                memory=memory,
                before=snapshot(None),
                ground_truth=options["perception"] == "ground_truth",
            ),
        )
        if options["out"] != "fresh":  # an --out that is not a usable folder: refused (issue 14 case 2)
            expect_exit(outcome, {2}, "an unusable --out is a usage error")


# ---------------------------------------------------------------------- embodied eval
@time_limit(ci=60, fuzz=1800)
@examples(ci=20, fuzz=600)
@given(
    suite=st.sampled_from(["standard", "paraphrase", "perturb", "chains"]) | hostile_text,
    families=st.lists(st.sampled_from(TASKS) | hostile_text, min_size=1, max_size=3),
    episodes=int_text,
    workers=int_text,
    timeout=float_text,
    planner=st.sampled_from(["classical", "llm"]) | hostile_text,
    out_kind=st.sampled_from(OUT_KINDS),
)
@example(suite="standard", families=["[/x]"], episodes="1", workers="1", timeout="5", planner="classical",
         out_kind="fresh")  # fmt: skip
@example(suite="[/]", families=["stack"], episodes="1", workers="1", timeout="5", planner="classical",
         out_kind="fresh")  # fmt: skip
def test_eval_bad_options(
    scratch: Path,
    suite: str,
    families: list[str],
    episodes: str,
    workers: str,
    timeout: str,
    planner: str,
    out_kind: str,
) -> None:
    """Only the options that must be refused are fuzzed here (at least one family or the suite is bad),
    so no worker is started: a real evaluation costs seconds per episode."""
    from embodied.evaluation.suites import SUITES
    from envs.tasks import FAMILIES

    if suite in SUITES and all(f in FAMILIES for f in families):
        families = [*families, "[/juggle]"]
    with example_dir(scratch) as folder:
        out, episodes_root = out_path(out_kind, folder)
        argv = ["eval", "--suite", suite, *(f"--family={f}" for f in families), "--episodes", episodes]
        argv += ["--workers", workers, "--timeout", timeout, "--planner", planner, "--perception", "ground_truth"]
        argv += ["--out", str(out)]
        if out_kind == "read_only":
            with read_only(out) as ok:
                outcome = invoke(argv) if ok else None
            if outcome is None:
                return
        else:
            outcome = invoke(argv)
        check(outcome, Expect(eval_outs=[episodes_root] if episodes_root else []))
        expect_exit(outcome, {2}, "bad options are a usage error")


@time_limit(ci=120, fuzz=600)
@examples(ci=2, fuzz=6)
@given(out_kind=st.sampled_from(["file", "read_only", "under_file"]))
@example(out_kind="file")
def test_eval_unusable_out(scratch: Path, out_kind: str) -> None:
    """A valid suite into an ``--out`` that cannot hold results: a usage error (issue 14 case 2)."""
    with example_dir(scratch) as folder:
        out, _ = out_path(out_kind, folder)
        argv = ["eval", "--suite", "standard", "--family", "stack", "--episodes", "1", "--workers", "1"]
        argv += ["--planner", "classical", "--perception", "ground_truth", "--timeout", "60", "--out", str(out)]
        if out_kind == "read_only":
            with read_only(out) as ok:
                outcome = invoke(argv, hang_s=110) if ok else None
            if outcome is None:
                return
        else:
            outcome = invoke(argv, hang_s=110)
        check(outcome, Expect(eval_outs=[out] if out.is_dir() else []))
        expect_exit(outcome, {2}, "an unusable --out is a usage error")


# ---------------------------------------------------------------------- embodied skills show
@time_limit(ci=60, fuzz=1200)
@examples(ci=25, fuzz=1000)
@given(name=hostile_text, as_json=st.booleans())
@example(name="[/]", as_json=False)
def test_skills_show_odd_names(scratch: Path, learned_memory: Path, name: str, as_json: bool) -> None:
    with example_dir(scratch) as folder:
        memory = Path(shutil.copy2(learned_memory, folder / "memory.sqlite"))
        outcome = invoke(["skills", "show", "--memory", str(memory), *(["--json"] if as_json else []), "--", name])
        check(outcome)
        expect_exit(outcome, {2}, "an unknown skill is a usage error")
