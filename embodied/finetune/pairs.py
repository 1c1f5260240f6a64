"""Training pairs for the goal grounder: an instruction and the visible names -> goal atoms.

Scenes are the task families' own seeded scenes (and the 6-object scenes of task chains), drawn
from :data:`TRAIN_SEEDS` only: the evaluation suites use small seeds and the held-out language
set (``benchmarks/heldout``, written apart from this module) uses 5000-5999, so neither is ever
trained on. For each scene a goal is drawn (the task's own goal, or another goal that makes sense
over the same objects: a stack, a placement, a tower of three or four, a sort, a clear-up, a push,
two or three steps in a row) and worded in one of many ways:

* commands, polite requests, questions, wishes and end-state descriptions;
* clause orders reversed ("into the bowl, put ...") and "first ... then ... finally";
* towers named bottom-up, top-down, "A first, then B, then C on top", "X at the bottom and Y above";
* references: a colour alone when it is unique, size words (big, little), "it", "the other one",
  "the block left of the bowl" (the robot's left is the world's +y; "in front of" is closer to the
  robot, smaller x);
* sort and clear variants, push regions with their synonyms;
* instructions that cannot be grounded here (a missing object, an ambiguous "the block", a
  request no tabletop skill does): their answer is the empty goal, a refusal.

The answer is the JSON a constrained decoder emits: ``{"goal": [["on", "a", "b"], ...]}``.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embodied.core.decision import Atom
from envs.scene_spec import ObjectSpec, SceneSpec
from envs.tasks import FAMILIES, sample_task
from envs.tasks.chains import sample_chain

#: Seeds of the training scenes: far from the suites' seeds and the held-out sets' seeds.
TRAIN_SEEDS = range(100_000, 1_000_000)
#: Seeds of the development split (generated like training data, never trained on).
DEV_SEEDS = range(50_000, 60_000)
#: Seeds of the held-out sets in benchmarks/heldout (set A: 5000-5999, set B: 7000-7999); never generated.
HELD_OUT_SEEDS = (range(5000, 6000), range(7000, 8000))
REFUSAL: tuple[Atom, ...] = ()


@dataclass(frozen=True)
class GoalExample:
    """One training pair. ``goal`` is empty when the instruction cannot be grounded in the scene."""

    instruction: str
    names: tuple[str, ...]
    goal: tuple[Atom, ...]
    family: str
    kind: str

    @property
    def answer(self) -> str:
        return answer_text(self.goal)


def answer_text(goal: Sequence[Atom]) -> str:
    """The answer a constrained decoder writes for ``goal`` (``{"goal": []}`` for a refusal)."""
    return json.dumps({"goal": [list(a) for a in goal]})


# ---------------------------------------------------------------- referring to objects

_SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
_KIND_WORDS = {"block": ("block", "cube"), "bowl": ("bowl",), "plate": ("plate", "dish"), "bin": ("bin",)}
_BIN_WORDS = ("bin", "trash bin", "box", "grey bin", "container")


def _size(o: ObjectSpec) -> str:
    first = o.name.split()[0]
    return first if first in ("small", "large") else "medium"


SIDES = ("left of", "right of", "in front of", "behind")


def _on_side(b: ObjectSpec, a: ObjectSpec, phrase: str) -> bool:
    """Whether ``b`` is clearly (4 cm) on the ``phrase`` side of ``a`` (the robot's left is +y, its front -x)."""
    dx, dy = b.pos[0] - a.pos[0], b.pos[1] - a.pos[1]
    return {"left of": dy > 0.04, "right of": dy < -0.04, "in front of": dx < -0.04, "behind": dx > 0.04}[phrase]


class Referrer:
    """Ways to name each object of one scene unambiguously."""

    def __init__(self, scene: SceneSpec, rng: random.Random) -> None:
        self.objects = list(scene.objects)
        self.rng = rng

    def _unique(self, test: Callable[[ObjectSpec], bool]) -> bool:
        return sum(test(o) for o in self.objects) == 1

    def ways(self, o: ObjectSpec) -> list[str]:
        if o.kind == "bin":
            return [f"the {w}" for w in _BIN_WORDS]
        kinds = _KIND_WORDS[o.kind]
        out = [f"the {o.name}"]
        if _size(o) != "medium":
            out += [f"the {s} {o.colour} {k}" for s in _SIZE_WORDS[_size(o)] for k in kinds]
        if self._unique(lambda x: x.kind == o.kind and x.colour == o.colour):
            out += [f"the {o.colour} {k}" for k in kinds]
            if self._unique(lambda x: x.colour == o.colour):
                out += [f"the {o.colour} one"]
        if self._unique(lambda x: x.kind == o.kind):
            out += [f"the {k}" for k in kinds]
        if o.kind == "block" and _size(o) != "medium":
            same = [x for x in self.objects if x.kind == "block" and _size(x) == _size(o)]
            if len(same) == 1:
                out += [f"the {s} {k}" for s in _SIZE_WORDS[_size(o)] for k in kinds]
        return out

    def name(self, o: ObjectSpec) -> str:
        return self.rng.choice(self.ways(o))

    def spatial(self, o: ObjectSpec) -> str | None:
        """ "the block left of the yellow bowl" when ``o`` is the only block on that side of an anchor."""
        anchors = [a for a in self.objects if a.kind != "block"]
        blocks = [b for b in self.objects if b.kind == "block"]
        options = []
        for a in anchors:
            for phrase in SIDES:
                hits = [b for b in blocks if _on_side(b, a, phrase)]
                if hits == [o]:
                    options.append((phrase, a))
        if not options:
            return None
        phrase, a = self.rng.choice(options)
        lead = self.rng.choice(["the block", "the block that is", "the cube", "whichever block is", "the one"])
        to = "to the " if phrase in ("left of", "right of") and self.rng.random() < 0.5 else ""
        return f"{lead} {to}{phrase} {self.name(a)}"


# ---------------------------------------------------------------- wording

_POLITE = ("please ", "could you ", "can you ", "would you ", "", "", "", "now ", "go ahead and ")
_END = ("", "", "", ", please", " for me", ", thanks", ".", " now")
_PUT = ("put", "place", "set", "move", "stick", "get", "transfer", "lay")
_ON = ("on", "onto", "on top of", "atop", "over on")
_IN = ("in", "into", "inside")
_PUSH = ("push", "slide", "nudge", "shove", "slide over", "push over")
REGION_WORDS: dict[str, tuple[str, ...]] = {
    "left side": ("left side", "left", "left edge", "left-hand side"),
    "right side": ("right side", "right", "right edge", "right-hand side"),
    "front": ("front", "front edge", "near edge", "edge closest to you"),
    "back": ("back", "back edge", "far edge", "far side", "rear"),
}


_IMPERATIVE = frozenset(
    (
        "put",
        "place",
        "set",
        "move",
        "stick",
        "get",
        "transfer",
        "lay",
        "drop",
        "toss",
        "throw",
        "pick",
        "grab",
        "take",
        "stack",
        "pile",
        "push",
        "slide",
        "nudge",
        "shove",
        "without",
        "build",
        "make",
        "create",
        "assemble",
        "sort",
        "match",
        "colour-sort",
        "clear",
        "tidy",
        "clean",
        "fill",
        "first",
    )
)


def _request(rng: random.Random, body: str) -> str:
    """``body`` as a command, a polite request or a question (statements stay statements)."""
    if body.split()[0] not in _IMPERATIVE:
        return body + rng.choice(("", "", ".", ", please"))
    polite = rng.choice(_POLITE)
    text = f"{polite}{body}"
    if polite.startswith(("could", "can", "would")) and rng.random() < 0.8:
        return text + "?"
    return text + rng.choice(_END)


def word_on(rng: random.Random, a: str, b: str, block_target: bool) -> str:
    """A clause asking for ``a`` on ``b`` (no politeness around it: see :func:`_request`)."""
    put, on = rng.choice(_PUT), rng.choice(_ON)
    forms = [
        f"{put} {a} {on} {b}",
        f"pick up {a} and {put} it {on} {b}",
        f"grab {a} and {put} it {on} {b}",
        f"{on} {b}, {put} {a}",
        f"take {a} and {put} it {on} {b}",
    ]
    wishes = [
        f"I want {a} {on} {b}",
        f"I'd like {a} sitting on {b}",
        f"{a} should end up {on} {b}",
        f"{a} goes {on} {b}",
        f"make {a} rest on {b}",
        f"{b} should have {a} on it",
        f"the goal is {a} {on} {b}",
    ]
    if block_target:
        forms += [f"stack {a} {on} {b}", f"stack {a} {on} {b}", f"pile {a} on {b}"]
    return rng.choice(wishes) if rng.random() < 0.3 else rng.choice(forms)


def word_in(rng: random.Random, a: str, c: str) -> str:
    put, into = rng.choice(_PUT + ("drop", "toss", "throw")), rng.choice(_IN)
    forms = [
        f"{put} {a} {into} {c}",
        f"pick up {a} and drop it {into} {c}",
        f"{into} {c}, {put} {a}",
        f"grab {a} and {put} it {into} {c}",
    ]
    wishes = [
        f"{a} belongs {into} {c}",
        f"I want {a} {into} {c}",
        f"{a} should end up {into} {c}",
        f"fill {c} with {a}",
    ]
    return rng.choice(wishes) if rng.random() < 0.3 else rng.choice(forms)


def word_push(rng: random.Random, a: str, region: str) -> str:
    where = rng.choice(REGION_WORDS[region])
    push = rng.choice(_PUSH)
    forms = [
        f"{push} {a} to the {where}",
        f"{push} {a} to the {where} of the table",
        f"{push} {a} toward the {where}",
        f"without lifting it, {push} {a} to the {where}",
        f"move {a} to the {where} of the table by pushing it",
        f"{a} should be pushed to the {where}",
    ]
    return rng.choice(forms)


def word_tower(rng: random.Random, names: Sequence[str]) -> str:
    """A request for a tower of ``names``, listed bottom to top."""
    bottom_up = _listing(rng, names)
    top_down = _listing(rng, list(reversed(names)))
    tower = rng.choice(("tower", "stack", "pile"))
    build = rng.choice(("build", "make", "stack up", "create", "assemble"))
    forms = [
        f"{build} a {tower} of {bottom_up}, from the bottom up",
        f"{build} a {tower} of {bottom_up}, bottom to top",
        f"{build} a {tower} of {top_down}, from top to bottom",
        f"{build} a {tower}: {names[0]} first, then {', then '.join(names[1:-1])}{', then ' if len(names) > 2 else ''}"
        f"{names[-1]} on top",
        f"{build} a {tower} with {names[0]} at the bottom, {_middle(names)}{names[-1]} on top",
        f"{build} a {tower} with {names[-1]} on top, {_middle(list(reversed(names)))}{names[0]} at the bottom",
        f"{names[0]} at the bottom, {_middle(names)}{names[-1]} on top",
        " and then ".join(
            f"{rng.choice(_PUT)} {top} {rng.choice(_ON)} {'it' if i and rng.random() < 0.4 else bottom}"
            for i, (bottom, top) in enumerate(itertools.pairwise(names))
        ),
        "stack " + " on ".join(reversed(names)),
    ]
    if len(names) == 2:
        forms += [f"{names[0]} at the bottom and {names[1]} above it"]
    return _request(rng, rng.choice(forms))


def _middle(names: Sequence[str]) -> str:
    mid = names[1:-1]
    if not mid:
        return ""
    if len(mid) == 1:
        return f"{mid[0]} in the middle, "
    return f"{mid[0]} above it, {mid[1]} above that, "


def _listing(rng: random.Random, items: Sequence[str]) -> str:
    if rng.random() < 0.3:
        return ", ".join(items)
    return ", ".join(items[:-1]) + rng.choice((" and ", ", and ", " then ")) + items[-1]


_SORT = (
    "put each block in the bowl of its colour",
    "sort the blocks into the bowls by colour",
    "put every block into the bowl with the same color",
    "match the blocks to the bowls by color",
    "sort the blocks by colour",
    "each block goes in the bowl that matches its color",
    "colour-sort the blocks into the bowls",
    "put the blocks in their matching bowls",
)
_CLEAR = (
    "put all the blocks in the bin",
    "clear the table: every block goes in the bin",
    "tidy up by putting every block into the bin",
    "throw all the blocks in the bin",
    "everything on the table goes in the bin",
    "clean up the blocks into the box",
    "put every cube in the bin",
    "get all the blocks off the table and into the bin",
)


# ---------------------------------------------------------------- goals over a scene


@dataclass
class _Scene:
    spec: SceneSpec
    family: str
    task_goal: tuple[Atom, ...]
    task_instruction: str

    def of(self, kind: str) -> list[ObjectSpec]:
        return [o for o in self.spec.objects if o.kind == kind]


def _subject(rng: random.Random, ref: Referrer, o: ObjectSpec) -> str:
    if rng.random() < 0.15:
        spatial = ref.spatial(o)
        if spatial:
            return spatial
    return ref.name(o)


def _single(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    got = _clause(rng, s, ref)
    return None if got is None else (_request(rng, got[0]), got[1], got[2])


def _clause(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    blocks = s.of("block")
    targets = [o for o in s.spec.objects if o.kind in ("block", "plate")]
    containers = [o for o in s.spec.objects if o.kind in ("bowl", "bin")]
    a = rng.choice(blocks)
    choice = rng.random()
    if choice < 0.4 and len(targets) > 1:
        b = rng.choice([t for t in targets if t is not a])
        return word_on(rng, _subject(rng, ref, a), ref.name(b), b.kind == "block"), (("on", a.name, b.name),), "on"
    if choice < 0.75 and containers:
        c = rng.choice(containers)
        return word_in(rng, _subject(rng, ref, a), ref.name(c)), (("in", a.name, c.name),), "in"
    region = rng.choice(list(REGION_WORDS))
    return word_push(rng, ref.name(a), region), (("in_region", a.name, region),), "push"


def _tower(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    blocks = s.of("block")
    if len(blocks) < 2:
        return None
    n = rng.choice([k for k in (2, 3, 3, 3, 4) if k <= len(blocks)])
    chosen = rng.sample(blocks, n)
    names = [ref.name(o) for o in chosen]
    atoms = tuple(("on", top.name, bottom.name) for bottom, top in itertools.pairwise(chosen))
    return word_tower(rng, names), atoms, f"tower{n}"


def _sort(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    bowls = {b.colour: b for b in s.of("bowl")}
    atoms = tuple(("in", o.name, bowls[o.colour].name) for o in s.of("block") if o.colour in bowls)
    if not atoms or len(atoms) > 6:
        return None
    return _request(rng, rng.choice(_SORT)), atoms, "sort"


def _clear(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    bins = s.of("bin")
    if not bins or len(s.of("block")) > 6:
        return None
    atoms = tuple(("in", o.name, bins[0].name) for o in s.of("block"))
    return _request(rng, rng.choice(_CLEAR)), atoms, "clear"


def _multi(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    steps: list[str] = []
    atoms: list[Atom] = []
    used: set[str] = set()
    for _ in range(rng.choice((2, 2, 3))):
        for _try in range(5):
            got = _clause(rng, s, ref)
            if got is None:
                continue
            text, (atom,), _ = got
            if atom[1] in used or any(atom[1] == x[2] or atom[2] == x[1] for x in atoms):
                continue
            steps.append(text.rstrip("?.!"))
            atoms.append(atom)
            used.add(atom[1])
            break
    if len(atoms) < 2:
        return None
    joins = rng.choice(
        [
            [", then ", ", and finally "],
            [" and then ", " and then "],
            ["; after that ", "; then "],
            [", then ", ", then "],
        ]
    )
    lead = rng.choice(("", "first ", "first, "))
    text = lead + steps[0] + "".join(j + t for j, t in zip(joins, steps[1:], strict=False))
    return _request(rng, text), tuple(atoms), "multi"


_NONSENSE = (
    "make me a cup of coffee",
    "open the drawer",
    "wave hello to everyone",
    "turn on the lights",
    "what time is it?",
    "fold the towel",
    "pour some water into the glass",
    "go to the kitchen",
    "write a poem about blocks",
    "close the door behind you",
    "sing a song",
    "bring me the remote",
)
_ABSENT_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "pink", "white", "black")


def _ungroundable(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    choice = rng.random()
    if choice < 0.3:
        return _request(rng, rng.choice(_NONSENSE)), REFUSAL, "refuse_nonsense"
    present = {(o.colour, o.kind) for o in s.spec.objects}
    if choice < 0.75:
        colour = rng.choice([c for c in _ABSENT_COLOURS if (c, "block") not in present])
        other = rng.choice([o for o in s.spec.objects])
        if rng.random() < 0.5:
            return _request(rng, word_on(rng, f"the {colour} block", ref.name(other), True)), REFUSAL, "refuse_absent"
        kind = rng.choice(("bowl", "plate"))
        colours = [c for c in _ABSENT_COLOURS if (c, kind) not in present]
        a = rng.choice(s.of("block"))
        where = f"the {rng.choice(colours)} {kind}"
        return _request(rng, word_in(rng, ref.name(a), where)), REFUSAL, "refuse_absent"
    blocks = s.of("block")
    if len(blocks) > 1:
        containers = [o for o in s.spec.objects if o.kind in ("bowl", "bin", "plate")]
        if containers:
            c = rng.choice(containers)
            word = word_on if c.kind == "plate" else (lambda r, a, b, _: word_in(r, a, b))
            return _request(rng, word(rng, "the block", ref.name(c), False)), REFUSAL, "refuse_ambiguous"
    return _request(rng, rng.choice(_NONSENSE)), REFUSAL, "refuse_nonsense"


def _own(rng: random.Random, s: _Scene, ref: Referrer) -> tuple[str, tuple[Atom, ...], str] | None:
    return s.task_instruction, s.task_goal, "task"


_MAKERS: tuple[
    tuple[Callable[[random.Random, _Scene, Referrer], tuple[str, tuple[Atom, ...], str] | None], float], ...
] = (
    (_own, 0.10),
    (_single, 0.30),
    (_tower, 0.18),
    (_sort, 0.30),
    (_clear, 0.30),
    (_multi, 0.16),
    (_ungroundable, 0.14),
)


def _scene(rng: random.Random, seed: int) -> _Scene:
    families = sorted(FAMILIES)
    if rng.random() < 0.15:
        task = sample_chain(seed)[0]
        return _Scene(task.scene, "chain", tuple(task.goal), task.instruction)
    family = families[seed % len(families)]
    task = sample_task(family, seed)
    return _Scene(task.scene, family, tuple(task.goal), task.instruction)


def example(seed: int) -> GoalExample:
    """The training pair of ``seed`` (deterministic)."""
    rng = random.Random(seed)
    s = _scene(rng, seed)
    ref = Referrer(s.spec, rng)
    makers, weights = zip(*_MAKERS, strict=True)
    while True:
        made = rng.choices(makers, weights)[0](rng, s, ref)
        if made is not None:
            break
    text, goal, kind = made
    text = text[0].upper() + text[1:] if rng.random() < 0.3 else text
    names = [o.name for o in s.spec.objects]
    if rng.random() < 0.5:
        names.sort()
    else:
        rng.shuffle(names)
    return GoalExample(text, tuple(names), goal, s.family, kind)


def examples(count: int, seeds: range = TRAIN_SEEDS) -> list[GoalExample]:
    """``count`` pairs from the first ``count`` seeds of ``seeds``."""
    if count > len(seeds):
        raise ValueError(f"asked for {count} examples but the seed range has only {len(seeds)}")
    used = seeds[:count]
    for held in HELD_OUT_SEEDS:
        if used and used.start < held.stop and held.start < used.stop:
            where = f"{held.start}-{held.stop - 1}"
            raise ValueError(f"seeds {used.start}-{used.stop - 1} overlap the held-out seeds {where}")
    return [example(seeds[i]) for i in range(count)]
