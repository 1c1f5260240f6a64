"""Task chains (CALVIN-style): several instructions in a row in one scene, no reset between them.

A chain is sampled together with a symbolic model of where every block is, so each link is
feasible after the previous ones succeeded: a block is only moved when nothing stands on it,
stacked only onto a clear block on the table, and pushed only while it rests on the table.
"""

from __future__ import annotations

import numpy as np

from envs.scene_spec import REGIONS, SceneSpec
from envs.tasks.base import TaskInstance, make_block, make_bowl, make_plate, place_objects
from envs.tasks.families import FAMILIES

CHAIN_LENGTH = 5


def _scene(rng: np.random.Generator) -> SceneSpec:
    colours = [str(c) for c in rng.permutation(["red", "green", "blue", "yellow", "purple", "orange"])]
    blocks = [make_block(c) for c in colours[:4]]
    containers = [make_bowl(colours[4]), make_plate(colours[5])]
    return place_objects(rng, [*blocks, *containers])


def sample_chain(seed: int, length: int = CHAIN_LENGTH) -> list[TaskInstance]:
    """``length`` feasible tasks on one seeded scene (the first task's scene is the scene)."""
    rng = np.random.default_rng([seed, 5])
    scene = _scene(rng)
    blocks = [o.name for o in scene.objects if o.kind == "block"]
    bowl = next(o.name for o in scene.objects if o.kind == "bowl")
    plate = next(o.name for o in scene.objects if o.kind == "plate")
    where = {b: "table" for b in blocks}  # "table", "on:<x>", "in:<bowl>", "on:<plate>"
    pushed: dict[str, str] = {}  # block -> the region it was last pushed into

    def clear(x: str) -> bool:
        return all(w != f"on:{x}" for w in where.values())

    tasks: list[TaskInstance] = []
    while len(tasks) < length:
        kind = str(rng.choice(["stack", "put_in_container", "pick_place", "push_to_region"]))
        movable = [b for b in blocks if clear(b)]
        a = str(rng.choice(movable))
        if kind == "stack":
            bases = [b for b in blocks if b != a and clear(b) and where[b] == "table" and where[a] != f"on:{b}"]
            if not bases:
                continue
            b = str(rng.choice(bases))
            goal, slots, where[a] = ("on", a, b), {"top": a, "bottom": b}, f"on:{b}"
        elif kind == "put_in_container":
            if where[a] == f"in:{bowl}":
                continue
            goal, slots, where[a] = ("in", a, bowl), {"block": a, "bowl": bowl}, f"in:{bowl}"
        elif kind == "pick_place":
            if not clear(plate):
                continue
            goal, slots, where[a] = ("on", a, plate), {"block": a, "plate": plate}, f"on:{plate}"
        else:
            if where[a] != "table":
                continue
            region = str(rng.choice([r for r in sorted(REGIONS) if r != pushed.get(a)]))
            goal, slots, pushed[a] = ("in_region", a, region), {"block": a, "region": region}, region
        if kind != "push_to_region":
            pushed.pop(a, None)
        family = FAMILIES[kind]
        tasks.append(TaskInstance(f"chain/{kind}", family.word(rng, **slots), scene, (goal,)))
    return tasks
