"""How long a chat call takes to give up on a server that is dead, hangs, or trickles its reply.

Three loopback servers speaking just enough HTTP: nothing listening on the port (dead), a server
that reads the request and never answers (hanging), and one that sends a valid chat completion
one byte every 50 ms (trickling; its whole reply would take about 20 s). The OpenAI backend is
configured with ``timeout_s`` and ``max_retries``; the promise (docs/reliability.md) is that it
gives up within ``timeout_s × (max_retries + 1)`` plus its backoff pauses, never unbounded.

Run: ``python -m benchmarks.give_up`` (writes benchmarks/results/give_up.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from embodied.llm.base import LLMUnavailable, user
from embodied.llm.openai_http import OpenAIChatModel, OpenAIConfig

RESULTS = Path(__file__).parent / "results" / "give_up.json"
REPLY = json.dumps(
    {
        "id": "chatcmpl-0",
        "object": "chat.completion",
        "created": 0,
        "model": "slow",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * 300}, "finish_reason": "stop"}],
    }
).encode()


class _Handler(BaseHTTPRequestHandler):
    mode = "hang"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "hang":
            time.sleep(120)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        for i in range(len(REPLY)):
            try:
                self.wfile.write(REPLY[i : i + 1])
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)


def _server(mode: str) -> tuple[ThreadingHTTPServer, str]:
    handler = type(f"{mode.title()}Handler", (_Handler,), {"mode": mode})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def give_up_time(url: str, timeout_s: float, retries: int) -> tuple[float, str]:
    config = OpenAIConfig(model="slow", base_url=url, timeout_s=timeout_s, max_retries=retries, backoff_s=0.5)
    model = OpenAIChatModel(config)
    start = time.monotonic()
    try:
        model.chat([user("hello")])
    except LLMUnavailable as e:
        return time.monotonic() - start, str(e)
    return time.monotonic() - start, "answered"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.0, help="timeout_s of the backend")
    parser.add_argument("--retries", type=int, default=2, help="max_retries of the backend")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    attempts = args.retries + 1
    backoff = sum(min(8.0, 0.5 * 2**i) for i in range(args.retries))
    bound = args.timeout * attempts + backoff
    rows: dict[str, Any] = {}
    servers = []
    for mode in ("dead", "hang", "trickle"):
        if mode == "dead":
            url = _dead_url()
        else:
            httpd, url = _server(mode)
            servers.append(httpd)
        seconds, message = give_up_time(url, args.timeout, args.retries)
        rows[mode] = {"seconds": round(seconds, 2), "within_bound": seconds <= bound + 0.5, "message": message[:200]}
        print(f"{mode:8s} gave up after {seconds:5.2f} s (bound {bound:.1f} s): {message[:90]}")
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
    result = {
        "machine": platform.platform(),
        "timeout_s": args.timeout,
        "attempts": attempts,
        "backoff_s_total": backoff,
        "bound_s": bound,
        "servers": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
