"""The task families of the tabletop suite, each with several instruction phrasings."""

from __future__ import annotations

import numpy as np

from envs.scene_spec import REGIONS, ObjectSpec
from envs.tasks.base import (
    BLOCK_COLOURS,
    TaskFamily,
    TaskInstance,
    make_bin,
    make_block,
    make_bowl,
    make_plate,
    place_objects,
)


def _colours(rng: np.random.Generator, n: int, exclude: tuple[str, ...] = ()) -> list[str]:
    pool = [c for c in BLOCK_COLOURS if c not in exclude]
    return [str(c) for c in rng.choice(pool, size=n, replace=False)]


def _blocks(rng: np.random.Generator, n: int, exclude: tuple[str, ...] = ()) -> list[ObjectSpec]:
    return [make_block(c, str(rng.choice(["small", "medium", "medium", "large"]))) for c in _colours(rng, n, exclude)]


class PickPlace(TaskFamily):
    name = "pick_place"
    description = "pick up a block and place it on a plate"
    templates = (
        "put the {block} on the {plate}",
        "place the {block} onto the {plate}",
        "pick up the {block} and put it on the {plate}",
        "move the {block} to the {plate}",
        "set the {block} down on the {plate}",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        blocks = _blocks(rng, int(rng.integers(2, 4)))
        plate = make_plate(_colours(rng, 1, tuple(b.colour for b in blocks))[0])
        target = blocks[int(rng.integers(len(blocks)))]
        scene = place_objects(rng, [*blocks, plate])
        goal = (("on", target.name, plate.name),)
        return TaskInstance(self.name, self.word(rng, block=target.name, plate=plate.name), scene, goal)


class Stack(TaskFamily):
    name = "stack"
    description = "stack one block on another"
    templates = (
        "stack the {top} on the {bottom}",
        "put the {top} on top of the {bottom}",
        "place the {top} onto the {bottom}",
        "pick up the {top} and stack it on the {bottom}",
        "stack the {top} on top of the {bottom}",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        blocks = _blocks(rng, int(rng.integers(2, 5)))
        top, bottom = (blocks[i] for i in rng.choice(len(blocks), size=2, replace=False))
        scene = place_objects(rng, blocks)
        return TaskInstance(
            self.name, self.word(rng, top=top.name, bottom=bottom.name), scene, (("on", top.name, bottom.name),)
        )


class Tower(TaskFamily):
    name = "tower"
    description = "build a tower of three blocks in a given order"
    templates = (
        "build a tower with the {bottom} at the bottom, then the {middle}, then the {top}",
        "stack the {middle} on the {bottom} and then the {top} on the {middle}",
        "make a tower of the {bottom}, the {middle} and the {top}, from the bottom up",
        "put the {middle} on the {bottom}, then put the {top} on the {middle}",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        blocks = _blocks(rng, int(rng.integers(3, 5)))
        bottom, middle, top = (blocks[i] for i in rng.choice(len(blocks), size=3, replace=False))
        scene = place_objects(rng, blocks)
        goal = (("on", middle.name, bottom.name), ("on", top.name, middle.name))
        slots = {"bottom": bottom.name, "middle": middle.name, "top": top.name}
        return TaskInstance(self.name, self.word(rng, **slots), scene, goal)


class PutInContainer(TaskFamily):
    name = "put_in_container"
    description = "put a block into a bowl"
    templates = (
        "put the {block} in the {bowl}",
        "drop the {block} into the {bowl}",
        "place the {block} inside the {bowl}",
        "pick up the {block} and put it in the {bowl}",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        bowls = [make_bowl(c) for c in _colours(rng, int(rng.integers(1, 3)))]
        blocks = _blocks(rng, int(rng.integers(1, 4)), tuple(b.colour for b in bowls))
        block, bowl = blocks[int(rng.integers(len(blocks)))], bowls[int(rng.integers(len(bowls)))]
        scene = place_objects(rng, [*blocks, *bowls])
        return TaskInstance(
            self.name, self.word(rng, block=block.name, bowl=bowl.name), scene, (("in", block.name, bowl.name),)
        )


class SortByColour(TaskFamily):
    name = "sort_by_colour"
    description = "put every block into the bowl of its colour"
    templates = (
        "sort the blocks into the bowls of the same colour",
        "put each block in the bowl that matches its colour",
        "sort the blocks by colour",
        "place every block into the bowl with the same colour as the block",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        colours = _colours(rng, 2)
        bowls = [make_bowl(c) for c in colours]
        n = int(rng.integers(2, 4))
        picks = [colours[i % 2] for i in range(n)]
        sizes = {c: [str(s) for s in rng.permutation(["medium", "small", "large"])] for c in colours}
        blocks = [make_block(c, sizes[c].pop()) for c in picks]
        scene = place_objects(rng, [*blocks, *bowls])
        goal = tuple(("in", b.name, f"{b.colour} bowl") for b in blocks)
        return TaskInstance(self.name, self.word(rng), scene, goal)


class PushToRegion(TaskFamily):
    name = "push_to_region"
    description = "push a block to a named side of the table"
    templates = (
        "push the {block} to the {region} of the table",
        "slide the {block} to the {region} of the table",
        "push the {block} over to the {region}",
        "nudge the {block} to the {region} of the table",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        region = str(rng.choice(sorted(REGIONS)))
        blocks = _blocks(rng, 2)
        target, other = blocks
        x, y = float(rng.uniform(0.47, 0.55)), float(rng.uniform(-0.07, 0.07))
        # The distractor sits out of the way: on the side away from the region.
        away = {"left side": (x, y - 0.14), "right side": (x, y + 0.14), "front": (x + 0.12, y), "back": (x - 0.1, y)}
        ox, oy = away[region]
        if region in ("front", "back"):
            oy += float(rng.choice([-1.0, 1.0])) * 0.12
        scene = place_objects(rng, blocks, fixed={target.name: (x, y), other.name: (ox, oy)})
        goal = (("in_region", target.name, region),)
        return TaskInstance(self.name, self.word(rng, block=target.name, region=region), scene, goal)


RELATIONS = {"left of": (0.0, 1.0), "right of": (0.0, -1.0), "in front of": (-1.0, 0.0), "behind": (1.0, 0.0)}


class SpatialReference(TaskFamily):
    name = "spatial_reference"
    description = "put the block that stands in a given relation to a bowl into that bowl"
    templates = (
        "put the block {relation} the {bowl} in the {bowl}",
        "pick up the block that is {relation} the {bowl} and drop it in the {bowl}",
        "the block {relation} the {bowl} goes into the {bowl}",
        "move the block {relation} the {bowl} into it",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        relation = str(rng.choice(sorted(RELATIONS)))
        dx, dy = RELATIONS[relation]
        bowl = make_bowl(_colours(rng, 1)[0])
        blocks = _blocks(rng, int(rng.integers(2, 4)), (bowl.colour,))
        bx, by = 0.52 - 0.04 * dx, -0.10 * dy
        fixed = {bowl.name: (bx, by), blocks[0].name: (bx + dx * 0.15, by + dy * 0.15)}
        # The others stand on the opposite side, so the relation picks out exactly one block.
        for i, other in enumerate(blocks[1:]):
            side = -0.15
            spread = (i - 0.5 * (len(blocks) - 2)) * 0.115
            fixed[other.name] = (bx + dx * side + abs(dy) * spread, by + dy * side + abs(dx) * spread)
        scene = place_objects(rng, [*blocks, bowl], fixed=fixed)
        goal = (("in", blocks[0].name, bowl.name),)
        return TaskInstance(self.name, self.word(rng, relation=relation, bowl=bowl.name), scene, goal)


class ClearTable(TaskFamily):
    name = "clear_table"
    description = "long horizon: put every block into the bin"
    templates = (
        "clear the table into the bin",
        "put all the blocks in the bin",
        "tidy up the table by putting every block into the bin",
        "move every block on the table into the bin",
    )

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        blocks = _blocks(rng, int(rng.integers(2, 5)))
        box = make_bin()
        side = float(rng.choice([-1.0, 1.0]))
        fixed = {box.name: (float(rng.uniform(0.5, 0.58)), side * 0.19)}
        scene = place_objects(rng, [*blocks, box], fixed=fixed)
        goal = tuple(("in", b.name, box.name) for b in blocks)
        return TaskInstance(self.name, self.word(rng), scene, goal)


FAMILIES: dict[str, TaskFamily] = {
    f.name: f
    for f in (
        PickPlace(),
        Stack(),
        Tower(),
        PutInContainer(),
        SortByColour(),
        PushToRegion(),
        SpatialReference(),
        ClearTable(),
    )
}
