"""The ``embodied`` command line (typer + rich)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    name="embodied",
    help="Embodied agents in simulation: run episodes, record videos, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


class EnvName(StrEnum):
    tabletop = "tabletop"


@app.callback()
def main() -> None:
    """Embodied agents in simulation."""


def _fail_usage(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


@app.command()
def run(
    task: Annotated[str, typer.Option(help="task family, e.g. stack, tower, sort_by_colour")] = "stack",
    seed: Annotated[int, typer.Option(help="seed of the scene and instruction")] = 0,
    instruction: Annotated[str | None, typer.Option(help="new wording for the task (scene and goal stay)")] = None,
    env: Annotated[EnvName, typer.Option(help="simulator backend")] = EnvName.tabletop,
    out: Annotated[Path, typer.Option(help="folder for episode folders")] = Path("runs"),
    video: Annotated[bool, typer.Option("--video/--no-video", help="record video.mp4")] = True,
    max_steps: Annotated[int, typer.Option(min=1, help="control steps before the episode is cut off")] = 1500,
) -> None:
    """Run one episode and write its folder (video.mp4, episode.json)."""
    import gymnasium as gym

    import envs
    from embodied.demo import ScriptedDemo
    from embodied.video import VideoWriter, tile
    from envs.errors import UnknownTaskError

    try:
        gym_env = gym.make(envs.TABLETOP_ID, task=task, seed=seed, instruction=instruction, max_steps=max_steps)
    except UnknownTaskError as e:
        _fail_usage(str(e))
        return
    folder = out / f"{datetime.now():%Y%m%d-%H%M%S}-{task}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    writer = VideoWriter(folder / "video.mp4", fps=gym_env.metadata["render_fps"]) if video else None
    obs, info = gym_env.reset()
    console.print(f"[bold]task[/] {task}  [bold]seed[/] {seed}  [bold]planner[/] scripted demo (ground truth)")
    console.print(f"[bold]instruction[/] {info['instruction']}")
    wall0 = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} steps"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("running", total=max_steps)

        def on_step(o: dict[str, Any], i: dict[str, Any]) -> None:
            if writer is not None:
                writer.write(tile(o["rgb"]))
            progress.update(bar, completed=int(i["steps"]))

        try:
            result = ScriptedDemo(gym_env, on_step).run(obs, info)
        finally:
            if writer is not None:
                writer.close()
            gym_env.close()
    wall = time.perf_counter() - wall0
    summary = {
        "task": task,
        "seed": seed,
        "instruction": info["instruction"],
        "planner": "scripted-demo",
        "success": result.success,
        "reason": result.reason,
        "steps": result.steps,
        "sim_time_s": round(result.steps / gym_env.metadata["render_fps"], 3),
        "wall_time_s": round(wall, 3),
        "video_frames": writer.frames if writer is not None else 0,
    }
    (folder / "episode.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = Table(show_header=False, box=None)
    for key in ("success", "reason", "steps", "sim_time_s", "wall_time_s"):
        table.add_row(key, str(summary[key]))
    console.print(table)
    if writer is not None:
        console.print(f"video    {writer.path}")
    console.print(f"episode  {folder / 'episode.json'}")
    raise typer.Exit(code=0 if result.success else 1)


@app.command("tasks")
def list_tasks() -> None:
    """List the task families and an example instruction of each."""
    from envs.tasks import FAMILIES, sample_task

    table = Table("task", "description", "example instruction")
    for name, family in sorted(FAMILIES.items()):
        table.add_row(name, family.description, sample_task(name, 0).instruction)
    console.print(table)
