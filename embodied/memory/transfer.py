"""Composite skills to and from a readable JSON file (``embodied skills export|import``).

The file is ``{"format": "embodied-skills", "version": 1, "skills": [{name, description,
parameters, steps, examples, successes, failures}, ...]}``, indented, one skill per entry, so it
can be read, reviewed and edited by hand. An import validates every skill against the registered
skills before storing it: a skill that does not fit (or whose counts are not whole numbers from 0
to SQLite's largest integer) is rejected with the reason and the others still land; a skill with
the same steps as a stored one is merged into it, keeping the larger of each count, so importing
the same file again changes nothing. A file that is not JSON, not an export or nested deeper
than :data:`MAX_DEPTH` is refused as a whole. An import raises only
:class:`~embodied.errors.ProgramError` (the file) and :class:`~embodied.errors.MemoryStoreError`
(the memory file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embodied.core.text import short
from embodied.errors import ProgramError
from embodied.memory.composite import Program, validate
from embodied.memory.store import MemoryStore
from embodied.skills.registry import SkillRegistry

FORMAT = "embodied-skills"
VERSION = 1
MAX_DEPTH = 32  # JSON nesting an export may have (one holds about 7: skills, skill, parameters, ...)
MAX_COUNT = 2**63 - 1  # SQLite's largest integer


@dataclass
class ImportReport:
    """What an import did: names created, names merged into, and ``(name, reason)`` rejected."""

    created: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def export_skills(store: MemoryStore, path: str | Path, names: list[str] | None = None) -> int:
    """Write the stored skills (or only ``names``) to ``path``; returns how many."""
    skills = store.skills()
    if names:
        unknown = sorted(set(names) - {s.name for s in skills})
        if unknown:
            raise ProgramError(
                f"no stored skills named {unknown}; stored: {', '.join(s.name for s in skills) or 'none'}"
            )
        skills = [s for s in skills if s.name in names]
    entries = [
        {
            **s.program,
            "name": s.name,
            "examples": list(s.examples),
            "successes": s.successes,
            "failures": s.failures,
        }
        for s in skills
    ]
    document = {"format": FORMAT, "version": VERSION, "skills": entries}
    Path(path).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(entries)


def read_skills_file(path: str | Path) -> list[dict[str, Any]]:
    """The skill entries of an export file; :class:`ProgramError` says what is wrong with the file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ProgramError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise ProgramError(f"{path} is not JSON: {e}") from e
    except RecursionError:
        raise ProgramError(_too_deep(path, "thousands of")) from None
    depth = _depth(document)
    if depth > MAX_DEPTH:
        raise ProgramError(_too_deep(path, str(depth)))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ProgramError(f'{path} is not an embodied skills file (it needs "format": "{FORMAT}")')
    if document.get("version") != VERSION:
        raise ProgramError(f"{path} has version {document.get('version')!r}; this embodied reads version {VERSION}")
    skills = document.get("skills")
    if not isinstance(skills, list):
        raise ProgramError(f'{path}: "skills" must be a list')
    return skills


def import_skills(store: MemoryStore, path: str | Path, registry: SkillRegistry) -> ImportReport:
    """Validate and store every skill of an export file (see the module docstring)."""
    report = ImportReport()
    for i, entry in enumerate(read_skills_file(path), start=1):
        label = str(entry.get("name", f"skill #{i}")) if isinstance(entry, dict) else f"skill #{i}"
        try:
            program = Program.from_json(entry)
            validate(program, registry)
            examples = _examples(entry)
            counts = (_count(entry, "successes"), _count(entry, "failures"))
        except ProgramError as e:
            report.rejected.append((label, str(e)))
            continue
        name, created = store.put_skill(
            program.to_json(), program.key(), source="imported", examples=examples, counts=counts
        )
        (report.created if created else report.merged).append(name)
    return report


def _count(entry: dict[str, Any], key: str) -> int:
    value = entry.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise ProgramError(f"{key} must be a whole number from 0 to {MAX_COUNT}, got {short(value)}")
    return value


def _examples(entry: dict[str, Any]) -> list[str]:
    value = entry.get("examples", [])
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise ProgramError(f"examples must be a list of instructions (strings), got {short(value)}")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep(path: str | Path, depth: str) -> str:
    return (
        f"{path} holds JSON nested {depth} levels deep; an embodied skills file has at most {MAX_DEPTH} levels "
        "(export the skills again with `embodied skills export`)"
    )
