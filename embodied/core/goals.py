"""Whether a set of goal atoms can hold at all, checked before anything moves.

Whoever grounds an instruction (the offline grounder, a language model) can produce a goal no
robot could reach: a block on itself, two blocks each on the other, one block in two places.
Such a goal is refused with the reason instead of being pursued until a budget runs out.
"""

from __future__ import annotations

from collections.abc import Sequence

from embodied.core.decision import Atom

SUPPORT_PREDICATES = ("on", "in")


def goal_problems(atoms: Sequence[Atom]) -> list[str]:
    """Why ``atoms`` cannot all hold at once (empty when nothing is wrong)."""
    problems = []
    for atom in atoms:
        if len(set(atom[1:])) < len(atom[1:]):
            problems.append(f"{atom[0]}({', '.join(atom[1:])}) asks for the {atom[1]} to be {atom[0]} itself")
    support: dict[str, str] = {}
    for atom in atoms:
        if atom[0] in SUPPORT_PREDICATES and atom[1] != atom[2]:
            where = support.setdefault(atom[1], atom[2])
            if where != atom[2]:
                problems.append(f"the {atom[1]} cannot be both on/in the {where} and on/in the {atom[2]}")
    for start in support:
        seen, here = [start], start
        while here in support:
            here = support[here]
            if here == start:
                if start == min(seen):  # report each loop once
                    problems.append(f"{' -> '.join([*seen, start])} is a loop: each would rest on the next")
                break
            if here in seen:
                break
            seen.append(here)
    return list(dict.fromkeys(problems))
