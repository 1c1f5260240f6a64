"""The ``embodied`` command line (typer + rich): the app and its commands, one module each."""

from __future__ import annotations

import typer

from embodied.cli import bench, datasets, evaluate, export, run, tasks
from embodied.cli.lm import lm_app
from embodied.cli.mcp import mcp_app
from embodied.cli.memory import memory_app
from embodied.cli.policy import policy_app
from embodied.cli.ros import ros_app
from embodied.cli.skills import skills_app

app = typer.Typer(
    name="embodied",
    help="Embodied agents in simulation: run episodes, record videos, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Embodied agents in simulation."""


app.command("run")(run.run)
app.command("eval")(evaluate.evaluate_cmd)
app.command("bench", help=bench.HELP)(bench.bench)
app.command("tasks")(tasks.list_tasks)
app.command("export")(export.export)
app.command("record")(datasets.record)
app.command("replay")(datasets.replay)
app.add_typer(skills_app, name="skills")
app.add_typer(memory_app, name="memory")
app.add_typer(mcp_app, name="mcp")
app.add_typer(lm_app, name="lm")
app.add_typer(ros_app, name="ros")
app.add_typer(policy_app, name="policy")
