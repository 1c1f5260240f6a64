"""A killed evaluation leaves nothing running, and a rerun never shares its folder with a live run.

Real processes throughout: a driver script runs ``evaluate`` with two spawned workers, each of
them blocked on a loopback model server that never answers (an LLM call in flight, as when the
defect was found). The driver is SIGKILLed; every process it started must go with it. Processes
are found by a marker in their environment, which every descendant inherits, so a worker that
was re-parented to init is still found, and the test kills whatever it finds when it ends.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from embodied.errors import EmbodiedError
from embodied.evaluation.folder_lock import EvalFolderBusy, FolderLock
from embodied.evaluation.runner import EvalOptions, evaluate

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc")

MARK = "EMBODIED_TEST_PROCESS_TREE"

DRIVER = """\
import os
import sys
from pathlib import Path

from embodied.evaluation import runner
from embodied.evaluation.suites import build_suite

if os.environ.get("WATCHES"):  # module level: spawned workers import this file too, so they see it
    from embodied.evaluation import lifeline

    lifeline.WATCHES = tuple(os.environ["WATCHES"].split(","))

if __name__ == "__main__":
    options = runner.EvalOptions(planner="llm", llm="openai:held", perception="ground_truth", timeout_s=300)
    runner.evaluate(build_suite("standard", 2, ("stack", "tower")), options, Path(sys.argv[1]), workers=2)
"""


@dataclass
class HeldServer:
    """An OpenAI-protocol endpoint on loopback that takes every request and never answers it."""

    url: str
    requests: list[float] = field(default_factory=list)


@pytest.fixture
def held_server() -> Iterator[HeldServer]:
    release = threading.Event()
    server_ref: list[HeldServer] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            server_ref[0].requests.append(time.monotonic())
            release.wait(120)
            self.send_error(503)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_ref.append(HeldServer(f"http://127.0.0.1:{httpd.server_address[1]}/v1"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_ref[0]
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie has already closed its files (and released its locks)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _marked(mark: str) -> dict[int, str]:
    """The processes whose environment carries ``mark``, with their command lines."""
    found = {}
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


@dataclass
class Driver:
    proc: subprocess.Popen[bytes]
    mark: str
    seen: dict[int, str] = field(default_factory=dict)

    def processes(self) -> dict[int, str]:
        """Its processes still running: the marked ones, and those seen before (an exiting process loses
        its environment before it closes its files)."""
        self.seen.update(_marked(self.mark))
        return {pid: cmd for pid, cmd in self.seen.items() if _running(pid)}


@pytest.fixture
def start_driver(tmp_path: Path, held_server: HeldServer) -> Iterator[object]:
    """Starts driver runs (each in its own session); kills every process of theirs at the end."""
    started: list[Driver] = []
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)

    def start(out: Path, watches: str | None = None) -> Driver:
        mark = uuid.uuid4().hex
        env = {**os.environ, MARK: mark, "OPENAI_BASE_URL": held_server.url, "OPENAI_API_KEY": "test"}
        if watches:
            env["WATCHES"] = watches
        log = (tmp_path / f"driver-{len(started)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(script), str(out)], env=env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        started.append(Driver(proc, mark))
        return started[-1]

    try:
        yield start
    finally:
        for driver in started:
            for pid in driver.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            driver.proc.kill()
            driver.proc.wait(timeout=30)


def _wait_for(condition: Callable[[], object], seconds: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what()}")
        time.sleep(0.1)


def _kill_when_both_workers_wait_on_the_model(driver: Driver, server: HeldServer) -> dict[int, str]:
    """SIGKILL the driver once both workers are inside an LLM call; the processes it had started."""
    _wait_for(lambda: len(server.requests) >= 2, 120, lambda: "both workers to call the model server")
    children = {pid: cmd for pid, cmd in driver.processes().items() if pid != driver.proc.pid}
    workers = [pid for pid, cmd in children.items() if "--multiprocessing-fork" in cmd]
    assert len(workers) == 2, children
    driver.proc.send_signal(signal.SIGKILL)
    driver.proc.wait(timeout=10)
    return children


@pytest.mark.slow
@pytest.mark.parametrize("watches", [None, "pdeathsig", "lifeline"])
def test_killed_eval_leaves_no_worker_running(tmp_path, start_driver, held_server, watches):
    """SIGKILL of the parent ends both workers (and the resource tracker) within seconds; each watch alone suffices."""
    driver = start_driver(tmp_path / "eval", watches)
    children = _kill_when_both_workers_wait_on_the_model(driver, held_server)
    _wait_for(lambda: not driver.processes(), 5, lambda: f"these to end after SIGKILL: {driver.processes()}")
    assert len(held_server.requests) == 2  # nothing went on calling the model
    assert any("resource_tracker" in cmd for cmd in children.values()), children  # it went too


@pytest.mark.slow
def test_a_second_eval_on_a_busy_folder_is_refused_and_admitted_once_the_first_is_gone(
    tmp_path, start_driver, held_server
):
    out = tmp_path / "eval"
    driver = start_driver(out)
    _wait_for(lambda: len(held_server.requests) >= 1, 120, lambda: "the first eval to start its episodes")
    options = EvalOptions(planner="classical", perception="ground_truth")
    started = time.monotonic()
    with pytest.raises(EvalFolderBusy) as refused:
        evaluate([], options, out)
    assert time.monotonic() - started < 2  # at once, not after the first run
    assert str(out) in str(refused.value) and f"pid {driver.proc.pid}" in str(refused.value)
    assert isinstance(refused.value, EmbodiedError)
    _kill_when_both_workers_wait_on_the_model(driver, held_server)
    _wait_for(lambda: not driver.processes(), 5, lambda: f"these to end after SIGKILL: {driver.processes()}")
    assert evaluate([], options, out) == []  # the lock went with the killed run


@pytest.mark.slow
def test_workers_that_outlive_their_parent_keep_the_folder_locked(tmp_path, start_driver, held_server):
    """Should both watches fail, the orphans still hold the lock: a rerun cannot write beside them."""
    out = tmp_path / "eval"
    driver = start_driver(out, watches="none")
    _kill_when_both_workers_wait_on_the_model(driver, held_server)
    time.sleep(1)
    orphans = driver.processes()
    assert sum("--multiprocessing-fork" in cmd for cmd in orphans.values()) == 2, orphans  # no watch: they live on
    with pytest.raises(EvalFolderBusy, match=rf"pid {driver.proc.pid}, which has ended; its workers are still"):
        evaluate([], EvalOptions(), out)
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not driver.processes(), 5, lambda: f"these to end after SIGKILL: {driver.processes()}")
    # A killed process closes its files on its way out; on a loaded machine that can trail the end of the
    # process a little, so the folder gets a few seconds to come free (and the failure names who holds it).
    _wait_for(lambda: _free(out), 10, lambda: f"{out} to come free; its lock file is open in {_holders(out)}")
    assert evaluate([], EvalOptions(), out) == []


def _free(out: Path) -> bool:
    try:
        with FolderLock(out):
            return True
    except EvalFolderBusy:
        return False


def _holders(out: Path) -> dict[int, str]:
    """Processes with the folder's lock file open, and their command lines."""
    lock, found = str(out / ".eval.lock"), {}
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == lock for fd in fd_dir.iterdir()):
                pid = int(fd_dir.parent.name)
                found[pid] = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return found


