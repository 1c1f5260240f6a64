"""The sensor log's writer process: ``python -m embodied.recording.sensor_worker PATH START_NS``.

:class:`~embodied.recording.sensor_log.SensorLogWriter` starts it and streams every control step
to its stdin, framed by :func:`encode_step`: a little-endian ``uint32`` length, a JSON header (the
step's time, action, proprio and camera matrices, and the list of images that follow) and the raw
image bytes. This process turns each step into ROS 2 messages (CDR) in an MCAP file with
zstd-compressed chunks. Serialising and compressing in a process of its own keeps that work off the
recording process's interpreter lock, so the control loop is not slowed by it.

It runs in a session of its own (a Ctrl-C at the terminal does not reach it) and finishes the file
whenever its stdin closes: at the end of the episode, and also when the recording process dies.
"""

from __future__ import annotations

import json
import signal
import struct
import sys
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
from mcap.writer import CompressionType
from mcap_ros2.writer import Writer

from embodied.recording import ros2_messages as msg

METADATA = "embodied"  # the metadata record: start_time_ns (UNIX ns of the trace's t = 0)
CHUNK_BYTES = 4 * 1024 * 1024  # uncompressed bytes per chunk (about 4-8 steps)
_LEN = struct.Struct("<I")

JOINT_STATES, EE_POSE, GRIPPER_WIDTH, ACTION, CLOCK, TF = (
    "/joint_states",
    "/robot/ee_pose",
    "/robot/gripper_width",
    "/robot/action",
    "/clock",
    "/tf",
)


def image_topic(camera: str, kind: str = "rgb") -> str:
    """``/camera/<camera>/color/image_raw`` (rgb) or ``/camera/<camera>/depth/image_raw``: the ROS bridge's
    default topics (:class:`envs.ros.transport.RosBridgeConfig`; a test keeps them equal)."""
    return f"/camera/{camera}/color/image_raw" if kind == "rgb" else f"/camera/{camera}/{kind}/image_raw"


def camera_info_topic(camera: str) -> str:
    return f"/camera/{camera}/color/camera_info"


def _floats(value: Any) -> list[float]:
    return np.asarray(value, dtype=np.float64).reshape(-1).tolist()  # type: ignore[no-any-return]


def encode_step(
    seq: int, t: float, obs: dict[str, Any], info: dict[str, Any], joint_names: tuple[str, ...], depth: bool
) -> tuple[bytes, list[memoryview]]:
    """The frame of one step: length-prefixed JSON header, and the image buffers that follow it."""
    images: list[dict[str, Any]] = []
    buffers: list[memoryview] = []
    for kind in ("rgb", "depth") if depth else ("rgb",):
        for cam, pixels in obs.get(kind, {}).items():
            data, encoding = msg.image_encoding(np.asarray(pixels))
            images.append({"camera": cam, "kind": kind, "encoding": encoding, "shape": data.shape[:2]})
            images[-1]["nbytes"] = data.nbytes
            buffers.append(memoryview(data.data).cast("B"))
    cameras = {
        cam: {"K": _floats(ci["K"]), "cam_to_world": _floats(ci["cam_to_world"]), "w": ci["width"], "h": ci["height"]}
        for cam, ci in (info.get("cameras") or {}).items()
    }
    header: dict[str, Any] = {"seq": seq, "t": t, "images": images, "cameras": cameras}
    if info.get("action") is not None:
        header["action"] = _floats(info["action"])
    if "sim_time" in info:
        header["sim_time"] = float(info["sim_time"])
    proprio = obs.get("proprio")
    if proprio is not None:
        header["proprio"] = {k: _floats(v) for k, v in proprio.items()}
        header["joint_names"] = list(joint_names)
    text = json.dumps(header, separators=(",", ":")).encode()
    return _LEN.pack(len(text)) + text, buffers


