"""An episode folder as one ROS 2 bag: the sensor log merged with the agent's trace (``embodied export``).

The bag (MCAP, ROS 2 profile, ``ros2msg`` schemas, CDR) holds every message of ``sensors.mcap``
(camera images, camera info, tf, joint states, end-effector pose, gripper width, action, clock; see
:mod:`embodied.recording.sensor_log`) and the trace's events as ``std_msgs/msg/String`` messages,
each at the time it happened on the same clock:

======================== ============================================ ======================
topic                    data                                         trace event
======================== ============================================ ======================
``/agent/observation``   the text observation                         ``observation``
``/agent/thought``       the planner's thoughts (when it gave any)    ``decision``
``/agent/tool_call``     JSON ``{name, arguments}``                   ``tool_call``
``/agent/tool_result``   JSON ``{name, success, message, steps}``     ``tool_result``
``/agent/verification``  JSON ``{subgoal, holds, missing}``           ``verification``
``/agent/reflection``    the reflection                               ``reflection``
``/agent/events``        every event, as its ``trace.jsonl`` line     all
======================== ============================================ ======================

A folder without a sensor log (a run without ``--sensors``) exports the agent topics alone. A trace or
sensor log cut short by a killed process is exported up to where it ends.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mcap.records import Channel, Message, Schema
from mcap.writer import CompressionType
from mcap_ros2.decoder import DecoderFactory
from mcap_ros2.writer import Writer

from embodied.errors import EmbodiedError
from embodied.recording import ros2_messages as msg
from embodied.recording.sensor_log import SENSOR_LOG, LogContents, iter_records
from embodied.recording.sensor_worker import CHUNK_BYTES

log = logging.getLogger(__name__)

FORMATS = ("mcap",)
TRACE, EPISODE = "trace.jsonl", "episode.json"
DEFAULT_NAME = "episode.mcap"
EVENTS_TOPIC = "/agent/events"
AGENT_TOPICS = {
    "observation": "/agent/observation",
    "decision": "/agent/thought",
    "tool_call": "/agent/tool_call",
    "tool_result": "/agent/tool_result",
    "verification": "/agent/verification",
    "reflection": "/agent/reflection",
}


class RunFolderError(EmbodiedError, ValueError):
    """A folder that is not an episode folder, or an export format that does not exist."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_mcap` wrote: the file, messages per topic, and what it was made from."""

    path: Path
    topics: dict[str, int]
    sensor_steps: int  # steps found in the sensor log (0 without one)
    complete: bool  # False: the trace or the sensor log was cut short (a killed process)


def check_format(name: str) -> str:
    """``name`` if it is an export format, else :class:`RunFolderError` listing the valid ones."""
    if name not in FORMATS:
        raise RunFolderError(f"unknown export format {name!r}; valid formats: {', '.join(FORMATS)}")
    return name


def check_run_folder(run_dir: Path) -> Path:
    """``run_dir`` if it holds an episode's ``trace.jsonl``, else :class:`RunFolderError` saying what it is."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "does not exist" if not run_dir.exists() else "is a file, not a folder"
        raise RunFolderError(f"{run_dir} {what}; give an episode folder written by `embodied run` (runs/<time>-...)")
    if not (run_dir / TRACE).is_file():
        inner = sorted(p.name for p in run_dir.iterdir() if p.is_dir() and (p / TRACE).is_file())
        hint = f" (it holds episode folders: {', '.join(inner[:5])})" if inner else ""
        raise RunFolderError(
            f"{run_dir} is not an episode folder: it has no {TRACE}{hint}; give a folder written by `embodied run`"
        )
    return run_dir


def read_trace(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The events of ``trace.jsonl`` and whether it was whole (a torn last line is dropped)."""
    events: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return events, False
        if isinstance(event, dict) and isinstance(event.get("t"), int | float):
            events.append(event)
    return events, True


def agent_text(event: dict[str, Any]) -> str | None:
    """The ``std_msgs/String`` text of an event on its own agent topic (None: nothing to show)."""
    kind = event["kind"]
    if kind in ("observation", "reflection"):
        return str(event.get("text", ""))
    if kind == "decision":
        thoughts = str((event.get("decision") or {}).get("thoughts", ""))
        return thoughts or None
    keys = {
        "tool_call": ("name", "arguments"),
        "tool_result": ("name", "success", "message", "steps"),
        "verification": ("subgoal", "holds", "missing"),
    }[kind]
    return json.dumps({k: event[k] for k in keys if k in event}, ensure_ascii=False)


