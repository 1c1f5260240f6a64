"""``embodied skills``: the composite skills in the agent's memory (list, show, remove, export, import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from embodied.cli.console import echo_data, fail_usage, say, show, table
from embodied.cli.options import MemoryOption, memory_errors_are_usage_errors, open_store
from embodied.errors import EmbodiedError

if TYPE_CHECKING:
    from embodied.memory import MemoryStore, StoredSkill

skills_app = typer.Typer(
    help="Composite skills in the agent's memory: list, show, remove, export, import.", no_args_is_help=True
)


def _no_such_skill(store: MemoryStore, name: str) -> NoReturn:
    names = ", ".join(s.name for s in store.skills()) or "none (run episodes to learn some)"
    fail_usage(f"no skill named {name!r} in {store.path}; stored skills: {names}")


@skills_app.command("list")
def skills_list(memory: MemoryOption = None) -> None:
    """List the composite skills: parameters, steps, how often they worked, an instruction they worked for."""
    store = open_store(memory)
    with memory_errors_are_usage_errors(), store:
        skills = store.skills()
    listed = table(
        "skill", "parameters", "steps", "worked", "learned from", title=f"{len(skills)} skills in {store.path}"
    )
    for s in skills:
        steps = s.program.get("steps", [])
        listed.add_row(
            s.name,
            ", ".join(s.program.get("parameters", {}).get("properties", {})),
            " > ".join(str(st.get("skill")) for st in steps),
            f"{s.successes}/{s.uses}",
            s.examples[-1] if s.examples else s.source,
        )
    show(listed)


@skills_app.command("show")
def skills_show(
    name: Annotated[str, typer.Argument(help="the skill's name (see `embodied skills list`)")],
    memory: MemoryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the stored program as JSON")] = False,
) -> None:
    """Show one composite skill: its description, parameters, steps and where it worked."""
    import json

    store = open_store(memory)
    with memory_errors_are_usage_errors(), store:
        s = store.skill(name)
        if s is None:
            _no_such_skill(store, name)
    if as_json:
        program = {**s.program, "examples": list(s.examples), "successes": s.successes, "failures": s.failures}
        echo_data(json.dumps(program, indent=2))
        return
    _print_skill(s)


def _print_skill(s: StoredSkill) -> None:
    say("[bold]{}[/]  ({}, worked {} of {} times)", s.name, s.source, s.successes, s.uses)
    say("{}", s.program.get("description", ""))
    params = table("parameter", "type", "description", title="parameters")
    for p, schema in s.program.get("parameters", {}).get("properties", {}).items():
        kind = str(schema.get("type", "")) + (f" {schema['enum']}" if "enum" in schema else "")
        params.add_row(p, kind, str(schema.get("description", "")))
    show(params)
    steps = table("#", "skill", "arguments", title="steps")
    for i, step in enumerate(s.program.get("steps", []), start=1):
        args = ", ".join(
            f"{k}=<{v['$param']}>" if isinstance(v, dict) and "$param" in v else f"{k}={v!r}"
            for k, v in step.get("arguments", {}).items()
        )
        steps.add_row(str(i), str(step.get("skill")), args)
    show(steps)
    for example in s.examples:
        say(" worked for: {}", example)


@skills_app.command("remove")
def skills_remove(name: Annotated[str, typer.Argument(help="the skill's name")], memory: MemoryOption = None) -> None:
    """Remove one composite skill from memory (export it first to keep a copy)."""
    store = open_store(memory)
    with memory_errors_are_usage_errors(), store:
        if not store.remove_skill(name):
            _no_such_skill(store, name)
    say("removed {}", name)


@skills_app.command("export")
def skills_export(
    file: Annotated[Path, typer.Argument(help="JSON file to write")],
    memory: MemoryOption = None,
    names: Annotated[list[str] | None, typer.Option("--name", help="only these skills (repeatable)")] = None,
) -> None:
    """Write the composite skills to a readable JSON file."""
    from embodied.memory.transfer import export_skills

    store = open_store(memory)
    with store:
        try:
            count = export_skills(store, file, names)
        except (EmbodiedError, OSError) as e:
            fail_usage(str(e))
    say("exported {} skills to {}", count, file)


@skills_app.command("import")
def skills_import(
    file: Annotated[Path, typer.Argument(help="JSON file written by `embodied skills export`")],
    memory: MemoryOption = None,
    skills: Annotated[
        list[str] | None, typer.Option("--skills", help="module with the @skill functions they call (repeatable)")
    ] = None,
) -> None:
    """Validate and add the skills of an export file; skills with the same steps as stored ones are merged."""
    from embodied.factory import make_registry
    from embodied.memory.transfer import import_skills

    try:
        registry = make_registry(tuple(skills or ()))
    except EmbodiedError as e:
        fail_usage(str(e))
    store = open_store(memory)
    with store:
        try:
            report = import_skills(store, file, registry)
        except EmbodiedError as e:
            fail_usage(str(e))
    say("imported {} new, merged {} into stored skills", len(report.created), len(report.merged))
    for name, why in report.rejected:
        say("[yellow]rejected[/] {}: {}", name, why)
    if report.rejected:
        raise typer.Exit(code=1)
