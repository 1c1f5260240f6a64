"""Ground-truth world state and the goal predicates that task success is judged by.

A goal is a conjunction of ground atoms such as ``("on", "red block", "blue block")``,
``("in", "red block", "green bowl")`` or ``("in_region", "red block", "left side")``. The same
atoms are what a planner reasons about; here they are checked against the simulator's ground
truth (never against perception).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from envs import scene_spec
from envs.scene_spec import BIN_HALF_EXTENTS, REGIONS, ObjectSpec
from envs.tasks import relations

Atom = tuple[str, ...]

#: How far (metres) a block in a region may be above the table (on and in: :mod:`envs.tasks.relations`).
TABLE_Z_TOLERANCE = 0.01
#: A block's x axis steeper than this (sine of its tilt) gives no heading; its y axis does.
LEVEL_AXIS_TILT = 0.7


@dataclass(frozen=True)
class ObjectState:
    """Where one prop is: ``pos`` is the centre of its bottom face, ``yaw`` its heading."""

    spec: ObjectSpec
    pos: tuple[float, float, float]
    yaw: float

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def top(self) -> float:
        return self.pos[2] + self.spec.height


@dataclass(frozen=True)
class WorldState:
    """Ground truth at one instant: every prop's pose and what the gripper holds."""

    objects: dict[str, ObjectState]
    held: str | None = None

    def get(self, name: str) -> ObjectState:
        try:
            return self.objects[name]
        except KeyError:
            raise KeyError(f"no object {name!r}; objects are {sorted(self.objects)}") from None


class RestingPoses:
    """Each prop's resting pose from its body frame, whichever face it rests on (built once per scene).

    Called with ``origins`` (n×3: the centres of the props' own bottom faces) and ``rots`` (n×9,
    row-major body-to-world rotations). A block knocked over or flipped upside down rests on another
    face: its own bottom face is then beside or above its centre. Its ``pos`` is the point below its
    geometric centre at the height of its lowest point, and its ``yaw`` the heading of a level side
    axis (a block's footprint is square: any level axis gives the same footprint). An upright prop
    gets its own bottom-face centre and heading back.
    """

    def __init__(self, specs: Sequence[ObjectSpec]) -> None:
        self.specs = tuple(specs)
        self._half = np.array([half_extents(spec) for spec in self.specs]).reshape(-1, 3)
        self._is_block = np.array([spec.kind == "block" for spec in self.specs], dtype=bool)

    def __call__(self, origins: np.ndarray, rots: np.ndarray) -> dict[str, ObjectState]:
        r = np.asarray(rots, dtype=float).reshape(-1, 9)
        half_height = self._half[:, 2:]
        centres = np.asarray(origins, dtype=float) + r[:, 2::3] * half_height  # + the body z axis × h/2
        lowest = centres[:, 2] - (np.abs(r[:, 6:9]) * self._half).sum(axis=1)
        use_y = self._is_block & (np.abs(r[:, 6]) >= LEVEL_AXIS_TILT)  # x axis steep: head by y
        yaws = np.arctan2(np.where(use_y, r[:, 4], r[:, 3]), np.where(use_y, r[:, 1], r[:, 0]))
        return {
            spec.name: ObjectState(spec, (c[0], c[1], z), yaw)
            for spec, c, z, yaw in zip(self.specs, centres.tolist(), lowest.tolist(), yaws.tolist(), strict=True)
        }


def resting_poses(specs: Sequence[ObjectSpec], origins: np.ndarray, rots: np.ndarray) -> dict[str, ObjectState]:
    """:class:`RestingPoses` of ``specs``, once (an env keeps one per scene instead)."""
    return RestingPoses(specs)(origins, rots)


def half_extents(spec: ObjectSpec) -> tuple[float, float, float]:
    """Half the size of a prop's bounding box along its own x, y and z axes (metres)."""
    if spec.kind == "bin":
        return (BIN_HALF_EXTENTS[0], BIN_HALF_EXTENTS[1], spec.height / 2)
    radius = spec.size / 2 if spec.kind == "block" else spec.size
    return (radius, radius, spec.height / 2)


def on(state: WorldState, a: str, b: str) -> bool:
    """``a`` rests on top of ``b`` (a block or a plate) and is not held (:mod:`envs.tasks.relations`)."""
    top, base = state.get(a), state.get(b)
    if state.held == a or a == b:
        return False
    if base.spec.kind == "block":
        return relations.on_block(top.pos, top.pos[2], base.pos, base.yaw, base.spec.size, base.top)
    if base.spec.kind == "plate":
        return relations.on_plate(top.pos, top.pos[2], base.pos, base.spec.size, base.pos[2], base.top)
    return inside_container(state, a, b)


