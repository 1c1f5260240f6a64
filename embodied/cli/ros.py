"""``embodied ros serve``: a simulator behind the ROS interface of a real robot (see docs/ros.md).

The node serves the topics and services ``embodied run --env ros`` (``embodied/RosTabletop-v0``)
talks to. When no ROS master answers at ``ROS_MASTER_URI`` and that address is on this machine,
the command starts one (``rosmaster --core``) and stops it on exit, as ``roslaunch`` does.
Ctrl-C or SIGTERM stops the node (exit code 130).
"""

from __future__ import annotations

import logging
import subprocess
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlparse

import typer

from embodied.cli.console import fail_usage, say
from embodied.cli.signals import terminate_means_interrupt
from envs.errors import EnvError

ros_app = typer.Typer(help="The ROS bridge: serve a simulator on ROS topics (docs/ros.md).", no_args_is_help=True)

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
DEFAULT_PORT = 11311


class SimName(StrEnum):
    tabletop = "tabletop"
    pybullet = "pybullet"


def ros_ready() -> None:
    """Exit 2 with what to run when rospy is missing or no master answers (for ``run`` / ``eval --env ros``)."""
    try:
        from envs.ros import ros1

        ros1.check_master()
    except EnvError as e:
        fail_usage(str(e))


@ros_app.command("serve")
def serve(
    env: Annotated[SimName, typer.Option(help="the simulator to put behind ROS")] = SimName.tabletop,
    start_master: Annotated[
        bool, typer.Option("--start-master/--no-start-master", help="start a master when none answers (local only)")
    ] = True,
) -> None:
    """Serve the simulator as a ROS node until Ctrl-C; then run `embodied run --env ros` in another shell."""
    try:
        from envs.ros import ros1, sim_node
        from envs.ros.processes import stop

        ros1.import_rospy()
    except EnvError as e:
        fail_usage(str(e))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    master: subprocess.Popen[bytes] | None = None
    with terminate_means_interrupt():
        try:
            master = _master(start_master)
            say(
                "[bold]serving[/] {} on {} (reset service {}); stop with Ctrl-C",
                env.value,
                ros1.master_uri(),
                sim_node.RosBridgeConfig().reset_service,
            )
            sim_node.serve(env.value)
        except KeyboardInterrupt:
            say("[yellow]stopped[/]")
            raise typer.Exit(code=130) from None
        finally:
            stop(master)


def _master(start: bool) -> subprocess.Popen[bytes] | None:
    """None when a master answers; else a started local ``rosmaster`` (exit 2 when that is not possible)."""
    from envs.ros.processes import start_master
    from envs.ros.ros1 import check_master, master_uri

    try:
        check_master()
        return None
    except EnvError as e:
        uri = urlparse(master_uri())
        if not start or uri.hostname not in LOCAL_HOSTS:
            fail_usage(str(e))
    port = uri.port or DEFAULT_PORT
    say("[bold]starting[/] a ROS master on port {} (rosmaster --core)", port)
    try:
        return start_master(port)
    except EnvError as e:
        fail_usage(str(e))
