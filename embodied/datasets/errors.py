"""The error of the dataset layer."""

from __future__ import annotations

from embodied.errors import EmbodiedError


class DatasetError(EmbodiedError, ValueError):
    """A dataset that cannot be written or read as asked; the message names the file, field or value at fault."""
