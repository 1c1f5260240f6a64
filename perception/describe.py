"""The text observation: a scene graph as one short, deterministic paragraph for an LLM prompt.

Example::

    objects (x forward, y left, z up; cm): blue block at (45, 10, 2); red block at (45, 10, 7);
    green bowl at (52, -12, 2). red block on blue block. gripper at (28, 0, 38) cm, open,
    holding nothing.

Objects are listed by name with their centre rounded to whole centimetres; an object the
perceiver remembers behind an occluder (``scene.meta["remembered"]``) is marked ``(hidden)``.
Only the ``on`` and ``in`` relations are spelled out (left/right follow from the ``y``
coordinate, and listing every pair would grow quadratically with the number of objects).
"""

from __future__ import annotations

from perception.scene_graph import RobotState, SceneGraph

GRIPPER_CLOSED_WIDTH = 0.005  # metres


def _cm(v: float) -> int:
    """Whole centimetres, never ``-0``."""
    return round(v * 100) + 0


def _xyz(p: tuple[float, float, float]) -> str:
    return f"({_cm(p[0])}, {_cm(p[1])}, {_cm(p[2])})"


def _robot(robot: RobotState) -> str:
    if robot.holding is not None:
        state = f"holding {robot.holding}"
    elif robot.gripper_width <= GRIPPER_CLOSED_WIDTH:
        state = "closed, holding nothing"
    elif robot.gripper_open:
        state = "open, holding nothing"
    else:
        state = f"{robot.gripper_width * 100:.0f} cm open, holding nothing"
    return f"gripper at {_xyz(robot.ee_position)} cm, {state}."


def describe(scene: SceneGraph) -> str:
    """One short paragraph: objects with positions (cm), on/in relations, the gripper's state.

    Args:
        scene: the scene graph (any perceiver's).

    Returns:
        The text observation, e.g. ``"objects (x forward, y left, z up; cm): red block at (52, -3, 2). ..."``.

    The same scene always gives the same text (objects sorted by name, relations sorted).
    """
    if scene.objects:
        hidden = set(scene.meta.get("remembered", ()))
        objects = "; ".join(
            f"{o.name} at {_xyz(o.position)}{' (hidden)' if o.name in hidden else ''}"
            for o in sorted(scene.objects, key=lambda o: o.name)
        )
        parts = [f"objects (x forward, y left, z up; cm): {objects}."]
    else:
        parts = ["no objects visible."]
    support = sorted(f"{r.subject} {r.predicate} {r.object}" for r in scene.relations if r.predicate in ("on", "in"))
    if support:
        parts.append("; ".join(support) + ".")
    if scene.robot is not None:
        parts.append(_robot(scene.robot))
    return " ".join(parts)