def _agent_messages(events: list[dict[str, Any]], start_ns: int) -> Iterator[tuple[int, str, str]]:
    """``(log time, topic, text)`` of the trace's events, in order."""
    for event in events:
        ns = start_ns + round(float(event["t"]) * 1e9)
        yield ns, EVENTS_TOPIC, json.dumps(event, ensure_ascii=False)
        topic = AGENT_TOPICS.get(str(event.get("kind")))
        if topic is not None:
            text = agent_text(event)
            if text is not None:
                yield ns, topic, text


def _start_ns(contents: LogContents, trace: Path, events: list[dict[str, Any]]) -> int:
    """The UNIX time of the trace's t = 0: from the sensor log, else (no log) the trace file's last write
    time less its last event's t."""
    if "start_time_ns" in contents.metadata:
        return int(contents.metadata["start_time_ns"])
    last_t = float(events[-1]["t"]) if events else 0.0
    return max(0, trace.stat().st_mtime_ns - round(last_t * 1e9))


def _episode_metadata(run_dir: Path) -> dict[str, str]:
    """The scalar fields of ``episode.json`` as strings (MCAP metadata), if the file is there and readable."""
    try:
        summary = json.loads((run_dir / EPISODE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(summary, dict):
        return {}
    return {k: str(v) for k, v in summary.items() if isinstance(v, str | int | float | bool)}


def _peek_metadata(sensors: Path) -> LogContents:
    """The sensor log's metadata (written before its first message)."""
    contents = LogContents()
    if sensors.is_file():
        for _ in iter_records(sensors, contents):
            break
    return contents


class _Bag:
    """The output bag: strings on the agent's topics, and sensor messages copied (decoded, re-encoded)."""

    def __init__(self, f: BinaryIO, metadata: dict[str, str]) -> None:
        self.writer: Any = Writer(f, chunk_size=CHUNK_BYTES, compression=CompressionType.ZSTD)
        if metadata:
            self.writer.add_metadata("episode", metadata)
        self.string_schema = self.writer.register_msgdef(msg.STRING, msg.msgdef(msg.STRING))
        self.schemas: dict[int, Any] = {}
        self.decoders = DecoderFactory()
        self.counts: Counter[str] = Counter()
        self.steps: set[int] = set()

    def text(self, ns: int, topic: str, text: str) -> None:
        self.writer.write_message(topic, self.string_schema, msg.string(text), log_time=ns)
        self.counts[topic] += 1

    def copy(self, schema: Schema, channel: Channel, record: Message) -> None:
        decode = self.decoders.decoder_for(channel.message_encoding, schema)
        if decode is None:
            return
        if schema.id not in self.schemas:
            self.schemas[schema.id] = self.writer.register_msgdef(schema.name, schema.data.decode())
        self.writer.write_message(
            channel.topic,
            self.schemas[schema.id],
            decode(record.data),
            log_time=record.log_time,
            publish_time=record.publish_time,
            sequence=record.sequence,
        )
        self.counts[channel.topic] += 1
        self.steps.add(record.sequence)


def export_mcap(run_dir: Path, out: Path | None = None) -> ExportResult:
    """Write the episode in ``run_dir`` as a ROS 2 bag to ``out`` (default ``run_dir/episode.mcap``)."""
    run_dir = check_run_folder(run_dir)
    out = Path(out) if out is not None else run_dir / DEFAULT_NAME
    events, trace_whole = read_trace(run_dir / TRACE)
    sensors = run_dir / SENSOR_LOG
    start_ns = _start_ns(_peek_metadata(sensors), run_dir / TRACE, events)
    if not sensors.is_file():
        log.info("%s has no %s: the bag holds the agent's topics only", run_dir, SENSOR_LOG)
    contents = LogContents()
    records = iter_records(sensors, contents) if sensors.is_file() else iter(())
    # Both streams are in time order; merged by log time, a step's sensor messages before same-time events.
    agent: Iterator[tuple[int, int, Any]] = (
        (ns, 1, (topic, text)) for ns, topic, text in _agent_messages(events, start_ns)
    )
    sensor: Iterator[tuple[int, int, Any]] = ((r[2].log_time, 0, r) for r in records)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as f:
        bag = _Bag(f, _episode_metadata(run_dir))
        for ns, source, item in heapq.merge(agent, sensor, key=lambda m: (m[0], m[1])):
            if source == 1:
                bag.text(ns, *item)
            else:
                bag.copy(*item)
        bag.writer.finish()
    tmp.replace(out)
    return ExportResult(out, dict(sorted(bag.counts.items())), len(bag.steps), trace_whole and contents.complete)
