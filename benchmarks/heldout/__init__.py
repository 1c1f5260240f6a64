"""Held-out sets of instruction wordings for evaluating instruction grounding.

``language.jsonl`` (set A) and ``language_b.jsonl`` (set B) hold hand-written tabletop
instructions, each tied to a seeded scene (``sample_task(family, seed)``, seeds 5000-5999 for A,
7000-7999 for B) and to the gold goal atoms it asks for,
or ``null`` where the instruction cannot be grounded in that scene (an object that is not there,
an ambiguous reference, an impossible or out-of-domain request).

How and by whom it was written: by a separate author working independently of the training-data
generator and the pattern grounder. The author did not read ``embodied/planners/``,
``embodied/evaluation/suites.py``, ``embodied/llm/`` or any training/pair/LM-data code; only the
task families (``envs/``), the goal checker (``embodied/core/goals.py``), the ground-truth
perceiver and ``benchmarks.language.scene_at_rest``. Every wording was typed by hand against the
printed scene (object names and positions), not filled in from string templates. The seeds
5000-5999 and 7000-7999 are reserved for held-out data: the generator never samples them. Set A's
failures were studied while the position-word reader was written, so it is a development set
now; set B is the held-out one (see README.md).

This set is for evaluation only. Never train, fine-tune, prompt-tune or select checkpoints on it;
once a model has been tuned against it, it is no longer held out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT = Path(__file__).with_name("language.jsonl")
#: Set B, written later by another author in the same way (see README.md), on its own seeds.
SET_B = Path(__file__).with_name("language_b.jsonl")

#: The seeds reserved for held-out data: set A (``language.jsonl``) and set B (``language_b.jsonl``).
SEEDS = range(5000, 6000)
SEEDS_B = range(7000, 8000)
#: Each set's file and seed range, by the name the language benchmark reports it under.
SETS = {"heldout": (DEFAULT, SEEDS), "heldout_b": (SET_B, SEEDS_B)}

Atom = tuple[str, ...]


@dataclass(frozen=True)
class HeldoutItem:
    """One held-out instruction: the scene it refers to, what it says and the goal it asks for.

    Attributes:
        id: stable identifier, ``h001`` ...
        family: task family whose seeded scene the instruction is about.
        seed: the scene's seed (5000-5999).
        instruction: the wording, as a user would type it.
        goal: the gold goal atoms, e.g. ``(("on", "red block", "blue block"),)``; ``None`` when the
            instruction cannot be grounded in that scene.
        kind: a short category tag (``question``, ``tower_topdown``, ``ungroundable`` ...).
    """

    id: str
    family: str
    seed: int
    instruction: str
    goal: tuple[Atom, ...] | None
    kind: str


def load_heldout(path: Path = DEFAULT) -> list[HeldoutItem]:
    """Every item of the JSON-lines file at ``path`` (blank lines skipped), in file order."""
    items = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                goal = row["goal"]
                items.append(
                    HeldoutItem(
                        id=str(row["id"]),
                        family=str(row["family"]),
                        seed=int(row["seed"]),
                        instruction=str(row["instruction"]),
                        goal=None if goal is None else tuple(tuple(str(x) for x in atom) for atom in goal),
                        kind=str(row["kind"]),
                    )
                )
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number}: bad held-out item: {e}") from e
    return items
