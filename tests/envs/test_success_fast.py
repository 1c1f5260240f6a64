"""The env's per-step success check (:class:`envs.tasks.predicates.GoalCheck`) gives the verdict of the plain
evaluation ``task.success(world_state())`` along real trajectories of every task family: goals reached,
blocks knocked over by the arm or flipped, the subject in the gripper, goals that name unknown things."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import envs  # noqa: F401 - registers the envs
from envs.scene_spec import CONTAINER_BASE_THICKNESS, REGIONS, SceneSpec
from envs.tabletop.scene import body_name
from envs.tasks import FAMILIES, TaskInstance, WorldState
from envs.tasks.base import make_bin, make_block, make_bowl, make_plate
from envs.tasks.predicates import GoalCheck, half_extents, resting_poses

STEPS = 30  # per phase: wander, goal reached and settling, wander again


def _make() -> gym.Env:
    return gym.make("embodied/Tabletop-v0", modalities=(), terminate_on_success=False, max_steps=10_000)


def _pose_lists(u, task: TaskInstance) -> tuple[list[list[float]], list[list[float]]]:
    """The props' body origins and rotations, in scene order, as the env reads them."""
    rows = [u.model.body(body_name(n)).id for n in task.scene.names]
    return u.data.xpos[rows].tolist(), u.data.xmat[rows].tolist()


def _reach_goal(u, task: TaskInstance) -> None:
    """Teleport each goal atom's subject where the atom holds (the physics then settles it, or not)."""
    for _, subject, target in task.goal:
        if target in REGIONS:
            x0, x1, y0, y1 = REGIONS[target]
            u.set_object_pose(subject, ((x0 + x1) / 2, (y0 + y1) / 2, 0.0))
            continue
        t = u.world_state().get(target)
        lift = {"block": t.spec.height, "plate": t.spec.height}.get(t.spec.kind, CONTAINER_BASE_THICKNESS)
        u.set_object_pose(subject, (t.pos[0], t.pos[1], t.pos[2] + lift + 0.002))


def _compare(env: gym.Env, action: np.ndarray, verdicts: Counter[bool]) -> None:
    u = env.unwrapped
    _, reward, _, _, info = env.step(action)
    world = u.world_state()
    plain = u.task.success(world)
    assert info["success"] is plain and reward == float(plain), (u.task.goal, world)
    verdicts[plain] += 1
    # Whoever the gripper holds: a held subject fails every atom it is in; GoalCheck asks only at the end.
    check = GoalCheck.compile(u.task.scene.objects, u.task.goal)
    assert check is not None
    origins, rots = _pose_lists(u, u.task)
    for held in (None, *{atom[1] for atom in u.task.goal}):
        expected = u.task.success(WorldState(world.objects, held))
        assert check(origins, rots, lambda held=held: held) is expected, (u.task.goal, held, world)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_step_success_is_the_plain_evaluation_along_trajectories(family):
    env = _make()
    verdicts: Counter[bool] = Counter()
    try:
        for seed in (0, 1):
            env.unwrapped.task_name = family
            env.reset(seed=seed)
            rng = np.random.default_rng(seed)
            for _ in range(STEPS):  # the arm wanders and may knock props over
                _compare(env, rng.uniform(-1.0, 1.0, 5), verdicts)
            _reach_goal(env.unwrapped, env.unwrapped.task)
            for _ in range(STEPS):  # still: the goal holds once the props settle
                _compare(env, np.zeros(5), verdicts)
            for _ in range(STEPS):  # the arm may knock the props off their goal again
                _compare(env, rng.uniform(-1.0, 1.0, 5), verdicts)
    finally:
        env.close()
    assert verdicts[True] and verdicts[False], verdicts  # both verdicts were compared


def test_a_flipped_block_on_its_base_and_one_on_its_side():
    env = _make()
    try:
        env.unwrapped.task_name = "stack"
        env.reset(seed=0)
        u = env.unwrapped
        top, base = u.task.goal[0][1:]
        _turn(u, top, [0.0, 1.0, 0.0, 0.0])  # upside down
        b = u.world_state().get(base)
        u.set_object_pose(top, (b.pos[0], b.pos[1], b.top + 0.002))
        verdicts: Counter[bool] = Counter()
        for _ in range(STEPS):
            _compare(env, np.zeros(5), verdicts)
        assert verdicts[True], "the flipped block never counted as on its base"
        _turn(u, top, [np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0])  # a quarter turn more: on its side
        u.set_object_pose(top, (b.pos[0], b.pos[1], b.top + 0.002))
        for _ in range(STEPS):
            _compare(env, np.zeros(5), verdicts)
    finally:
        env.close()


