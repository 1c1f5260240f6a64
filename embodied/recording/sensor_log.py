"""The per-control-step sensor log of an episode: ``sensors.mcap``, written while the episode runs.

Each control step (each ``(obs, info)`` the recorder sees) becomes a group of ROS 2 messages in an
MCAP file (ROS 2 profile, CDR, zstd-compressed chunks), all with the same log time (the step's time
on the trace's clock) and the step's index as the MCAP sequence number:

- ``/camera/<cam>/color/image_raw``: ``sensor_msgs/msg/Image``, rgb as ``rgb8``, lossless;
- ``/camera/<cam>/depth/image_raw``: ``sensor_msgs/msg/Image``, ``32FC1`` metres (only with ``depth=True``);
- ``/camera/<cam>/color/camera_info``: ``sensor_msgs/msg/CameraInfo``, the intrinsics ``K`` (no distortion);
- ``/tf``: ``tf2_msgs/msg/TFMessage``, world -> ``panda_tcp`` and world -> each camera's optical frame;
- ``/joint_states``: ``sensor_msgs/msg/JointState``, the 7 arm and 2 finger joints (position, velocity);
- ``/robot/ee_pose``: ``geometry_msgs/msg/PoseStamped``, the tool centre point in the world;
- ``/robot/gripper_width``: ``std_msgs/msg/Float64``, metres between the fingers;
- ``/robot/action``: ``std_msgs/msg/Float64MultiArray``, the action the env received
  (``dx, dy, dz, dyaw, gripper``);
- ``/clock``: ``rosgraph_msgs/msg/Clock``, simulated time.

``/robot/action`` at step ``k`` is the action that produced step ``k``'s observation; step 0 (the
reset) has none, so replaying an episode is ``reset(seed)`` and then ``step(action[k])`` for
``k = 1 ...``. :func:`read_steps` returns the per-step state as numpy arrays and :func:`iter_images`
the images of one camera; both read a file cut short by a killed process up to its last whole chunk.

The recording process only queues each step; a thread streams it to a writer process
(:mod:`embodied.recording.sensor_worker`) that serialises and compresses it, so that work takes
neither the control loop's time nor its interpreter lock. Why MCAP with zstd, and what it costs:
docs/recording.md.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mcap.exceptions import McapError
from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap_ros2.decoder import DecoderFactory

import embodied
from embodied.recording import ros2_messages as msg
from embodied.recording.sensor_worker import (
    ACTION,
    CLOCK,
    EE_POSE,
    GRIPPER_WIDTH,
    JOINT_STATES,
    METADATA,
    TF,
    camera_info_topic,
    encode_step,
    image_topic,
)
from envs.common import ARM_JOINTS, FINGER_JOINTS

__all__ = [
    "ACTION",
    "CLOCK",
    "EE_POSE",
    "GRIPPER_WIDTH",
    "JOINT_STATES",
    "SENSOR_LOG",
    "TF",
    "LogContents",
    "SensorLogWriter",
    "SensorSteps",
    "camera_info_topic",
    "image_topic",
    "iter_images",
    "iter_messages",
    "iter_records",
    "read_steps",
]

log = logging.getLogger(__name__)

SENSOR_LOG = "sensors.mcap"
QUEUE_STEPS = 64  # steps waiting to be sent before on_step waits
WAKE_UP_S = 0.2
PIPE_BYTES = 1024 * 1024  # /proc/sys/fs/pipe-max-size's default: the most an unprivileged process may ask for
CLOSE_TIMEOUT_S = 120.0  # for the writer process to write what it was sent and finish the file
_STOP = object()


def joint_names(n: int) -> tuple[str, ...]:
    """The Panda's joint names when the env reports its 9 joints, else ``joint0`` ..."""
    names = ARM_JOINTS + FINGER_JOINTS
    return names if n == len(names) else tuple(f"joint{i}" for i in range(n))


