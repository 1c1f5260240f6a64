"""``embodied export``: an episode folder as a file other tools open (a ROS 2 bag for Foxglove and ``ros2 bag``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embodied.cli.console import fail_usage, say, show, table


def export(
    run_dir: Annotated[Path, typer.Argument(help="an episode folder written by `embodied run` (runs/<time>-...)")],
    format_: Annotated[
        str, typer.Option("--format", help="mcap: a ROS 2 bag (MCAP) for Foxglove and ros2 bag")
    ] = "mcap",
    out: Annotated[Path | None, typer.Option(help="the file to write (default: RUN_DIR/episode.mcap)")] = None,
) -> None:
    """Export an episode: camera images, camera info, tf, joint states, actions and the agent's
    observations, thoughts, tool calls and results, each at the time it happened (docs/recording.md)."""
    from embodied.recording.mcap_export import RunFolderError, check_format, export_mcap

    try:
        check_format(format_)
        result = export_mcap(run_dir, out)
    except RunFolderError as e:
        fail_usage(str(e))
    except OSError as e:
        fail_usage(f"cannot write {out or run_dir}: {e}")
    rows = table("topic", "messages")
    for topic, n in result.topics.items():
        rows.add_row(topic, str(n))
    show(rows)
    if not result.sensor_steps:
        say("[yellow]no sensor log in this folder[/]: the bag holds the agent's topics only (run with --sensors)")
    if not result.complete:
        say("[yellow]the episode's files end early[/] (a killed process): exported up to where they end")
    say("[bold]wrote[/] {} ({} control steps)", result.path, result.sensor_steps, soft_wrap=True)
