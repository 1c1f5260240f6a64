"""llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) on a free loopback port.

:func:`serve_gguf` starts it with a GGUF file (SmolLM2's by default), waits for its first answer and
stops it on exit. The test suite and ``benchmarks/llm_server.py`` use it, and so can a user who wants
``--llm openai:MODEL`` against the model on this machine. The server comes from the ``server`` extra
(it compiles; see docs/llm.md).

Two settings are not llama.cpp's defaults, both measured on a shared 2-core machine:

* ``OMP_WAIT_POLICY=PASSIVE``: with spinning OpenMP threads 30 tokens took 18-60 s instead of under
  2 s whenever another process used the cores.
* A build compiled with ``-march=native`` can die of SIGILL at its first answer on a VM whose CPUID
  offers instructions its kernel does not enable; the first answer is asked for here, and such a death
  is reported with the rebuild command.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from embodied.llm.base import LLMUnavailable

INSTALL = "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install -e '.[server]' (llama-cpp-python compiles, about 14 CPU-minutes)"
REBUILD = "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python==0.3.36"


@dataclass(frozen=True)
class RunningServer:
    url: str  # the OpenAI base URL, ending in /v1
    log: Path  # the server's stdout and stderr
    startup_s: float  # seconds from the start until its first answer

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def server_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_gguf(
    log: Path, gguf: Path | None = None, *, threads: int = 2, n_ctx: int = 4096, startup_s: float = 60.0
) -> Iterator[RunningServer]:
    """Run ``llama_cpp.server`` with ``gguf`` on loopback until the block ends; its output goes to ``log``.

    Raises :class:`LLMUnavailable` naming what went wrong (not installed, exited, no answer in
    ``startup_s``, SIGILL) with the end of the server's log.
    """
    if not server_installed():
        raise LLMUnavailable(f"llama-cpp-python is not installed: {INSTALL}")
    if gguf is None:
        from embodied.llm.local import find_gguf

        gguf = find_gguf()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    args = ["--model", str(gguf), "--n_ctx", str(n_ctx), "--n_threads", str(threads)]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    start = time.monotonic()
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the server's logging
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", *args], stdout=out, stderr=out, env=env)
    try:
        _wait_for_first_answer(proc, url, log, start + startup_s)
        yield RunningServer(url, log, time.monotonic() - start)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for_first_answer(proc: subprocess.Popen[bytes], url: str, log: Path, deadline: float) -> None:
    """Until ``/models`` answers, then one generated token: a build this CPU cannot run fails here."""
    last = ""

    def fail(what: str) -> LLMUnavailable:
        code = proc.poll()
        hint = (
            f" It died of SIGILL: compiled for instructions this CPU does not run. Rebuild: {REBUILD}."
            if (code == -signal.SIGILL)
            else ""
        )
        tail = log.read_text(errors="replace")[-3000:]
        return LLMUnavailable(f"llama_cpp.server at {url}: {what} (exit code {code}).{hint}\n{tail}")

    while True:
        if proc.poll() is not None:
            raise fail("exited at start-up")
        if time.monotonic() > deadline:
            raise fail(f"did not answer /models in time (last error: {last})")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                if reply.status == 200:
                    break
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.2)
    body = {"model": "any", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    request = urllib.request.Request(
        f"{url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=max(deadline - time.monotonic(), 5.0)):
            return
    except (urllib.error.URLError, OSError) as e:
        time.sleep(0.5)  # let a crashed server's exit code arrive
        raise fail(f"gave no first answer ({e})") from e
