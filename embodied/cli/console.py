"""The rich console every command prints to, and the exit for a bad command line."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()


def fail_usage(message: str) -> NoReturn:
    """Print ``error: message`` and exit with code 2 (a usage error)."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)