def test_the_folder_lock_is_exclusive_and_released_on_exit(tmp_path):
    out = tmp_path / "eval"
    with FolderLock(out):
        assert (out / ".eval.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(EvalFolderBusy, match=rf"in use by another evaluation \(pid {os.getpid()}\)"):
            FolderLock(out).__enter__()
        with pytest.raises(EvalFolderBusy, match=str(out)):
            evaluate([], EvalOptions(), out)
    with FolderLock(out):  # released when the first left its block
        pass


def test_a_worker_whose_parent_is_already_gone_exits_at_once(tmp_path):
    """The race: the parent dies before the worker sets its parent-death signal; the worker notices."""
    code = (
        "import multiprocessing as mp, os, sys\n"
        "from embodied.evaluation import lifeline\n"
        "reader, writer = mp.Pipe(duplex=False)\n"  # the writer stays open: only the pid check can end it
        "lifeline.tie_to_parent(lifeline.Lifeline(parent_pid=os.getppid() + 1_000_000, read_end=reader))\n"
        "print('outlived its parent')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 1 and b"outlived" not in done.stdout, done


def test_eval_on_a_folder_another_eval_holds_is_a_usage_error(tmp_path):
    """The CLI turns the busy folder into exit 2 with the reason, not a traceback."""
    from typer.testing import CliRunner

    from embodied.cli import app
    from embodied.evaluation.folder_lock import FolderLock

    with FolderLock(tmp_path):
        result = CliRunner().invoke(
            app, ["eval", "--suite", "standard", "--episodes", "1", "--family", "stack", "--out", str(tmp_path)]
        )
    assert result.exit_code == 2, result.output
    assert "in use by another evaluation" in " ".join(result.output.split())
