"""The ``embodied`` command line (typer + rich)."""

from __future__ import annotations

import signal
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from embodied.errors import EmbodiedError

app = typer.Typer(
    name="embodied",
    help="Embodied agents in simulation: run episodes, record videos, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


class EnvName(StrEnum):
    tabletop = "tabletop"
    pybullet = "pybullet"


@app.callback()
def main() -> None:
    """Embodied agents in simulation."""


def _fail_usage(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


class LiveTracer:
    """Forwards to the recorder and keeps a rich progress line with the subgoal and skill."""

    def __init__(self, recorder: Any, progress: Progress, bar: TaskID) -> None:
        self.recorder, self.progress, self.bar = recorder, progress, bar
        self.subgoal, self.skill = "", ""

    def event(self, kind: str, **data: Any) -> None:
        self.recorder.event(kind, **data)

    def set_overlay(self, **fields: str) -> None:
        self.recorder.set_overlay(**fields)
        self.subgoal = fields.get("subgoal", self.subgoal)
        self.skill = fields.get("skill", self.skill)
        label = " | ".join(p for p in (self.subgoal, self.skill) if p) or "thinking"
        self.progress.update(self.bar, description=f"[cyan]{label[:70]}")

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.recorder.on_step(obs, info)
        self.progress.update(self.bar, completed=int(info.get("steps", 0)))


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@app.command()
def run(
    task: Annotated[str, typer.Option(help="task family (see `embodied tasks`) or a free instruction")] = "stack",
    seed: Annotated[int, typer.Option(help="seed of the scene and instruction")] = 0,
    instruction: Annotated[
        str | None, typer.Option(help="new wording for a family's task (scene and goal stay)")
    ] = None,
    env: Annotated[EnvName, typer.Option(help="simulator backend")] = EnvName.tabletop,
    planner: Annotated[str, typer.Option(help="classical | llm | llm+p | auto (llm+p if --llm is set)")] = "auto",
    llm: Annotated[str | None, typer.Option(help="openai:MODEL, ollama:MODEL, hf:PATH or scripted:FILE")] = None,
    perception: Annotated[str, typer.Option(help="vision (default) | ground_truth (privileged baseline)")] = "vision",
    skills: Annotated[
        list[str] | None, typer.Option("--skills", help="module with @skill functions (repeatable)")
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for episode folders")] = Path("runs"),
    video: Annotated[bool, typer.Option("--video/--no-video", help="record video.mp4")] = True,
    max_steps: Annotated[int, typer.Option(min=1, help="control steps before the episode is cut off")] = 2000,
) -> None:
    """Run one episode with the agent and write its folder (video.mp4, trace.jsonl, episode.json)."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)
    from embodied.agent import Agent
    from embodied.episode import ENV_IDS, EpisodeConfig, make_perceiver, make_planner, make_registry, make_task
    from embodied.recorder import Recorder
    from perception.describe import describe

    try:
        config = EpisodeConfig(task, seed, instruction, planner, llm, perception, tuple(skills or ()), max_steps)
        task_instance = make_task(config)
        registry = make_registry(config.skills)
        agent_planner = make_planner(config)
    except EmbodiedError as e:
        _fail_usage(str(e))
        return
    # The agent decides when it is done (verified from perception); the env does not end the episode
    # on success, so ground truth never leaks into the loop. Success is judged at the end.
    gym_env = gym.make(
        ENV_IDS[env.value],
        task=task if config.is_family else "stack",
        max_steps=max_steps,
        terminate_on_success=False,
    )
    label = task if config.is_family else "instruction"
    folder = out / f"{datetime.now():%Y%m%d-%H%M%S}-{label}-{seed}"
    recorder = Recorder(folder, video=video, fps=gym_env.metadata["render_fps"])
    console.print(f"[bold]planner[/] {agent_planner.name}  [bold]perception[/] {perception}  [bold]seed[/] {seed}")
    console.print(f"[bold]instruction[/] {task_instance.instruction}")
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} steps"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            bar = progress.add_task("[cyan]starting", total=max_steps)
            tracer = LiveTracer(recorder, progress, bar)
            perceiver = make_perceiver(perception, gym_env)
            agent = Agent(agent_planner, registry, perceiver, describe, tracer=tracer)
            result = agent.run(gym_env, seed=seed, options={"task": task_instance})
    finally:
        signal.signal(signal.SIGTERM, previous)
        gym_env.close()
    summary = {"task": task, "seed": seed, "perception": perception, **asdict(result)}
    paths = recorder.finish(summary)
    _print_summary(result, paths)
    if result.interrupted:
        raise typer.Exit(code=130)
    raise typer.Exit(code=0 if result.success else 1)


def _print_summary(result: Any, paths: dict[str, Path]) -> None:
    table = Table(show_header=False, box=None)
    status = "[bold green]success[/]" if result.success else "[bold red]failed[/]"
    table.add_row("result", status)
    table.add_row("reason", result.reason)
    table.add_row("turns", str(result.turns))
    table.add_row("skill calls", str(result.skill_calls))
    table.add_row("sim time", f"{result.sim_time_s:.1f} s")
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    console.print(table)
    for name, path in paths.items():
        console.print(f" {name:12s} {path}", soft_wrap=True, highlight=False)


@app.command("eval")
def evaluate_cmd(
    suite: Annotated[str, typer.Option(help="standard | paraphrase | perturb")] = "standard",
    episodes: Annotated[int, typer.Option(min=1, help="seeds per task family")] = 10,
    workers: Annotated[int, typer.Option(min=1, help="parallel worker processes")] = 2,
    ray: Annotated[str | None, typer.Option(help="Ray cluster address, or `local` to start one here")] = None,
    out: Annotated[Path, typer.Option(help="results folder (rerun into it to resume)")] = Path("eval"),
    planner: Annotated[str, typer.Option(help="classical | llm | llm+p | auto")] = "auto",
    llm: Annotated[str | None, typer.Option(help="openai:MODEL, ollama:MODEL, hf:PATH or scripted:FILE")] = None,
    perception: Annotated[str, typer.Option(help="vision | ground_truth")] = "vision",
    env: Annotated[EnvName, typer.Option(help="simulator backend")] = EnvName.tabletop,
    families: Annotated[list[str] | None, typer.Option("--family", help="only these families (repeatable)")] = None,
    timeout: Annotated[float, typer.Option(min=1, help="seconds before an episode counts as hung")] = 600.0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="record every episode's video")] = False,
) -> None:
    """Run a suite of seeded episodes in parallel; write results.jsonl, results.md and report.html."""
    from embodied.episode import EpisodeConfig
    from embodied.evaluation.report import summarise, write_reports
    from embodied.evaluation.runner import EvalOptions, evaluate
    from embodied.evaluation.suites import build_suite
    from envs.tasks import FAMILIES

    try:
        unknown = sorted(set(families or ()) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown families {unknown}; valid: {', '.join(sorted(FAMILIES))}")
        specs = build_suite(suite, episodes, tuple(families) if families else None)
        EpisodeConfig("stack", 0, None, planner, llm, perception)  # validates the planner options
        options = EvalOptions(planner, llm, perception, env.value, timeout_s=timeout, video=video)
    except (ValueError, EmbodiedError) as e:
        _fail_usage(str(e))
        return
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]suite[/] {suite}  [bold]episodes[/] {len(specs)}  [bold]workers[/] {ray or workers}")
    wins, seen = [0], [0]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("starting", total=len(specs))

        def on_result(row: dict[str, Any]) -> None:
            seen[0] += 1
            wins[0] += bool(row["success"])
            progress.update(bar, advance=1, description=f"success {100 * wins[0] / seen[0]:.0f}%")

        done_before = len(specs)
        rows = evaluate(specs, options, out, workers, ray, on_result)
        progress.update(bar, completed=done_before)
    wanted = {s.id for s in specs}
    rows = [r for r in rows if r["id"] in wanted]
    md, report = write_reports(out, rows, f"{suite} suite: {len(rows)} episodes")
    total = summarise(rows)["all"]
    console.print(f"success {100 * total['success_rate']:.1f}% of {total['episodes']} episodes")
    console.print(f" results  {md}", soft_wrap=True, highlight=False)
    console.print(f" report   {report}", soft_wrap=True, highlight=False)


BENCHMARKS: dict[str, list[str]] = {
    # script -> arguments of the quick run (`embodied bench --quick`)
    "sim_overhead": ["--rounds", "5", "--full-steps", "100"],
    "perception": ["--scenes", "20"],
    "skills": ["--episodes", "5"],
    "agent": ["--seeds", "2", "--repeats", "5"],
    "recording": ["--rounds", "1"],
    "eval_throughput": ["--episodes", "2"],
    "backends": ["--seeds", "1"],
}


@app.command("bench")
def bench(
    quick: Annotated[bool, typer.Option(help="small runs (minutes) instead of the full ones")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="run only these benchmarks (repeatable)")] = None,
) -> None:
    """Run every benchmark in benchmarks/ and collect the figures in benchmarks/results.md."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    unknown = sorted(set(only or ()) - set(BENCHMARKS))
    if unknown:
        _fail_usage(f"unknown benchmarks {unknown}; valid: {', '.join(BENCHMARKS)}")
    failed = []
    for name, quick_args in BENCHMARKS.items():
        if only and name not in only:
            continue
        if not (root / "benchmarks" / f"{name}.py").is_file():
            console.print(f"[yellow]skip[/] {name}: benchmarks/{name}.py not found")
            continue
        console.print(f"[bold]bench[/] {name}")
        cmd = [sys.executable, "-m", f"benchmarks.{name}", *(quick_args if quick else [])]
        if subprocess.run(cmd, cwd=root, check=False).returncode != 0:
            failed.append(name)
    path = _write_bench_summary(root / "benchmarks")
    console.print(f" summary  {path}", soft_wrap=True, highlight=False)
    if failed:
        console.print(f"[bold red]failed:[/] {', '.join(failed)}")
        raise typer.Exit(code=1)


def _write_bench_summary(folder: Path) -> Path:
    import json
    import platform

    lines = ["# Benchmark results", "", f"Collected from `benchmarks/results/*.json` on {platform.machine()}.", ""]
    for path in sorted((folder / "results").glob("*.json")):
        data = json.loads(path.read_text())
        lines += [f"## {path.stem}", "", "| figure | value |", "| --- | --- |"]
        for key, value in data.items():
            if isinstance(value, bool | int | float | str):
                shown = f"{value:.4g}" if isinstance(value, float) else str(value)
                lines.append(f"| {key} | {shown} |")
        lines.append("")
    out = folder / "results.md"
    out.write_text("\n".join(lines))
    return out


@app.command("tasks")
def list_tasks() -> None:
    """List the task families and an example instruction of each."""
    from envs.tasks import FAMILIES, sample_task

    table = Table("task", "description", "example instruction")
    for name, family in sorted(FAMILIES.items()):
        table.add_row(name, family.description, sample_task(name, 0).instruction)
    console.print(table)


if __name__ == "__main__":
    app()
