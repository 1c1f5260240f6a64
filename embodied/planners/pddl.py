"""The tabletop planning domain in PDDL, and a problem built from a perceived scene.

The operators mirror the primitive skills' preconditions and effects: ``pick`` (from the
table, off a block, out of a container) -> the ``pick`` skill; ``stack`` / ``put-on`` / ``put-in``
-> ``place``; ``push`` -> ``push``. :data:`SKILL_OF_ACTION` is that mapping; the classical planner
turns each plan step into one skill call with it. A push is only planned where nothing stands in
its path (``push-clear``, from :func:`policies.push.push_blockers`); otherwise the block is carried
(``pick`` then ``put-in-region``, the ``place`` skill with a region), so a push never shoves other
objects off the places earlier tasks put them.
"""

from __future__ import annotations

import re

from embodied.core.decision import Atom
from envs.scene_spec import REGIONS, TABLE_HEIGHT_TOLERANCE, in_region
from perception.scene_graph import SceneGraph
from policies.push import push_blockers

DOMAIN = """(define (domain tabletop)
  (:requirements :strips :typing)
  (:types thing region - object
          block support - thing
          plate container - support)
  (:predicates (on ?x - block ?y - thing) (in ?x - block ?c - container) (ontable ?x - block)
               (clear ?x - thing) (holding ?x - block) (handempty) (in_region ?x - block ?r - region)
               (push-clear ?x - block ?r - region))
  (:action pick :parameters (?x - block)
    :precondition (and (ontable ?x) (clear ?x) (handempty))
    :effect (and (holding ?x) (not (ontable ?x)) (not (handempty))))
  (:action unstack :parameters (?x - block ?y - thing)
    :precondition (and (on ?x ?y) (clear ?x) (handempty))
    :effect (and (holding ?x) (clear ?y) (not (on ?x ?y)) (not (handempty))))
  (:action take-out :parameters (?x - block ?c - container)
    :precondition (and (in ?x ?c) (clear ?x) (handempty))
    :effect (and (holding ?x) (not (in ?x ?c)) (not (handempty))))
  (:action stack :parameters (?x - block ?y - block)
    :precondition (and (holding ?x) (clear ?y))
    :effect (and (on ?x ?y) (clear ?x) (handempty) (not (holding ?x)) (not (clear ?y))))
  (:action put-on :parameters (?x - block ?p - plate)
    :precondition (and (holding ?x) (clear ?p))
    :effect (and (on ?x ?p) (clear ?x) (handempty) (not (holding ?x)) (not (clear ?p))))
  (:action put-in :parameters (?x - block ?c - container)
    :precondition (holding ?x)
    :effect (and (in ?x ?c) (clear ?x) (handempty) (not (holding ?x))))
  (:action put-down :parameters (?x - block)
    :precondition (holding ?x)
    :effect (and (ontable ?x) (clear ?x) (handempty) (not (holding ?x))))
  (:action push :parameters (?x - block ?r - region)
    :precondition (and (ontable ?x) (clear ?x) (handempty) (push-clear ?x ?r))
    :effect (in_region ?x ?r))
  (:action put-in-region :parameters (?x - block ?r - region)
    :precondition (holding ?x)
    :effect (and (in_region ?x ?r) (ontable ?x) (clear ?x) (handempty) (not (holding ?x))))
)
"""

#: PDDL action -> (skill name, {skill argument: index of the action's parameter}).
SKILL_OF_ACTION: dict[str, tuple[str, dict[str, int]]] = {
    "pick": ("pick", {"object": 0}),
    "unstack": ("pick", {"object": 0}),
    "take-out": ("pick", {"object": 0}),
    "stack": ("place", {"object": 0, "target": 1}),
    "put-on": ("place", {"object": 0, "target": 1}),
    "put-in": ("place", {"object": 0, "target": 1}),
    "put-down": ("place", {"object": 0, "target": -1}),  # set aside in the front region
    "push": ("push", {"object": 0, "region": 1}),
    "put-in-region": ("place", {"object": 0, "target": 1}),  # carried: something is in the push's way
}
TABLE_TARGET = "front"  # where a block that is in the way gets set down


def symbol(name: str) -> str:
    """A PDDL-safe identifier for an object or region name ("large red block" -> "large_red_block")."""
    return "o_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _type_of(shape: str) -> str:
    return {"block": "block", "plate": "plate", "bowl": "container", "bin": "container"}[shape]


def problem(scene: SceneGraph, goal: tuple[Atom, ...]) -> tuple[str, dict[str, str]]:
    """PDDL problem text for reaching ``goal`` from ``scene``, and the symbol -> name table."""
    names = {symbol(o.name): o.name for o in scene.objects}
    names.update({symbol(r): r for r in REGIONS})
    objects = [f"{symbol(o.name)} - {_type_of(o.shape)}" for o in scene.objects]
    objects += [f"{symbol(r)} - region" for r in REGIONS]
    init = ["(handempty)"] if scene.robot is None or scene.robot.holding is None else []
    below: set[str] = set()
    for rel in scene.relations:
        if rel.predicate in ("on", "in"):
            init.append(f"({rel.predicate} {symbol(rel.subject)} {symbol(rel.object)})")
            if rel.predicate == "on":
                below.add(rel.object)
    resting = {r.subject for r in scene.relations if r.predicate in ("on", "in")}
    for o in scene.objects:
        held = scene.robot is not None and scene.robot.holding == o.name
        if held:
            init.append(f"(holding {symbol(o.name)})")
        elif o.shape == "block" and o.name not in resting:
            init.append(f"(ontable {symbol(o.name)})")
        if o.name not in below and not held:
            init.append(f"(clear {symbol(o.name)})")
    for o in scene.objects:
        # Only a block resting on the table is in a region (as verification requires).
        if o.shape == "block" and o.name not in resting and abs(o.bottom) <= TABLE_HEIGHT_TOLERANCE:
            init += [f"(in_region {symbol(o.name)} {symbol(r)})" for r in REGIONS if in_region(o.position, r)]
            init += [
                f"(push-clear {symbol(o.name)} {symbol(r)})" for r in REGIONS if not push_blockers(scene, o.name, r)
            ]
    goals = [f"({a[0]} {symbol(a[1])} {symbol(a[2])})" for a in goal]
    text = (
        "(define (problem scene) (:domain tabletop)\n"
        f"  (:objects {' '.join(objects)})\n"
        f"  (:init {' '.join(init)})\n"
        f"  (:goal (and {' '.join(goals)})))\n"
    )
    return text, names