def inside_container(state: WorldState, a: str, c: str) -> bool:
    """``a`` is inside bowl/bin/plate ``c`` (horizontally within its walls, below its rim) and not held."""
    obj, box = state.get(a), state.get(c)
    if state.held == a or a == c:
        return False
    kind = box.spec.kind
    if kind == "plate":
        return on(state, a, c)
    if kind == "bowl":
        half_width = obj.spec.size / 2 if obj.spec.kind == "block" else obj.spec.size
        return relations.in_bowl(obj.pos, obj.pos[2], half_width, box.pos, box.spec.size, box.pos[2], box.top)
    if kind == "bin":
        return relations.in_bin(obj.pos, obj.pos[2], box.pos, box.yaw, BIN_HALF_EXTENTS, box.pos[2], box.top)
    return False


def in_region(state: WorldState, a: str, region: str) -> bool:
    """``a`` rests on the table inside the named region (:func:`envs.scene_spec.in_region`) and is not held."""
    obj = state.get(a)
    inside = scene_spec.in_region(obj.pos, region)  # first, so an unknown region always raises
    return inside and state.held != a and abs(obj.pos[2]) <= TABLE_Z_TOLERANCE


PREDICATES: dict[str, Callable[[WorldState, str, str], bool]] = {
    "on": on,
    "in": inside_container,
    "in_region": in_region,
}


def holds(state: WorldState, atom: Atom) -> bool:
    """Whether one goal atom holds; unknown predicates raise with the valid names."""
    name, *args = atom
    try:
        pred = PREDICATES[name]
    except KeyError:
        raise KeyError(f"unknown predicate {name!r}; predicates are {sorted(PREDICATES)}") from None
    return pred(state, *args)


#: The predicates :class:`GoalCheck` judges, as :data:`PREDICATES` names them when it is not changed.
_JUDGED: dict[str, Callable[[WorldState, str, str], bool]] = dict(PREDICATES)
#: A compiled atom: what to test, the subject's and the support's index and, for a bowl, the subject's
#: half width, for a region its name.
_Check = tuple[str, int, int, float | str]
#: A resting pose's ``pos`` (:class:`ObjectState`): the centre of the face it rests on.
Pos = tuple[float, float, float]


