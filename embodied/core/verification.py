"""Checking goal atoms against perception (not ground truth): what the agent believes is done."""

from __future__ import annotations

from embodied.core.decision import Atom
from envs.scene_spec import TABLE_HEIGHT_TOLERANCE, in_region
from perception.scene_graph import Relation, SceneGraph
from policies.lookup import kind_of

STACKED_IN_CONTAINER = 0.03  # metres above a container's floor: a block there stands on another


def atom_holds(scene: SceneGraph, atom: Atom) -> bool:
    """Whether ``atom`` holds in the perceived ``scene`` (unknown objects or predicates: False)."""
    if len(atom) != 3:
        return False
    pred, subject, obj = atom
    if scene.robot is not None and scene.robot.holding == subject:
        return False
    if pred == "in" and scene.find(subject) is None:
        return hidden_in(scene, obj) or merged_in(scene, subject, obj)
    if pred in ("on", "in"):
        return Relation(subject, pred, obj) in scene.relations
    if pred == "in_region":
        thing = scene.find(subject)
        on_table = thing is not None and abs(thing.bottom) <= TABLE_HEIGHT_TOLERANCE
        return on_table and thing is not None and in_region(thing.position, obj)
    return False


def hidden_in(scene: SceneGraph, container: str) -> bool:
    """Whether a block in ``container`` rests a block's height above its floor: something unseen is under it.

    A block dropped into a bowl or the bin can land on one already there and hide it from every
    camera; the one on top then stands too high to be on the container's floor.
    """
    box = scene.find(container)
    if box is None:
        return False
    return any(
        Relation(o.name, "in", container) in scene.relations and o.bottom > box.bottom + STACKED_IN_CONTAINER
        for o in scene.objects
    )


def merged_in(scene: SceneGraph, subject: str, container: str) -> bool:
    """Whether a block of ``subject``'s colour and shape is in ``container``: the two may touch and look like one.

    From pixels, two same-coloured blocks side by side in a container form one blob; when one is
    out of sight and its look-alike is in that container, the unseen one is taken to be there too.
    """
    return any(
        kind_of(o.name) == kind_of(subject) and Relation(o.name, "in", container) in scene.relations
        for o in scene.objects
    )


def unmet(scene: SceneGraph, goal: tuple[Atom, ...]) -> tuple[Atom, ...]:
    """The atoms of ``goal`` that do not hold in ``scene``."""
    return tuple(a for a in goal if not atom_holds(scene, a))


def format_atom(atom: Atom) -> str:
    """``on(red block, blue block)``."""
    return f"{atom[0]}({', '.join(atom[1:])})"
