"""Text the CLI did not write (task names, instructions, skill names, server replies, install hints)
is printed as typed, never read as rich markup (issue 14 case 3)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from embodied.cli import app
from embodied.cli.run import LiveTracer
from embodied.memory.embedding import MiniLMEmbedder
from embodied.recording.tracing import NullTracer

runner = CliRunner()


def flat(text: str) -> str:
    """The output with its line wrapping undone."""
    return " ".join(text.split())


def test_a_task_that_looks_like_markup_is_refused_and_shown_as_typed(tmp_path):
    result = runner.invoke(app, ["run", "--task", "[/]", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "unknown task '[/]'" in flat(result.output)
    assert not any(tmp_path.iterdir())


def test_skills_show_of_a_name_that_looks_like_markup(tmp_path):
    result = runner.invoke(app, ["skills", "show", "--memory", str(tmp_path / "m.sqlite"), "--", "[/]"])
    assert result.exit_code == 2, result.output
    assert "no skill named '[/]'" in flat(result.output)


def test_eval_family_that_looks_like_markup(tmp_path):
    result = runner.invoke(app, ["eval", "--family", "[/x]", "--family", "[bold]", "--out", str(tmp_path / "e")])
    assert result.exit_code == 2, result.output
    assert "['[/x]', '[bold]']" in flat(result.output)


def test_an_install_hint_keeps_its_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(MiniLMEmbedder, "available", staticmethod(lambda: False))
    args = ["memory", "search", "x", "--embedder", "minilm", "--memory", str(tmp_path / "m.sqlite")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "pip install 'embodied[memory]'" in flat(result.output)


def test_the_progress_line_shows_model_text_as_text():
    from embodied.cli.console import progress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with progress("{task.completed} steps", style="cyan", console=console) as bar:
        task = bar.add_task("starting", total=10)
        tracer = LiveTracer(NullTracer(), bar, task)
        tracer.set_overlay(subgoal="[bold]on(a, b)", skill="place([/], [/red])")
        bar.refresh()
    assert "[bold]on(a, b) | place([/], [/red])" in out.getvalue()


@pytest.mark.slow
def test_an_instruction_with_markup_runs_and_is_printed_as_typed(tmp_path):
    instruction = "put the red block on the blue block [/red]"
    args = ["run", "--task", "stack", "--seed", "3", "--instruction", instruction, "--perception", "ground_truth"]
    result = runner.invoke(app, [*args, "--no-video", "--no-memory", "--out", str(tmp_path)])
    assert result.exit_code in (0, 1), result.output
    assert f"instruction {instruction}" in flat(result.output)
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "episode.json").read_text())["instruction"] == instruction


@pytest.fixture
def rejecting_server() -> Iterator[str]:
    """A loopback OpenAI-protocol server that answers every request with HTTP 401 and markup in its body."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            error = {"message": "bad key [/] [bold]nope", "type": "invalid_request_error"}
            body = json.dumps({"error": error}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.slow
def test_a_server_error_with_markup_is_reported_as_sent(tmp_path, rejecting_server, monkeypatch):
    pytest.importorskip("openai")
    monkeypatch.setenv("OPENAI_BASE_URL", rejecting_server)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    args = ["run", "--task", "stack", "--llm", "openai:m", "--planner", "llm", "--perception", "ground_truth"]
    result = runner.invoke(app, [*args, "--no-video", "--no-memory", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "bad key [/] [bold]nope" in flat(result.output)
    (folder,) = tmp_path.iterdir()
    assert "[/]" in json.loads((folder / "episode.json").read_text())["reason"]
