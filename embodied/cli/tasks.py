"""``embodied tasks``: the task families, each with an example instruction."""

from __future__ import annotations

from embodied.cli.console import show, table


def list_tasks() -> None:
    """List the task families and an example instruction of each."""
    from envs.tasks import FAMILIES, sample_task

    families = table("task", "description", "example instruction")
    for name, family in sorted(FAMILIES.items()):
        families.add_row(name, family.description, sample_task(name, 0).instruction)
    show(families)