def test_a_goal_naming_unknown_things_raises_as_the_plain_evaluation_does():
    env = _make()
    try:
        env.reset(seed=0)
        u = env.unwrapped
        names = u.task.scene.names
        for goal, match in (
            ((("on", "ghost block", names[0]),), "no object 'ghost block'"),
            ((("under", names[0], names[1]),), "unknown predicate 'under'"),
            ((("in_region", names[0], "ceiling"),), "unknown region 'ceiling'"),
        ):
            assert GoalCheck.compile(u.task.scene.objects, goal) is None
            u.with_task(replace(u.task, goal=goal))
            with pytest.raises(KeyError, match=match):
                env.step(np.zeros(5))
    finally:
        env.close()


def test_every_atom_on_props_placed_near_each_other_in_any_pose():
    """Synthetic poses around the boundaries of every predicate, each pair of props and each region."""
    specs = (make_block("red"), make_block("blue", "small"), make_bowl("green"), make_plate("yellow"), make_bin())
    names = [s.name for s in specs]
    atoms = [(p, a, b) for p in ("on", "in") for a in names for b in names]
    atoms += [("in_region", a, r) for a in names for r in sorted(REGIONS)]
    rng = np.random.default_rng(0)
    verdicts: Counter[tuple[bool, str, str]] = Counter()
    for _ in range(300):
        origins, rots = _near_each_other(rng, len(specs))
        world = resting_poses(specs, origins, rots)
        headings = GoalCheck(specs, ())
        for k, spec in enumerate(specs):  # the same floats, bit for bit, as the world state's
            assert GoalCheck.pos(origins[k].tolist(), rots[k].tolist(), half_extents(spec)) == world[spec.name].pos
            assert headings.yaw(k, rots[k].tolist()) == world[spec.name].yaw
        for atom in atoms:
            task = TaskInstance("any", "any", SceneSpec(specs), (atom,))
            check = GoalCheck.compile(specs, task.goal)
            assert check is not None
            for held in (None, atom[1]):
                expected = task.success(WorldState(world, held))
                verdicts[expected, atom[0], specs[names.index(atom[2])].kind if atom[2] in names else ""] += 1
                assert check(origins.tolist(), rots.tolist(), lambda held=held: held) is expected, (atom, held)
    # Each predicate on each support both held and failed (an "in" a block never holds).
    for predicate, kind in {key[1:] for key in verdicts}:
        assert verdicts[False, predicate, kind], (predicate, kind)
        assert verdicts[True, predicate, kind] or (predicate, kind) == ("in", "block"), (predicate, kind, verdicts)


def _near_each_other(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Body origins within a few cm of one spot (or of a region's centre), upright, flipped, on a side or anyhow."""
    centre = np.array([*rng.choice([np.array(v).reshape(2, 2).mean(axis=1) for v in REGIONS.values()]), 0.0])
    origins = centre + rng.normal(0.0, [0.03, 0.03, 0.0], (n, 3))
    origins[:, 2] = rng.choice([0.0, 0.006, 0.012, 0.035, 0.045, 0.055], n) + rng.normal(0.0, 0.004, n)
    rots = np.zeros((n, 9))
    for k in range(n):
        quat = rng.normal(size=4)
        kind = rng.integers(4)
        if kind < 3:  # turned about z, then upright, upside down or on its side
            yaw = rng.uniform(-np.pi, np.pi)
            quat = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
            flip = ([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [np.sqrt(0.5), 0.0, np.sqrt(0.5), 0.0])[kind]
            mujoco.mju_mulQuat(quat, quat.copy(), np.array(flip))
        mujoco.mju_quat2Mat(rots[k], quat / np.linalg.norm(quat))
    return origins, rots


def _turn(u, name: str, quat: list[float]) -> None:
    """Rotate a free prop in place by ``quat`` (test-only access to MuJoCo's state)."""
    m, d = u.model, u.data
    adr = m.jnt_qposadr[m.body(body_name(name)).jntadr[0]]
    turned = np.zeros(4)
    mujoco.mju_mulQuat(turned, d.qpos[adr + 3 : adr + 7].copy(), np.asarray(quat))
    d.qpos[adr + 3 : adr + 7] = turned
    mujoco.mj_forward(m, d)