class GoalCheck:
    """A goal judged from a simulator's pose arrays without building a :class:`WorldState`.

    The verdict is ``all(holds(state, atom) for atom in goal)`` over the state that :class:`RestingPoses`
    and ``held()`` give; an env calls it every step (the reward), so it does only what that verdict needs:

    * the resting pose of the objects the atoms name only (an atom looks at its two objects, nothing
      else), with the float operations of :class:`RestingPoses` in the same order, hence the same bits;
    * a support's heading only where its height test passed (the heading tests the footprint, which
      counts only then), with ``np.arctan2`` as :class:`RestingPoses` (``math.atan2`` can differ in the
      last bit), remembered while the rotation stays the same (a fixed bin's);
    * ``held()`` only once every atom holds geometrically: every predicate is false for a held subject,
      and the grip is the only thing the objects' poses leave open.

    :meth:`compile` returns None for a goal that the plain path would judge otherwise (an unknown
    predicate, object or region, or a predicate replaced in :data:`PREDICATES`): the caller then builds
    the :class:`WorldState` and calls :func:`holds`, which raises as before.
    """

    def __init__(self, specs: Sequence[ObjectSpec], checks: Sequence[_Check]) -> None:
        self.specs = tuple(specs)
        self._checks = tuple(checks)
        self._subjects = frozenset(self.specs[a].name for _, a, _, _ in self._checks)
        needed = sorted({k for _, a, b, _ in self._checks for k in (a, b) if k >= 0})
        self._needed = tuple((k, half_extents(self.specs[k])) for k in needed)
        self._last_yaw: dict[int, tuple[float, float, float]] = {}

    @classmethod
    def compile(cls, specs: Sequence[ObjectSpec], goal: Sequence[Atom]) -> GoalCheck | None:
        """The check of ``goal`` in a scene of ``specs`` (in the order of the pose arrays), or None."""
        index = {spec.name: k for k, spec in enumerate(specs)}
        checks = [_compile_atom(atom, specs, index) for atom in goal]
        return None if any(c is None for c in checks) else cls(specs, [c for c in checks if c is not None])

    def __call__(
        self, origins: Sequence[Sequence[float]], rots: Sequence[Sequence[float]], held: Callable[[], str | None]
    ) -> bool:
        """Whether the goal holds: ``origins`` (n×3) and ``rots`` (n×9) as :class:`RestingPoses` takes them
        (lists of floats are quickest), ``held`` the name of the prop in the gripper, asked at most once."""
        poses = {k: self.pos(origins[k], rots[k], half) for k, half in self._needed}
        for op, a, b, arg in self._checks:
            p = poses[a]
            if op == "region":
                if not (scene_spec.in_region(p, str(arg)) and abs(p[2]) <= TABLE_Z_TOLERANCE):
                    return False
            elif op == "false" or not self._supported(op, p, b, poses[b], arg, rots[b]):
                return False
        return held() not in self._subjects

    def _supported(self, op: str, p: Pos, b: int, q: Pos, arg: float | str, rot: Sequence[float]) -> bool:
        """What :func:`on` / :func:`inside_container` test for a subject at ``p`` and a support ``b`` at ``q``."""
        spec = self.specs[b]
        top = q[2] + spec.height
        if op == "on_block":
            if not abs(p[2] - top) <= relations.Z_TOLERANCE:  # on_block's height test, before the heading
                return False
            return relations.on_block(p, p[2], q, self.yaw(b, rot), spec.size, top)
        if op == "on_plate":
            return relations.on_plate(p, p[2], q, spec.size, q[2], top)
        if op == "in_bowl":
            return relations.in_bowl(p, p[2], float(arg), q, spec.size, q[2], top)
        if not q[2] - relations.FLOOR_TOLERANCE <= p[2] <= top:  # in_bin's height test, before the heading
            return False
        return relations.in_bin(p, p[2], q, self.yaw(b, rot), BIN_HALF_EXTENTS, q[2], top)

    @staticmethod
    def pos(origin: Sequence[float], rot: Sequence[float], half: tuple[float, float, float]) -> Pos:
        """:class:`RestingPoses`' ``pos`` of one prop (half extents ``half``), the same floats."""
        hx, hy, hz = half
        lowest = origin[2] + rot[8] * hz - (abs(rot[6]) * hx + abs(rot[7]) * hy + abs(rot[8]) * hz)
        return (origin[0] + rot[2] * hz, origin[1] + rot[5] * hz, lowest)

    def yaw(self, k: int, rot: Sequence[float]) -> float:
        """:class:`RestingPoses`' ``yaw`` of prop ``k``, the same float."""
        use_y = self.specs[k].kind == "block" and abs(rot[6]) >= LEVEL_AXIS_TILT
        y, x = (rot[4], rot[1]) if use_y else (rot[3], rot[0])
        last = self._last_yaw.get(k)
        # Equal floats of equal sign are the same bits (NaN is never equal): the same arctan2.
        if (
            last is not None
            and last[0] == y
            and last[1] == x
            and _sign(y) == _sign(last[0])
            and _sign(x) == _sign(last[1])
        ):
            return last[2]
        yaw = float(np.arctan2(y, x))
        self._last_yaw[k] = (y, x, yaw)
        return yaw


def _sign(v: float) -> float:
    return math.copysign(1.0, v)


def _compile_atom(atom: Atom, specs: Sequence[ObjectSpec], index: dict[str, int]) -> _Check | None:
    """One atom as :class:`GoalCheck` tests it, or None where :func:`holds` would judge it otherwise."""
    name, *args = atom
    if len(args) != 2 or name not in _JUDGED or PREDICATES.get(name) is not _JUDGED[name] or args[0] not in index:
        return None
    a = index[args[0]]
    if name == "in_region":
        return ("region", a, -1, args[1]) if args[1] in REGIONS else None
    if args[1] not in index:
        return None
    b = index[args[1]]
    kind, subject = specs[b].kind, specs[a]
    if a == b:
        return ("false", a, b, 0.0)
    if kind == "block" and name == "on":
        return ("on_block", a, b, 0.0)
    if kind == "plate":
        return ("on_plate", a, b, 0.0)
    if kind == "bowl":
        return ("in_bowl", a, b, subject.size / 2 if subject.kind == "block" else subject.size)
    if kind == "bin":
        return ("in_bin", a, b, 0.0)
    return ("false", a, b, 0.0)  # "in" a block, or "on" something that is neither support nor container
