"""Starting and stopping ROS processes: a master on a port (``embodied ros serve``, the tests, the benchmark)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Any

from envs.ros.transport import ROS_APT_PACKAGES, RosBridgeError

MASTER_START_S = 10.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def master_answers(uri: str, timeout_s: float = 0.5) -> bool:
    """Whether a ROS master answers at ``uri`` (a plain XML-RPC call; needs no rospy)."""
    import xmlrpc.client

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        answer: Any = xmlrpc.client.ServerProxy(uri).getPid("/embodied_probe")
        return bool(answer[0] == 1)
    except OSError:
        return False
    finally:
        socket.setdefaulttimeout(old)


def start_master(port: int, timeout_s: float = MASTER_START_S) -> subprocess.Popen[bytes]:
    """``rosmaster --core -p PORT``, once it answers; :class:`RosBridgeError` saying why when it does not."""
    exe = shutil.which("rosmaster")
    if exe is None:
        raise RosBridgeError(f"`rosmaster` is not installed: `sudo apt-get install -y {ROS_APT_PACKAGES}`")
    cmd = [exe, "--core", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RosBridgeError(f"`{' '.join(cmd)}` exited with code {proc.returncode} (is port {port} taken?)")
        if master_answers(uri):
            return proc
        time.sleep(0.05)
    stop(proc)
    raise RosBridgeError(f"`{' '.join(cmd)}` did not answer within {timeout_s:g} s")


def stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 5.0) -> None:
    """SIGTERM ``proc`` (and its process group when it leads one), SIGKILL after ``timeout_s``."""
    if proc is None or proc.poll() is not None:
        return
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def wait_for_service(uri: str, service: str, node: subprocess.Popen[Any], timeout_s: float = 90.0) -> None:
    """Until the master at ``uri`` knows ``service`` (plain XML-RPC: no ROS node needed); raises
    :class:`RosBridgeError` when ``node`` exits first or ``timeout_s`` passes."""
    import xmlrpc.client

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if node.poll() is not None:
            raise RosBridgeError(f"the node serving {service} exited with code {node.returncode}")
        try:
            answer: Any = xmlrpc.client.ServerProxy(uri).lookupService("/probe", service)
            if answer[0] == 1:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RosBridgeError(f"no {service} at {uri} within {timeout_s:g} s")
