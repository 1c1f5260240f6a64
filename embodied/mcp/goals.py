"""The goal a client asks ``verify`` to check: atoms written out, or an instruction grounded in the scene.

``on(red block, blue block); in(green block, bin)`` names the atoms (``on``, ``in``, ``in_region``;
``;`` between atoms); anything else is read as an instruction (``"the red block is on the blue
block"``, ``"stack the red block on the blue block"``) and grounded by the offline grounder in
the perceived scene. Names must be the perceived ones; an unknown name is refused with the valid
names, and a goal that cannot hold at all (a block on itself) with the reason.
"""

from __future__ import annotations

import re

from embodied.core.decision import Atom
from embodied.core.goals import goal_problems
from embodied.core.text import short
from embodied.mcp.limits import CallRefused
from embodied.planners.grounding import parse_instruction
from envs.scene_spec import REGIONS
from perception.scene_graph import SceneGraph

PREDICATES = ("on", "in", "in_region")
MAX_ATOMS = 16
_ATOM = re.compile(r"^\s*([a-z_]+)\s*\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*$", re.IGNORECASE)


def parse_goal(text: str, scene: SceneGraph) -> tuple[Atom, ...]:
    """The atoms ``text`` asks for in ``scene``; :class:`~embodied.mcp.limits.CallRefused` says what is wrong."""
    if "(" not in text:
        try:
            return parse_instruction(text, scene)
        except Exception as e:  # noqa: BLE001 - the grounder's reason goes back to the client
            raise CallRefused(f"cannot ground the goal: {e}") from None
    clauses = [c for c in text.split(";") if c.strip()]
    if len(clauses) > MAX_ATOMS:
        raise CallRefused(f"the goal has {len(clauses)} atoms; verify checks at most {MAX_ATOMS} at once")
    names = {" ".join(n.lower().split()): n for n in scene.names}
    regions = {r: r for r in REGIONS}
    atoms: list[Atom] = []
    for clause in clauses:
        match = _ATOM.match(clause)
        if match is None:
            raise CallRefused(
                f"{short(clause.strip())} is not an atom; write on(a, b), in(a, b) or in_region(a, region), "
                "separated by ';', or an instruction without parentheses"
            )
        pred, first, second = (" ".join(g.lower().split()) for g in match.groups())
        if pred not in PREDICATES:
            raise CallRefused(f"unknown predicate {short(pred)}; use one of {', '.join(PREDICATES)}")
        target = regions if pred == "in_region" else names
        for name, table in ((first, names), (second, target)):
            if name not in table:
                valid = ", ".join(repr(v) for v in table.values()) or "(none visible)"
                raise CallRefused(f"{short(name)} is not a visible object or region here; valid names are: {valid}")
        atoms.append((pred, names[first], target[second]))
    problems = goal_problems(atoms)
    if problems:
        raise CallRefused(f"the goal cannot hold: {'; '.join(problems)}")
    return tuple(dict.fromkeys(atoms))