def decode_steps(stream: IO[bytes]) -> Iterator[tuple[dict[str, Any], list[bytes]]]:
    """The steps framed on ``stream`` by :func:`encode_step`, up to its end (a step cut short is dropped)."""
    while True:
        prefix = stream.read(_LEN.size)
        if len(prefix) < _LEN.size:
            return
        (length,) = _LEN.unpack(prefix)
        text = stream.read(length)
        if len(text) < length:
            return
        header = json.loads(text)
        buffers = [stream.read(im["nbytes"]) for im in header["images"]]
        if any(len(b) != im["nbytes"] for b, im in zip(buffers, header["images"], strict=True)):
            return
        yield header, buffers


class McapSensorWriter:
    """Writes decoded steps to an MCAP file as ROS 2 messages (see :mod:`embodied.recording.sensor_log`)."""

    def __init__(self, output: IO[bytes], start_ns: int) -> None:
        self.start_ns = start_ns
        self._writer: Any = Writer(output, chunk_size=CHUNK_BYTES, compression=CompressionType.ZSTD)
        self._writer.add_metadata(METADATA, {"start_time_ns": str(start_ns)})
        self._schemas: dict[str, Any] = {}

    def _write(self, topic: str, datatype: str, message: dict[str, Any], ns: int, seq: int) -> None:
        if datatype not in self._schemas:
            self._schemas[datatype] = self._writer.register_msgdef(datatype, msg.msgdef(datatype))
        self._writer.write_message(topic, self._schemas[datatype], message, log_time=ns, publish_time=ns, sequence=seq)

    def write(self, header: dict[str, Any], buffers: list[bytes]) -> None:
        """One step: every message stamped with the step's time, its index as the sequence number."""
        seq = int(header["seq"])
        ns = self.start_ns + round(float(header["t"]) * 1e9)
        for im, data in zip(header["images"], buffers, strict=True):
            h, w = im["shape"]
            image = msg.image(ns, im["camera"], data, h, w, im["encoding"])
            self._write(image_topic(im["camera"], im["kind"]), msg.IMAGE, image, ns, seq)
        transforms = []
        for cam, ci in header["cameras"].items():
            info = {"K": ci["K"], "width": ci["w"], "height": ci["h"]}
            self._write(camera_info_topic(cam), msg.CAMERA_INFO, msg.camera_info(ns, cam, info), ns, seq)
            transforms.append(msg.camera_transform(ns, cam, np.asarray(ci["cam_to_world"])))
        proprio = header.get("proprio")
        if proprio is not None:
            position = proprio["joint_pos"]
            velocity = proprio.get("joint_vel", [0.0] * len(position))
            joints = msg.joint_state(ns, header["joint_names"], np.asarray(position), np.asarray(velocity))
            self._write(JOINT_STATES, msg.JOINT_STATE, joints, ns, seq)
            ee_quat = msg.wxyz_to_xyzw(np.asarray(proprio["ee_quat"]))
            self._write(EE_POSE, msg.POSE, msg.pose(ns, proprio["ee_pos"], ee_quat), ns, seq)
            transforms.insert(0, msg.transform(ns, msg.EE_FRAME, proprio["ee_pos"], ee_quat))
            self._write(GRIPPER_WIDTH, msg.FLOAT64, msg.float64(proprio["gripper_width"][0]), ns, seq)
        if transforms:
            self._write(TF, msg.TF, {"transforms": transforms}, ns, seq)
        if "action" in header:
            self._write(ACTION, msg.FLOAT64_ARRAY, msg.action(np.asarray(header["action"])), ns, seq)
        if "sim_time" in header:
            self._write(CLOCK, msg.CLOCK, msg.clock(header["sim_time"]), ns, seq)

    def finish(self) -> None:
        self._writer.finish()


def main(argv: list[str]) -> int:
    """Write the steps arriving on stdin to ``argv[0]``; returns the exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the recording process decides when the log ends
    path, start_ns = argv[0], int(argv[1])
    with open(path, "wb") as f:
        writer = McapSensorWriter(f, start_ns)
        try:
            for header, buffers in decode_steps(sys.stdin.buffer):
                writer.write(header, buffers)
        finally:
            writer.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