def _worker_env() -> dict[str, str]:
    """The environment of the writer process: this one, with the folder holding ``embodied`` importable."""
    env = dict(os.environ)
    root = str(Path(embodied.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _widen_pipe(pipe: Any) -> None:
    """On Linux, a 1 MiB pipe (from 64 KiB): a step's images go out in one write instead of many, each of
    which would wait for the interpreter lock again."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


class SensorLogWriter:
    """Writes ``(obs, info)`` of every control step to ``path`` (see the module docstring).

    Args:
        path: the ``.mcap`` file (created by the writer process).
        start_ns: UNIX time (ns) of the episode clock's zero; a step at ``t`` s is logged at
            ``start_ns + t * 1e9``, as ``embodied export`` logs the trace's events.
        depth: log the depth images too (about 4x the size of rgb alone).

    The observation's arrays are queued, not copied: the envs return fresh arrays every step.
    """

    def __init__(self, path: Path, start_ns: int, depth: bool = False) -> None:
        self.path, self.start_ns, self.depth = Path(path), start_ns, depth
        self.steps = 0
        self.send_seconds = 0.0  # spent on the sending thread
        self.error: BaseException | None = None
        command = [sys.executable, "-m", "embodied.recording.sensor_worker", str(self.path), str(start_ns)]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=_worker_env()
        )
        _widen_pipe(self._proc.stdin)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_STEPS)
        self._thread: threading.Thread | None = threading.Thread(target=self._send, name="sensor-log", daemon=True)
        self._thread.start()

    def put(self, t: float, obs: dict[str, Any], info: dict[str, Any]) -> None:
        """Queue one step observed ``t`` seconds after the episode clock's zero."""
        if self._thread is None:
            return
        self._queue.put((self.steps, t, obs, info))
        self.steps += 1

    def _send(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        while True:
            try:
                item = self._queue.get(timeout=WAKE_UP_S)  # timed: see the video writer in recorder.py
            except queue.Empty:
                continue
            if item is _STOP:
                return
            if self.error is not None:
                continue  # keep draining so that put() never waits on a dead writer
            t0 = time.perf_counter()
            seq, t, obs, info = item
            try:
                n_joints = len(np.asarray(obs["proprio"]["joint_pos"]).reshape(-1)) if "proprio" in obs else 0
                head, buffers = encode_step(seq, t, obs, info, joint_names(n_joints), self.depth)
                stdin.write(head)
                for buffer in buffers:
                    stdin.write(buffer)
                stdin.flush()
            except Exception as e:  # noqa: BLE001 - surfaced by close()
                log.error("sensor log %s: %s", self.path, e)
                self.error = e
            finally:
                self.send_seconds += time.perf_counter() - t0

    def close(self) -> None:
        """Send what is queued and let the writer process finish the file (idempotent); ``error`` holds a failure."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        try:
            _, stderr = self._proc.communicate(timeout=CLOSE_TIMEOUT_S)  # closes stdin: the writer finishes
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, stderr = self._proc.communicate()
        if self._proc.returncode != 0:
            lines = stderr.decode(errors="replace").strip().splitlines()
            why = lines[-1] if lines else "no message"
            failure = RuntimeError(f"the sensor log writer exited with code {self._proc.returncode}: {why}")
            self.error = self.error or failure


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class SensorMessage:
    """One message of a sensor log: its topic, schema name, log time (ns), step and decoded value."""

    topic: str
    datatype: str
    log_time: int
    step: int
    message: Any


@dataclass
class LogContents:
    """What :func:`iter_messages` found besides the messages: the metadata, the topics of all channels and
    whether the file was whole (False: cut short, read up to its last whole chunk)."""

    metadata: dict[str, str] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)
    complete: bool = True

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras with an rgb topic."""
        named = {t.split("/")[2] for t in self.topics if t.count("/") >= 3}
        return tuple(sorted(cam for cam in named if image_topic(cam) in self.topics))


def iter_records(path: str | Path, contents: LogContents) -> Iterator[tuple[Schema, Channel, Message]]:
    """The raw messages of an MCAP file in file order, up to the last whole record of a file cut short."""
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    with Path(path).open("rb") as f:
        try:
            for record in StreamReader(f).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                    contents.topics.add(record.topic)
                elif isinstance(record, Metadata) and record.name == METADATA:
                    contents.metadata.update(record.metadata)
                elif isinstance(record, Message) and record.channel_id in channels:
                    channel = channels[record.channel_id]
                    yield schemas[channel.schema_id], channel, record
        except McapError as e:  # a killed process leaves no footer and maybe half a chunk
            log.info("%s ends early (%s): reading what was written", path, type(e).__name__)
            contents.complete = False


def iter_messages(
    path: str | Path, topics: Sequence[str] | None = None, contents: LogContents | None = None
) -> Iterator[SensorMessage]:
    """The decoded messages of a sensor log (of ``topics`` only, if given), in the order written."""
    contents = contents if contents is not None else LogContents()
    factory = DecoderFactory()
    for schema, channel, record in iter_records(path, contents):
        if topics is not None and channel.topic not in topics:
            continue
        decode = factory.decoder_for(channel.message_encoding, schema)
        if decode is None:
            continue
        yield SensorMessage(channel.topic, schema.name, record.log_time, record.sequence, decode(record.data))


@dataclass(frozen=True)
class SensorSteps:
    """The per-step state of a sensor log as arrays with one row per step (NaN where a step has none).

    ``t`` is seconds on the trace's clock, ``ee_quat`` is ``(w, x, y, z)`` as in the observation,
    ``action`` row 0 (the reset) is NaN.
    """

    t: np.ndarray
    sim_time: np.ndarray
    action: np.ndarray
    ee_pos: np.ndarray
    ee_quat: np.ndarray
    gripper_width: np.ndarray
    joint_pos: np.ndarray
    joint_vel: np.ndarray
    joint_names: tuple[str, ...]
    cameras: tuple[str, ...]
    start_time_ns: int
    complete: bool

    def __len__(self) -> int:
        return len(self.t)


def _rows(values: dict[int, Sequence[float]], n: int, width: int) -> np.ndarray:
    out = np.full((n, width), np.nan)
    for step, row in values.items():
        out[step, : len(row)] = row
    return out


def read_steps(path: str | Path) -> SensorSteps:
    """The per-step state (action, proprio, times) of the sensor log at ``path``."""
    contents = LogContents()
    topics = (JOINT_STATES, EE_POSE, GRIPPER_WIDTH, ACTION, CLOCK)
    t: dict[int, int] = {}
    cols: dict[str, dict[int, Sequence[float]]] = {k: {} for k in ("sim", "act", "pos", "quat", "grip", "q", "qd")}
    names: tuple[str, ...] = ()
    for m in iter_messages(path, topics, contents):
        t[m.step] = m.log_time
        v = m.message
        if m.topic == JOINT_STATES:
            cols["q"][m.step], cols["qd"][m.step], names = list(v.position), list(v.velocity), tuple(v.name)
        elif m.topic == EE_POSE:
            p, o = v.pose.position, v.pose.orientation
            cols["pos"][m.step], cols["quat"][m.step] = [p.x, p.y, p.z], [o.w, o.x, o.y, o.z]
        elif m.topic == GRIPPER_WIDTH:
            cols["grip"][m.step] = [v.data]
        elif m.topic == ACTION:
            cols["act"][m.step] = list(v.data)
        else:
            cols["sim"][m.step] = [v.clock.sec + v.clock.nanosec * 1e-9]
    n = max(t) + 1 if t else 0
    start = int(contents.metadata.get("start_time_ns", "0"))
    times = np.full(n, np.nan)
    for step, ns in t.items():
        times[step] = (ns - start) * 1e-9
    return SensorSteps(
        t=times,
        sim_time=_rows(cols["sim"], n, 1)[:, 0],
        action=_rows(cols["act"], n, 5),
        ee_pos=_rows(cols["pos"], n, 3),
        ee_quat=_rows(cols["quat"], n, 4),
        gripper_width=_rows(cols["grip"], n, 1)[:, 0],
        joint_pos=_rows(cols["q"], n, len(names)),
        joint_vel=_rows(cols["qd"], n, len(names)),
        joint_names=names,
        cameras=contents.cameras,
        start_time_ns=start,
        complete=contents.complete,
    )


def iter_images(path: str | Path, camera: str, kind: str = "rgb") -> Iterator[tuple[int, np.ndarray]]:
    """``(step, image)`` of ``camera``'s ``rgb`` (HxWx3 uint8) or ``depth`` (HxW float32 metres) images."""
    for m in iter_messages(path, [image_topic(camera, kind)]):
        yield m.step, msg.image_array(m.message)
