"""``embodied run``: one episode with a live progress line, written to its own folder."""

from __future__ import annotations

import signal
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from embodied.cli.console import console, fail_usage
from embodied.cli.options import EmbedderName, EmbedderOption, EnvName, MemoryOption
from embodied.errors import EmbodiedError, MemoryStoreError
from embodied.recording.tracing import Tracer, TracerWrapper

if TYPE_CHECKING:
    from embodied.agent.loop import EpisodeResult
    from embodied.factory import Episode
    from embodied.recording.recorder import Recorder


class LiveTracer(TracerWrapper):
    """Forwards to the recorder and keeps a rich progress line with the subgoal and skill."""

    def __init__(self, recorder: Tracer, progress: Progress, bar: TaskID) -> None:
        super().__init__(recorder)
        self.progress, self.bar = progress, bar
        self.subgoal, self.skill = "", ""

    def set_overlay(self, **fields: str) -> None:
        super().set_overlay(**fields)
        self.subgoal = fields.get("subgoal", self.subgoal)
        self.skill = fields.get("skill", self.skill)
        label = " | ".join(p for p in (self.subgoal, self.skill) if p) or "thinking"
        self.progress.update(self.bar, description=f"[cyan]{label[:70]}")

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        super().on_step(obs, info)
        self.progress.update(self.bar, completed=int(info.get("steps", 0)))


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
    memory: MemoryOption = None,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="neither recall nor learn skills")] = False,
    embedder: EmbedderOption = EmbedderName.auto,
) -> None:
    """Run one episode with the agent and write its folder (video.mp4, trace.jsonl, episode.json).

    The agent recalls composite skills from its memory file and learns one from a verified success.
    """
    from embodied.factory import EpisodeConfig, build_episode

    try:
        config = EpisodeConfig(
            task,
            seed,
            instruction,
            planner,
            llm,
            perception,
            tuple(skills or ()),
            max_steps,
            env=env.value,
            memory=None if no_memory else _memory_file(memory),
            embedder=embedder.value,
        )
        episode = build_episode(config)
    except MemoryStoreError as e:
        fail_usage(f"{e} (or run without memory: --no-memory)")
    except EmbodiedError as e:
        fail_usage(str(e))
    try:
        recorder = _recorder(episode, out, video)
        _print_header(episode)
        result = _run_live(episode, recorder)
    finally:
        episode.close()
    summary = {"task": task, "seed": seed, "perception": perception, **asdict(result)}
    _print_summary(result, recorder.finish(summary))
    if result.interrupted:
        raise typer.Exit(code=130)
    raise typer.Exit(code=0 if result.success else 1)


def _memory_file(path: Path | None) -> str:
    from embodied.memory import default_memory_path

    return str(path or default_memory_path())


def _recorder(episode: Episode, out: Path, video: bool) -> Recorder:
    """The recorder of a new episode folder ``out/<time>-<task>-<seed>``, at the env's frame rate."""
    from embodied.recording.recorder import Recorder

    config = episode.config
    label = config.task if config.is_family else "instruction"
    folder = out / f"{datetime.now():%Y%m%d-%H%M%S}-{label}-{config.seed}"
    return Recorder(folder, video=video, fps=episode.env.metadata["render_fps"])


def _print_header(episode: Episode) -> None:
    config, memory = episode.config, episode.memory
    assert episode.task is not None  # the factory resolves the task of `embodied run`
    planner = episode.agent.planner.name
    console.print(f"[bold]planner[/] {planner}  [bold]perception[/] {config.perception}  [bold]seed[/] {config.seed}")
    console.print(f"[bold]instruction[/] {episode.task.instruction}")
    if memory is not None:
        count = memory.store.counts()["skill"]
        console.print(f"[bold]memory[/] {memory.path} ({count} skills, {memory.retrieval})", highlight=False)


def _run_live(episode: Episode, recorder: Recorder) -> EpisodeResult:
    """Run the episode with a progress line; SIGTERM ends it like Ctrl-C (video and trace finished)."""
    # SIGTERM: a `timeout`, a cluster stopping the job.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} steps"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            bar = progress.add_task("[cyan]starting", total=episode.config.max_steps)
            episode.agent.tracer = LiveTracer(recorder, progress, bar)
            return episode.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_summary(result: EpisodeResult, paths: dict[str, Path]) -> None:
    table = Table(show_header=False, box=None)
    status = "[bold green]success[/]" if result.success else "[bold red]failed[/]"
    table.add_row("result", status)
    table.add_row("reason", result.reason)
    table.add_row("turns", str(result.turns))
    table.add_row("skill calls", str(result.skill_calls))
    table.add_row("sim time", f"{result.sim_time_s:.1f} s")
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    _add_memory_rows(table, result.stats.get("memory", {}))
    console.print(table)
    for name, path in paths.items():
        console.print(f" {name:12s} {path}", soft_wrap=True, highlight=False)


def _add_memory_rows(table: Table, learned: dict[str, Any]) -> None:
    """What the episode took from memory and what it stored there."""
    if learned.get("skills_used"):
        used = ", ".join(f"{n} ({'ok' if ok else 'failed'})" for n, ok in learned["skills_used"].items())
        table.add_row("memory used", used)
    if learned.get("skill"):
        table.add_row("memory learned", f"{learned['skill']} ({'new' if learned['created'] else 'merged'})")
    for sub in learned.get("subgoal_skills", ()):
        how = "new" if sub["created"] else "merged"
        table.add_row("memory learned", f"{sub['skill']} ({how}, from the verified subgoal {sub['subgoal']})")
    if learned.get("error"):
        table.add_row("memory", f"[yellow]not stored: {learned['error']}")
