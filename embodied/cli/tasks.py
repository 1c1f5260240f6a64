"""``embodied tasks``: the task families, each with an example instruction."""

from __future__ import annotations

from rich.table import Table

from embodied.cli.console import console


def list_tasks() -> None:
    """List the task families and an example instruction of each."""
    from envs.tasks import FAMILIES, sample_task

    table = Table("task", "description", "example instruction")
    for name, family in sorted(FAMILIES.items()):
        table.add_row(name, family.description, sample_task(name, 0).instruction)
    console.print(table)
