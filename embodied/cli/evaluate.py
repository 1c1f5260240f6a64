"""``embodied eval``: a suite of seeded episodes in parallel, with a success-rate progress bar and reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embodied.cli.console import fail_usage, progress, say
from embodied.cli.options import (
    EmbedderName,
    EmbedderOption,
    EnvName,
    PolicyOption,
    in_range,
    open_memory,
    out_error,
    usable_out,
)
from embodied.errors import EmbodiedError
from embodied.evaluation.folder_lock import EvalFolderError
from embodied.evaluation.suites import MAX_SEED, SUITES

if TYPE_CHECKING:
    from embodied.evaluation.runner import EvalOptions
    from embodied.evaluation.suites import EpisodeSpec

#: seeds per family that one ``embodied eval`` accepts (each episode takes seconds)
MAX_EPISODES = 100_000


def evaluate_cmd(
    suite: Annotated[str, typer.Option(help=" | ".join(SUITES))] = "standard",
    episodes: Annotated[
        int, typer.Option(callback=in_range(1, MAX_EPISODES), help=f"seeds per task family (1 to {MAX_EPISODES})")
    ] = 10,
    seed_start: Annotated[
        int,
        typer.Option(callback=in_range(0, MAX_SEED - MAX_EPISODES), help="first seed of each family (default 0)"),
    ] = 0,
    workers: Annotated[int, typer.Option(callback=in_range(1), help="parallel worker processes (>= 1)")] = 2,
    ray: Annotated[str | None, typer.Option(help="Ray cluster address, or `local` to start one here")] = None,
    out: Annotated[Path, typer.Option(callback=usable_out, help="results folder (rerun into it to resume)")] = Path(
        "eval"
    ),
    planner: Annotated[str, typer.Option(help="classical | llm | llm+p | auto")] = "auto",
    llm: Annotated[str | None, typer.Option(help="local, openai:MODEL, ollama:MODEL, hf:PATH or scripted:FILE")] = None,
    perception: Annotated[str, typer.Option(help="vision | ground_truth")] = "vision",
    env: Annotated[EnvName, typer.Option(help="simulator backend")] = EnvName.tabletop,
    families: Annotated[list[str] | None, typer.Option("--family", help="only these families (repeatable)")] = None,
    timeout: Annotated[
        float, typer.Option(callback=in_range(1), help="seconds before an episode counts as hung (>= 1)")
    ] = 600.0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="record every episode's video")] = False,
    memory: Annotated[
        Path | None, typer.Option("--memory", help="memory file the workers share (default: none, nothing learned)")
    ] = None,
    embedder: EmbedderOption = EmbedderName.auto,
    policy: PolicyOption = None,
) -> None:
    """Run a suite of seeded episodes in parallel; write results.jsonl, results.md and report.html."""
    from embodied.evaluation.runner import EvalOptions
    from embodied.evaluation.suites import build_suite
    from embodied.factory import EpisodeConfig, make_registry, planner_description

    try:
        _check_families(families)
        specs = build_suite(suite, episodes, tuple(families) if families else None, seed_start)
        described = planner_description(EpisodeConfig("stack", 0, None, planner, llm, perception))  # validates them
        if memory is not None:
            open_memory(memory, EmbedderName.lexical).close()  # fails here, not in every worker
        if policy:
            make_registry((), tuple(policy))  # loads each checkpoint here, not in every worker
        options = EvalOptions(
            planner,
            llm,
            perception,
            env.value,
            timeout_s=timeout,
            video=video,
            memory=str(memory) if memory else None,
            embedder=embedder.value,
            policies=tuple(policy or ()),
        )
    except (ValueError, EmbodiedError) as e:
        fail_usage(str(e))
    if env is EnvName.ros:
        workers = _one_ros_worker(workers, ray)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail_usage(out_error(out, e))
    seeds = f"{seed_start}..{seed_start + episodes - 1}"
    say(
        "[bold]suite[/] {}  [bold]episodes[/] {} (seeds {})  [bold]workers[/] {}",
        suite,
        len(specs),
        seeds,
        ray or workers,
    )
    say("[bold]planner[/] {}", described)
    if policy:
        say("[bold]learned policies[/] {}", ", ".join(policy))
    try:
        rows = _evaluate_with_progress(specs, options, out, workers, ray)
    except EvalFolderError as e:  # another evaluation is writing to this folder
        fail_usage(str(e))
    _report(out, rows, specs, suite)


def _one_ros_worker(workers: int, ray: str | None) -> int:
    """``--env ros``: one worker (one simulator node or robot serves one episode at a time); exit 2
    when ROS is not reachable or ``--ray`` asks for a cluster."""
    from embodied.cli.ros import ros_ready

    if ray:
        fail_usage("--env ros drives the one simulator node or robot on this ROS master; leave out --ray")
    ros_ready()
    if workers > 1:
        say("[yellow]--env ros runs one episode at a time (one node serves them): --workers {} becomes 1[/]", workers)
    return 1


def _check_families(families: list[str] | None) -> None:
    from envs.tasks import FAMILIES

    unknown = sorted(set(families or ()) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown families {unknown}; valid: {', '.join(sorted(FAMILIES))}")


def _evaluate_with_progress(
    specs: list[EpisodeSpec], options: EvalOptions, out: Path, workers: int, ray: str | None
) -> list[dict[str, Any]]:
    """Every row of ``out/results.jsonl``, old and new, with a bar showing the running success rate."""
    from embodied.evaluation.runner import evaluate

    wins, seen, false = [0], [0], [0]
    with progress("{task.completed}/{task.total}") as bars:
        bar = bars.add_task("starting", total=len(specs))

        def on_result(row: dict[str, Any]) -> None:
            seen[0] += 1
            wins[0] += bool(row["success"])
            false[0] += bool(row.get("false_success"))
            status = f"success {100 * wins[0] / seen[0]:.0f}%, false successes {false[0]}"
            bars.update(bar, advance=1, description=status)

        rows = evaluate(specs, options, out, workers, ray, on_result)
        bars.update(bar, completed=len(specs))
    return rows


def _report(out: Path, rows: list[dict[str, Any]], specs: list[EpisodeSpec], suite: str) -> None:
    """Write results.md and report.html for this suite's rows and print where they are."""
    from embodied.evaluation.results_report import summarise, write_reports

    wanted = {s.id for s in specs}
    rows = [r for r in rows if r["id"] in wanted]
    seeds = sorted({s.seed for s in specs})
    md, report = write_reports(out, rows, f"{suite} suite: {len(rows)} episodes, seeds {seeds[0]}..{seeds[-1]}")
    total = summarise(rows)["all"]
    say(
        "success {:.1f}% of {} episodes; false successes {}, missed successes {}",
        100 * total["success_rate"],
        total["episodes"],
        total["false_successes"],
        total["missed_successes"],
    )
    say(" results  {}", md, soft_wrap=True)
    say(" report   {}", report, soft_wrap=True)
