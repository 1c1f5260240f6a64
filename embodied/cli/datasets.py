"""``embodied record`` (demonstrations -> a LeRobot v3.0 dataset) and ``embodied replay`` (re-execute one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from embodied.cli.console import echo_data, fail_usage, progress, say
from embodied.cli.options import EnvName, in_range, usable_out
from embodied.cli.signals import terminate_means_interrupt
from embodied.errors import EmbodiedError


def record(
    task: Annotated[
        list[str] | None, typer.Option(help="task family (see `embodied tasks`; repeatable); default pick_place")
    ] = None,
    episodes: Annotated[int, typer.Option(callback=in_range(1, 100_000), help="episodes (seeds) per task family")] = 10,
    out: Annotated[Path, typer.Option(callback=usable_out, help="the dataset folder to create")] = Path(
        "datasets/demos"
    ),
    seed: Annotated[int, typer.Option(callback=in_range(0), help="first seed (>= 0)")] = 0,
    planner: Annotated[
        str, typer.Option(help="classical (scripted experts, default) | llm | llm+p | auto")
    ] = "classical",
    llm: Annotated[str | None, typer.Option(help="chat model for an llm planner")] = None,
    perception: Annotated[str, typer.Option(help="vision (default) | ground_truth")] = "vision",
    env: Annotated[EnvName, typer.Option(help="simulator backend (tabletop or pybullet)")] = EnvName.tabletop,
    keep_failed: Annotated[
        bool, typer.Option("--keep-failed/--successes-only", help="keep episodes whose task failed")
    ] = True,
) -> None:
    """Run the scripted experts and write their demonstrations as a LeRobot v3.0 dataset: both cameras as
    H.264 videos, state, end-effector pose, actions, the skill call at each step and the episode's outcome."""
    from embodied.learning.record import RecordConfig
    from embodied.learning.record import record as run_record

    if env is EnvName.ros:
        fail_usage("--env ros cannot be recorded for replay: record on tabletop or pybullet")
    if out.exists() and any(out.iterdir()):
        fail_usage(f"--out {out} is not empty: give a new folder for the dataset")
    try:
        config = RecordConfig(
            tuple(task or ("pick_place",)), episodes, out, seed, planner, perception, env.value, llm=llm
        )
        config.episode_config(config.tasks[0], seed)  # checks planner, perception and llm before anything runs
    except (EmbodiedError, ValueError) as e:
        fail_usage(str(e))
    with progress("episodes") as bar:
        job = bar.add_task("recording", total=episodes * len(config.tasks))

        def on_episode(task: str, seed: int, row: dict[str, Any]) -> None:
            mark = "ok" if row["success"] else "failed"
            bar.update(job, advance=1, description=f"{task} seed {seed}: {mark} ({row['length']} steps)")

        with terminate_means_interrupt():
            try:
                summary = run_record(config, on_episode)
            except EmbodiedError as e:
                fail_usage(str(e))
    say(
        "[bold]wrote[/] {} episodes, {} frames ({} succeeded) to {} in {:.0f} s",
        summary.episodes,
        summary.frames,
        summary.successes,
        out,
        summary.seconds,
    )
    if summary.skipped:
        say("skipped {} failed episodes ({})", len(summary.skipped), ", ".join(summary.skipped))
    if summary.interrupted:
        say("[yellow]interrupted[/]: the dataset holds the {} episodes finished before it", summary.episodes)
        raise typer.Exit(code=130)


def replay(
    dataset: Annotated[Path, typer.Argument(help="a dataset folder written by `embodied record`")],
    episode: Annotated[int, typer.Option(callback=in_range(0), help="episode index (>= 0)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Re-execute a recorded episode's actions from its seed and check every prop ends where it was recorded
    to end (exit 1 when one does not)."""
    from embodied.learning.replay import describe
    from embodied.learning.replay import replay as run_replay

    try:
        result = run_replay(dataset, episode)
    except EmbodiedError as e:
        fail_usage(str(e))
    if as_json:
        echo_data(json.dumps(describe(result)))
    else:
        verdict = "[green]matches[/]" if result.matches else "[red]differs[/]"
        say(
            "episode {}: {} steps replayed; props end within {:.2f} mm of the recording (tolerance {:.1f} mm): "
            + verdict,
            result.episode,
            result.steps,
            result.max_error_m * 1000,
            result.tolerance_m * 1000,
        )
    if not result.matches:
        raise typer.Exit(code=1)
