"""compute_relations() on hand-built scenes."""

from __future__ import annotations

from perception.relations import compute_relations
from perception.scene_graph import DetectedObject


def _block(name: str, x: float, y: float, z: float = 0.0, size: float = 0.045) -> DetectedObject:
    return DetectedObject(name, name.split()[-2], "block", (x, y, z + size / 2), (size, size, size))


def _container(name: str, shape: str, x: float, y: float) -> DetectedObject:
    size = {"bowl": (0.15, 0.15, 0.045), "plate": (0.16, 0.16, 0.012), "bin": (0.2, 0.26, 0.12)}[shape]
    return DetectedObject(name, "grey" if shape == "bin" else name.split()[0], shape, (x, y, size[2] / 2), size)


def _triples(objects: tuple[DetectedObject, ...], holding: str | None = None) -> set[tuple[str, str, str]]:
    return {(r.subject, r.predicate, r.object) for r in compute_relations(objects, holding)}


def test_stack_on_and_not_the_other_way() -> None:
    rels = _triples((_block("red block", 0.5, 0.0, 0.045), _block("blue block", 0.5, 0.005)))
    assert ("red block", "on", "blue block") in rels
    assert ("blue block", "on", "red block") not in rels


def test_offset_block_is_not_on() -> None:
    rels = _triples((_block("red block", 0.5, 0.04, 0.045), _block("blue block", 0.5, 0.0)))
    assert not any(p == "on" for _, p, _ in rels)


def test_in_bowl_on_plate_in_bin() -> None:
    objs = (
        _block("red block", 0.5, 0.0, 0.006),
        _container("green bowl", "bowl", 0.5, 0.0),
        _block("blue block", 0.4, 0.2, 0.012),
        _container("yellow plate", "plate", 0.4, 0.2),
        _block("small purple block", 0.55, -0.2, 0.008, 0.035),
        _container("bin", "bin", 0.55, -0.2),
    )
    rels = _triples(objs)
    assert {("red block", "in", "green bowl"), ("blue block", "on", "yellow plate")} <= rels
    assert ("small purple block", "in", "bin") in rels


def test_left_right_from_the_robot_and_near() -> None:
    rels = _triples((_block("red block", 0.5, 0.1), _block("blue block", 0.5, 0.0)))
    assert ("red block", "left_of", "blue block") in rels
    assert ("blue block", "right_of", "red block") in rels
    assert ("blue block", "near", "red block") in rels  # alphabetical subject first


def test_held_block_is_on_nothing() -> None:
    objs = (_block("red block", 0.5, 0.0, 0.046), _block("blue block", 0.5, 0.0))
    assert ("red block", "on", "blue block") not in _triples(objs, holding="red block")
