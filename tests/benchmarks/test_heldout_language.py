"""The held-out instruction set refers to real scenes, names real objects and asks for valid goals."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from benchmarks.heldout import SEEDS, SETS, HeldoutItem, load_heldout
from benchmarks.language import scene_at_rest
from embodied.core.goals import goal_problems
from envs.scene_spec import REGIONS
from envs.tasks import FAMILIES, sample_task

MAX_ATOMS = 6
RED_ON_BLUE = ("on", "small red block", "large blue block")  # stack 5000: small red, small orange, large blue
#: What each predicate's second argument must be (object kinds), or None for a region name.
TARGET_KINDS: dict[str, tuple[str, ...] | None] = {"on": ("block", "plate"), "in": ("bowl", "bin"), "in_region": None}


@cache
def scene_kinds(family: str, seed: int) -> dict[str, str]:
    """Object name -> kind (block, bowl, plate, bin) as perception reports the scene at rest."""
    return {o.name: o.shape for o in scene_at_rest(sample_task(family, seed)).objects}


def item_problems(item: HeldoutItem, seeds: range = SEEDS) -> list[str]:
    """Why ``item`` is not a valid held-out item of the set on ``seeds`` (empty when it is)."""
    where = f"{item.id} ({item.family} {item.seed}, {item.instruction!r})"
    if item.family not in FAMILIES:
        return [f"{where}: unknown family"]
    if item.seed not in seeds:
        return [f"{where}: seed outside the held-out range {seeds.start}-{seeds.stop - 1}"]
    out = []
    if not item.instruction.strip() or not item.kind.strip():
        out.append(f"{where}: empty instruction or kind")
    if item.goal is None:
        return out
    if not 1 <= len(item.goal) <= MAX_ATOMS:
        out.append(f"{where}: {len(item.goal)} atoms (1 to {MAX_ATOMS} allowed)")
    if len(set(item.goal)) != len(item.goal):
        out.append(f"{where}: repeated atom")
    kinds = scene_kinds(item.family, item.seed)
    for atom in item.goal:
        if len(atom) != 3 or atom[0] not in TARGET_KINDS:
            out.append(f"{where}: malformed atom {atom}")
            continue
        predicate, subject, target = atom
        if kinds.get(subject) != "block":
            out.append(f"{where}: {subject!r} is not a block in the scene {sorted(kinds)}")
        allowed = TARGET_KINDS[predicate]
        if allowed is None:
            if target not in REGIONS:
                out.append(f"{where}: {target!r} is not a region ({sorted(REGIONS)})")
        elif target not in kinds:
            out.append(f"{where}: {target!r} is not in the scene {sorted(kinds)}")
        elif kinds[target] not in allowed:
            out.append(f"{where}: {predicate} target {target!r} is a {kinds[target]}, not one of {allowed}")
    out += [f"{where}: {p}" for p in goal_problems(item.goal)]
    return out


def set_problems(items: Sequence[HeldoutItem]) -> list[str]:
    """Problems of the set as a whole: size, duplicates, family coverage, share of null goals."""
    out = []
    if len(items) < 300:
        out.append(f"only {len(items)} items (at least 300 wanted)")
    for what, values in (("id", [i.id for i in items]), ("instruction", [i.instruction.lower() for i in items])):
        dupes = sorted(v for v, n in Counter(values).items() if n > 1)
        if dupes:
            out.append(f"duplicate {what}s: {dupes[:5]}")
    families = {i.family for i in items}
    if len(families) < 8:
        out.append(f"only {len(families)} families: {sorted(families)}")
    nulls = sum(i.goal is None for i in items)
    if nulls < 0.10 * len(items):
        out.append(f"only {nulls} of {len(items)} goals are null (at least 10% wanted)")
    return out


@pytest.fixture(scope="module")
def items() -> list[HeldoutItem]:
    return load_heldout()


@pytest.fixture(scope="module", params=sorted(SETS))
def held(request: pytest.FixtureRequest) -> tuple[Path, list[HeldoutItem], range]:
    """Each held-out set (A: language.jsonl, B: language_b.jsonl): its file, items and seed range."""
    path, seeds = SETS[request.param]
    return path, load_heldout(path), seeds


def test_the_set_is_large_unique_and_covers_every_family(held: tuple[Path, list[HeldoutItem], range]) -> None:
    _, items, _ = held
    assert set_problems(items) == []
    assert {i.family for i in items} == set(FAMILIES)


def test_every_item_names_real_objects_and_asks_for_a_valid_goal(held: tuple[Path, list[HeldoutItem], range]) -> None:
    _, items, seeds = held
    problems = [p for item in items for p in item_problems(item, seeds)]
    assert problems == [], "\n".join(problems[:20])


def test_null_goals_are_tagged_ungroundable(held: tuple[Path, list[HeldoutItem], range]) -> None:
    assert all((i.goal is None) == (i.kind == "ungroundable") for i in held[1])


def test_the_loader_reads_goals_as_tuples(held: tuple[Path, list[HeldoutItem], range]) -> None:
    path, items, _ = held
    first = next(i for i in items if i.goal is not None)
    assert isinstance(first.goal, tuple) and all(isinstance(a, tuple) for a in first.goal)
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [r["id"] for r in raw] == [i.id for i in items]


def test_the_two_sets_share_no_scene() -> None:
    # (a few short wordings, "put the block in the bin", occur in both, about different scenes)
    a, b = load_heldout(SETS["heldout"][0]), load_heldout(SETS["heldout_b"][0])
    assert not {i.seed for i in a} & {i.seed for i in b}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"seed": 17}, "seed outside"),
        ({"goal": (("on", "chartreuse block", "large blue block"),)}, "is not a block in the scene"),
        ({"goal": (("in", "small red block", "large blue block"),)}, "not one of ('bowl', 'bin')"),
        ({"goal": (("in_region", "small red block", "middle"),)}, "is not a region"),
        ({"goal": (("on", "small red block", "small red block"),)}, "itself"),
        ({"goal": (RED_ON_BLUE, ("on", "large blue block", "small red block"))}, "loop"),
        ({"goal": (RED_ON_BLUE, RED_ON_BLUE)}, "repeated atom"),
    ],
)
def test_bad_items_are_caught(change: dict[str, object], complaint: str) -> None:
    good = HeldoutItem("x1", "stack", 5000, "put the red block on the blue one", (RED_ON_BLUE,), "on")
    assert item_problems(good) == []
    bad = replace(good, **change)  # type: ignore[arg-type]
    assert any(complaint in p for p in item_problems(bad)), item_problems(bad)


def test_bad_sets_are_caught(items: list[HeldoutItem]) -> None:
    assert any("only 10 items" in p for p in set_problems(items[:10]))
    assert any("duplicate ids" in p for p in set_problems([*items, items[0]]))
    assert any("duplicate instructions" in p for p in set_problems([*items, replace(items[0], id="h999")]))
    grounded = [i for i in items if i.goal is not None]
    assert any("are null" in p for p in set_problems(grounded))
    assert any("families" in p for p in set_problems([i for i in items if i.family != "tower"]))


def test_the_loader_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"id": "h1", "family": "stack", "seed": 5000, "instruction": "x", "goal": None, "kind": "k"}
    path.write_text(json.dumps(good) + '\n{"id": "h2"}\n')
    with pytest.raises(ValueError, match=":2:"):
        load_heldout(path)
