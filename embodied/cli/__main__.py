"""``python -m embodied.cli`` runs the command line."""

from embodied.cli.main import app

app()
