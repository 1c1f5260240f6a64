"""The ``embodied`` command line (typer + rich), one module per command."""

from embodied.cli.main import app

__all__ = ["app"]
