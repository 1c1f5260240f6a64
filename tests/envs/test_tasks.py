"""Task suite: seeded sampling, templates, and each success predicate checked both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.errors import UnknownTaskError
from envs.scene_spec import REGIONS, WORKSPACE_X, WORKSPACE_Y, ObjectSpec
from envs.tasks import FAMILIES, ObjectState, WorldState, get_family, holds, sample_task

FAMILY_NAMES = sorted(FAMILIES)


def test_the_suite_has_the_seven_kinds_of_task():
    assert set(FAMILY_NAMES) == {
        "pick_place",
        "stack",
        "tower",
        "put_in_container",
        "sort_by_colour",
        "push_to_region",
        "spatial_reference",
        "clear_table",
    }
    assert all(len(f.templates) >= 3 for f in FAMILIES.values())


def test_unknown_family_lists_valid_names():
    with pytest.raises(UnknownTaskError, match="valid tasks are: clear_table, pick_place"):
        get_family("fly")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_sampling_is_deterministic_and_scenes_are_sane(family):
    seen_instructions = set()
    for seed in range(40):
        a, b = sample_task(family, seed), sample_task(family, seed)
        assert a == b
        seen_instructions.add(a.instruction)
        names = a.scene.names
        assert len(set(names)) == len(names)
        for atom in a.goal:
            assert all(arg in names or arg in REGIONS for arg in atom[1:]), atom
        objs = a.scene.objects
        for i, o in enumerate(objs):
            margin = 0.08
            assert WORKSPACE_X[0] - margin <= o.pos[0] <= WORKSPACE_X[1] + margin, o
            assert WORKSPACE_Y[0] - margin <= o.pos[1] <= WORKSPACE_Y[1] + margin, o
            for p in objs[i + 1 :]:
                assert math.dist(o.pos, p.pos) >= o.footprint_radius + p.footprint_radius, (o.name, p.name)
    assert len(seen_instructions) >= len(FAMILIES[family].templates)  # every phrasing gets used


def _state(*objs: tuple[ObjectSpec, tuple[float, float, float]], held: str | None = None) -> WorldState:
    return WorldState({spec.name: ObjectState(spec, pos, 0.0) for spec, pos in objs}, held)


RED = ObjectSpec("red block", "block", "red", 0.045, (0, 0))
BLUE = ObjectSpec("blue block", "block", "blue", 0.045, (0, 0))
BOWL = ObjectSpec("green bowl", "bowl", "green", 0.075, (0, 0))
PLATE = ObjectSpec("yellow plate", "plate", "yellow", 0.08, (0, 0))
BIN = ObjectSpec("bin", "bin", "grey", 0.1, (0, 0))


@pytest.mark.parametrize(
    ("red_pos", "held", "expected"),
    [
        ((0.5, 0.0, 0.045), None, True),
        ((0.51, 0.01, 0.046), None, True),
        ((0.5, 0.0, 0.045), "red block", False),  # still in the hand
        ((0.56, 0.0, 0.045), None, False),  # beside, in the air
        ((0.5, 0.0, 0.10), None, False),  # hovering above
        ((0.6, 0.0, 0.0), None, False),  # on the table
    ],
)
def test_on_block(red_pos, held, expected):
    state = _state((RED, red_pos), (BLUE, (0.5, 0.0, 0.0)), held=held)
    assert holds(state, ("on", "red block", "blue block")) is expected


@pytest.mark.parametrize(
    ("container", "pos", "expected"),
    [
        (BOWL, (0.5, 0.0, 0.006), True),
        (BOWL, (0.55, 0.02, 0.006), True),
        (BOWL, (0.62, 0.0, 0.0), False),
        (BOWL, (0.565, 0.0, 0.045), False),  # perched on the rim: bottom at rim height, centre over the wall
        (BOWL, (0.5, 0.0, 0.08), False),
        (BIN, (0.55, 0.08, 0.008), True),
        (BIN, (0.5, 0.2, 0.0), False),
        (PLATE, (0.5, 0.0, 0.012), True),
        (PLATE, (0.6, 0.0, 0.0), False),
    ],
)
def test_in_container(container, pos, expected):
    state = _state((RED, pos), (container, (0.5, 0.0, 0.0)))
    assert holds(state, ("in", "red block", container.name)) is expected


@pytest.mark.parametrize(
    ("pos", "region", "expected"),
    [
        ((0.5, 0.25, 0.0), "left side", True),
        ((0.5, -0.25, 0.0), "left side", False),
        ((0.5, -0.25, 0.0), "right side", True),
        ((0.35, 0.0, 0.0), "front", True),
        ((0.7, 0.0, 0.0), "back", True),
        ((0.7, 0.0, 0.1), "back", False),  # lifted off the table
    ],
)
def test_in_region(pos, region, expected):
    assert holds(_state((RED, pos)), ("in_region", "red block", region)) is expected


def test_unknown_predicate_and_object_are_named():
    state = _state((RED, (0.5, 0.0, 0.0)))
    with pytest.raises(KeyError, match="predicates are"):
        holds(state, ("under", "red block", "red block"))
    with pytest.raises(KeyError, match="objects are"):
        holds(state, ("on", "red block", "pink block"))


def _satisfy(env) -> None:
    """Teleport props so the task's goal holds (containers share their inside, regions get centres)."""
    u = env.unwrapped
    fill: dict[str, int] = {}
    for atom in u.task.goal:
        pred, a, b = atom
        if pred == "in_region":
            x0, x1, y0, y1 = REGIONS[b]
            u.set_object_pose(a, ((x0 + x1) / 2, (y0 + y1) / 2, 0.001))
            continue
        base = u.world_state().get(b)
        k = fill.get(b, 0)
        fill[b] = k + 1
        if pred == "on":
            u.set_object_pose(a, (base.pos[0], base.pos[1], base.top + 0.002))
        else:
            dx, dy = [(0, 0), (0.04, 0.0), (-0.04, 0.0), (0.0, 0.06), (0.0, -0.06)][k]
            u.set_object_pose(a, (base.pos[0] + dx, base.pos[1] + dy, base.pos[2] + 0.01))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_success_predicate_both_ways_in_simulation(family, make_env):
    env = make_env(task=family, seed=5, modalities=(), terminate_on_success=False)
    _, info = env.reset()
    assert info["success"] is False  # a fresh scene is not already solved
    _satisfy(env)
    for _ in range(10):
        _, reward, _, _, info = env.step(np.array([0, 0, 0, 0, -1.0]))
    assert info["success"] is True, (info["instruction"], env.unwrapped.world_state())
    assert reward == 1.0
