"""End to end with the official client: a whole stack task over stdio and over streamable HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import signal
from urllib.parse import urlsplit

import imageio
import jsonschema
import pytest
from mcp import StdioServerParameters

from embodied.recording.trace_events import TRACE_EVENT_SCHEMA

from .conftest import EMBODIED, ROOT, stack_task, start_http_server, with_client


def options(out, *extra: str) -> list[str]:
    return ["--task", "stack", "--seed", "3", "--planner", "classical", "--out", str(out), *extra]


@pytest.mark.slow
def test_a_client_that_knows_nothing_of_us_stacks_two_blocks_over_stdio(tmp_path):
    out = tmp_path / "runs"
    args = [*EMBODIED[1:], "mcp", "serve", *options(out)]
    params = StdioServerParameters(command=EMBODIED[0], args=args, cwd=str(ROOT))
    seen = with_client(params, stack_task)  # leaving closes the server's stdin: it writes the episode and exits
    assert seen["verify"]["holds"] is True
    (folder,) = out.iterdir()
    assert folder.name == seen["episode"]
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["success"] is True  # the task's success predicate over the simulator's ground truth
    assert summary["verified"] is True and summary["planner"] == "mcp client"
    assert summary["reason"] == "the server stopped"
    events = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    for event in events:
        jsonschema.validate(event, TRACE_EVENT_SCHEMA)
    calls = [(e["name"], e["arguments"]) for e in events if e["kind"] == "tool_call"]
    assert calls == [("pick", {"object": seen["top"]}), ("place", {"object": seen["top"], "target": seen["bottom"]})]
    assert [e["kind"] for e in events][:2] == ["episode_start", "observation"]
    assert [e["holds"] for e in events if e["kind"] == "verification"] == [True]
    assert events[-1]["kind"] == "episode_end" and events[-1]["success"] is True
    reader = imageio.get_reader(folder / "video.mp4")
    try:
        assert reader.get_meta_data()["codec"] == "h264"
        frames = reader.count_frames()
    finally:
        reader.close()
    assert frames == summary["video_frames"] == summary["stats"]["control_steps"] + 1 > 50
    assert max(e["frame"] for e in events) == frames - 1
    assert "report.html" in {p.name for p in folder.iterdir()}


def post(url: str, host: str) -> int:
    """The HTTP status of an MCP request sent with another ``Host`` header (a DNS-rebinding page)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
        headers = {"Host": host, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        conn.request("POST", parts.path, body, headers)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.slow
def test_the_same_task_over_streamable_http_on_loopback(tmp_path):
    out = tmp_path / "runs"
    proc, url = start_http_server(*options(out, "--no-video"))
    try:
        assert url.startswith("http://127.0.0.1:")
        seen = with_client(url, stack_task)
        assert seen["verify"]["holds"] is True
        assert post(url, "attacker.example") == 421  # only loopback Host headers are served
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0  # SIGTERM ends the server cleanly: the episode's files are written
    (folder,) = out.iterdir()
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["success"] is True and summary["skill_calls"] == 2
    assert not (folder / "video.mp4").exists()
