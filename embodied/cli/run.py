"""``embodied run``: one episode with a live progress line, written to its own folder.

Once the episode folder exists it is finished whatever happens: a Ctrl-C or SIGTERM during
start-up (env reset, first render), the run or its end, or an error, still leaves ``episode.json``
(``interrupted``, with the reason), ``report.html`` and the video up to its last frame.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, TaskID

from embodied.cli.console import fail_usage, progress, say, show, styled, table
from embodied.cli.options import (
    EmbedderName,
    EmbedderOption,
    EnvName,
    MemoryOption,
    PolicyOption,
    check_video_size,
    in_range,
    out_error,
    parse_video_size,
    usable_out,
)
from embodied.cli.signals import interrupts_noted, signals_held, terminate_means_interrupt
from embodied.errors import EmbodiedError, EnvError, MemoryStoreError
from embodied.recording.tracing import Tracer, TracerWrapper

if TYPE_CHECKING:
    from rich.table import Table

    from embodied.agent.loop import EpisodeResult
    from embodied.factory import Episode, EpisodeConfig
    from embodied.recording.recorder import Recorder

INTERRUPTED = "interrupted by the user"  # the reason the agent gives an episode cut short by Ctrl-C


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
        self.progress.update(self.bar, description=label[:70])  # plain text: a model's words are no markup

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        super().on_step(obs, info)
        self.progress.update(self.bar, completed=int(info.get("steps", 0)))


def run(
    task: Annotated[str, typer.Option(help="task family (see `embodied tasks`) or a free instruction")] = "stack",
    seed: Annotated[int, typer.Option(callback=in_range(0), help="seed of the scene and instruction (>= 0)")] = 0,
    instruction: Annotated[
        str | None, typer.Option(help="new wording for a family's task (scene and goal stay)")
    ] = None,
    env: Annotated[
        EnvName, typer.Option(help="simulator backend; ros: a robot or `embodied ros serve` over ROS (docs/ros.md)")
    ] = EnvName.tabletop,
    planner: Annotated[str, typer.Option(help="classical | llm | llm+p | auto (llm+p if --llm is set)")] = "auto",
    llm: Annotated[str | None, typer.Option(help="local, openai:MODEL, ollama:MODEL, hf:PATH or scripted:FILE")] = None,
    perception: Annotated[str, typer.Option(help="vision (default) | ground_truth (privileged baseline)")] = "vision",
    skills: Annotated[
        list[str] | None, typer.Option("--skills", help="module with @skill functions (repeatable)")
    ] = None,
    out: Annotated[Path, typer.Option(callback=usable_out, help="folder for episode folders")] = Path("runs"),
    video: Annotated[bool, typer.Option("--video/--no-video", help="record video.mp4")] = True,
    sensors: Annotated[
        bool,
        typer.Option(
            "--sensors/--no-sensors",
            help="also keep every step's camera images, joints and action in sensors.mcap (for embodied export)",
        ),
    ] = False,
    video_size: Annotated[
        str,
        typer.Option(
            callback=check_video_size,
            help="each camera view in the video, WIDTHxHEIGHT (upscaled, caption drawn at that size), or camera",
        ),
    ] = "640x480",
    max_steps: Annotated[
        int, typer.Option(callback=in_range(1), help="control steps before the episode is cut off (>= 1)")
    ] = 2000,
    memory: MemoryOption = None,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="neither recall nor learn skills")] = False,
    embedder: EmbedderOption = EmbedderName.auto,
    policy: PolicyOption = None,
) -> None:
    """Run one episode with the agent and write its folder (video.mp4, trace.jsonl, episode.json).

    The agent recalls composite skills from its memory file and learns one from a verified success.
    Ctrl-C or SIGTERM ends the episode, keeps what was recorded and exits with code 130.
    """
    from embodied.factory import EpisodeConfig

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
            policies=tuple(policy or ()),
        )
    except EmbodiedError as e:
        fail_usage(str(e))
    if env is EnvName.ros:
        from embodied.cli.ros import ros_ready

        ros_ready()  # no master: exit 2 naming the command to start, before any folder is made
    with terminate_means_interrupt():
        try:
            labels = {"task": task, "seed": seed, "perception": perception}
            size = parse_video_size(video_size)
            result, paths, late = _record(_build(config), out, Recording(video, size, sensors), labels)
            _print_summary(result, paths)
        except KeyboardInterrupt:
            say("[yellow]interrupted[/]")
            raise typer.Exit(code=130) from None
    if result.interrupted or late:
        raise typer.Exit(code=130)
    raise typer.Exit(code=0 if result.success else 1)


def _build(config: EpisodeConfig) -> Episode:
    """The assembled episode; a bad option, an unusable memory file or an env that cannot be made
    (no ROS node answering, say) exits 2 with the reason."""
    from embodied.factory import build_episode

    try:
        return build_episode(config)
    except MemoryStoreError as e:
        message = str(e)
        fail_usage(message if "--no-memory" in message else f"{message} (or run without memory: --no-memory)")
    except (EmbodiedError, EnvError) as e:
        fail_usage(str(e))


def _memory_file(path: Path | None) -> str:
    from embodied.memory import default_memory_path

    return str(path or default_memory_path())


@dataclass(frozen=True)
class Recording:
    """What an episode folder keeps besides its trace: the video (each view's size) and the sensor log."""

    video: bool
    video_size: tuple[int, int] | None
    sensors: bool


def _record(
    episode: Episode, out: Path, recording: Recording, labels: dict[str, Any]
) -> tuple[EpisodeResult, dict[str, Path], bool]:
    """Run ``episode`` into a new folder in ``out`` and finish that folder whatever happens.

    Returns the result, the files written, and whether a signal came while they were finished.
    An error that stopped the episode is raised again once the folder is finished.
    """
    t0 = time.perf_counter()
    recorder, stopped = _open_recorder(episode, out, recording)
    result: EpisodeResult | None = None
    if stopped is None:
        try:
            _print_header(episode)
            result = _run_live(episode, recorder)
        except BaseException as e:  # noqa: BLE001 - Ctrl-C during start-up, or an error: finish the folder first
            stopped = e
    with interrupts_noted() as late:  # a second Ctrl-C does not cut the finishing short
        cut_short = result is None
        if result is None:
            assert stopped is not None
            result = _cut_short(episode, stopped, time.perf_counter() - t0)
        try:
            if cut_short:  # the trace ends as the agent's own would
                recorder.event("episode_end", **{k: v for k, v in asdict(result).items() if k != "stats"})
            episode.close()
        finally:
            paths = recorder.finish({**labels, **asdict(result)})
    if stopped is not None and not isinstance(stopped, KeyboardInterrupt):
        raise stopped
    return result, paths, bool(late)


def _open_recorder(episode: Episode, out: Path, recording: Recording) -> tuple[Recorder, BaseException | None]:
    """The recorder of a new episode folder, and the signal that came while it was made (if any).

    The folder and its recorder come into being together (signals are held meanwhile), so every
    folder that exists has a recorder to finish it. A folder that cannot be made exits 2.
    """
    recorder: Recorder | None = None
    try:
        with signals_held():
            recorder = _recorder(episode, out, recording)
    except BaseException as e:
        if recorder is not None:  # the held signal, delivered once the recorder existed
            return recorder, e
        episode.close()
        if isinstance(e, OSError):
            fail_usage(out_error(out, e))
        raise
    return recorder, None


def _recorder(episode: Episode, out: Path, recording: Recording) -> Recorder:
    """The recorder of a new episode folder ``out/<time>-<task>-<seed>``, at the env's frame rate."""
    from embodied.recording.recorder import Recorder

    config = episode.config
    label = config.task if config.is_family else "instruction"
    folder = out / f"{datetime.now():%Y%m%d-%H%M%S}-{label}-{config.seed}"
    fps = episode.env.metadata["render_fps"]
    return Recorder(folder, video=recording.video, fps=fps, video_size=recording.video_size, sensors=recording.sensors)


def _cut_short(episode: Episode, stopped: BaseException, wall_s: float) -> EpisodeResult:
    """The result of an episode stopped before the agent could give one (Ctrl-C during start-up, an error)."""
    from embodied.agent.loop import EpisodeResult

    interrupted = isinstance(stopped, KeyboardInterrupt)
    return EpisodeResult(
        instruction=episode.task.instruction if episode.task is not None else episode.config.task,
        success=False,
        verified=False,
        reason=INTERRUPTED if interrupted else f"stopped by an error: {type(stopped).__name__}: {stopped}",
        turns=0,
        skill_calls=0,
        sim_time_s=0.0,
        wall_time_s=round(wall_s, 3),
        planner=episode.agent.planner.name,
        interrupted=interrupted,
    )


def _print_header(episode: Episode) -> None:
    from embodied.factory import planner_description

    config, memory = episode.config, episode.memory
    assert episode.task is not None  # the factory resolves the task of `embodied run`
    say("[bold]planner[/] {}", planner_description(config))
    say("[bold]perception[/] {}  [bold]seed[/] {}", config.perception, config.seed)
    say("[bold]instruction[/] {}", episode.task.instruction)
    if memory is not None:
        try:
            held = f"{memory.store.counts()['skill']} skills, "
        except MemoryStoreError:
            held = ""  # a damaged file: the episode carries on and degrades to no memory by itself
        say("[bold]memory[/] {} ({}{})", memory.path, held, memory.retrieval)


def _run_live(episode: Episode, recorder: Recorder) -> EpisodeResult:
    """Run the episode with a progress line showing the subgoal and the running skill."""
    with progress("{task.completed} steps", style="cyan", transient=True) as bars:
        bar = bars.add_task("starting", total=episode.config.max_steps)
        episode.agent.tracer = LiveTracer(recorder, bars, bar)
        return episode.run()


def _print_summary(result: EpisodeResult, paths: dict[str, Path]) -> None:
    rows = table(show_header=False, box=None)
    rows.add_row("result", styled("[bold green]success[/]") if result.success else styled("[bold red]failed[/]"))
    rows.add_row("reason", result.reason)
    rows.add_row("turns", str(result.turns))
    rows.add_row("skill calls", str(result.skill_calls))
    rows.add_row("sim time", f"{result.sim_time_s:.1f} s")
    rows.add_row("wall time", f"{result.wall_time_s:.1f} s")
    _add_memory_rows(rows, result.stats.get("memory", {}))
    show(rows)
    for name, path in paths.items():
        say(" {:12s} {}", name, path, soft_wrap=True)


def _add_memory_rows(rows: Table, learned: dict[str, Any]) -> None:
    """What the episode took from memory and what it stored there."""
    if learned.get("skills_used"):
        used = ", ".join(f"{n} ({'ok' if ok else 'failed'})" for n, ok in learned["skills_used"].items())
        rows.add_row("memory used", used)
    if learned.get("skill"):
        rows.add_row("memory learned", f"{learned['skill']} ({'new' if learned['created'] else 'merged'})")
    for sub in learned.get("subgoal_skills", ()):
        how = "new" if sub["created"] else "merged"
        rows.add_row("memory learned", f"{sub['skill']} ({how}, from the verified subgoal {sub['subgoal']})")
    if learned.get("error"):
        rows.add_row("memory", styled("[yellow]not stored: {}", learned["error"]))
