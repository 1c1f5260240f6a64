"""Offline instruction understanding: a sentence plus the visible objects -> goal atoms.

No language model: the instruction is classified into a task shape (sort, clear, push, a chain
of "X on/in Y" clauses, a tower listed bottom-up) and its slots are filled with the names of the
objects perception reports. Object mentions are matched against those names, so "the purple
block" finds "large purple block" when it is the only purple block, and "the block left of the
bowl" is resolved with the scene's spatial relations. An instruction that cannot be grounded
raises :class:`InstructionNotUnderstood`, whose message suggests configuring an LLM.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from embodied.core.decision import Atom
from embodied.core.goals import goal_problems
from embodied.errors import EmbodiedError
from envs.scene_spec import REGIONS
from perception.scene_graph import DetectedObject, SceneGraph

SIZES = ("small", "medium", "large")
CONTAINERS = ("bowl", "bin")
REGION_WORDS = {
    "left side": ("left",),
    "right side": ("right",),
    "front": ("front", "near edge", "closer"),
    "back": ("back", "far edge", "far side", "rear"),
}
SPATIAL = {"left of": "left_of", "right of": "right_of", "in front of": "in_front_of", "behind": "behind"}
_CLAUSE_SPLIT = re.compile(
    r"\b(?:and then|then|after that|afterwards|finally)\b|[,;.]|\band\b(?= (?:put|place|stack|move|set|drop))"
)
_PREP = re.compile(r"\b(on top of|onto|on|into|inside|in|to|over|atop)\b")
LLM_HINT = "configure an LLM (--llm openai:MODEL or --llm hf:PATH) to follow free-form instructions"


class InstructionNotUnderstood(EmbodiedError, ValueError):
    """The offline parser could not turn the instruction into goal atoms."""


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    name: str


def _norm(text: str) -> str:
    text = text.lower().replace("colour", "color").replace("-", " ")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ,;.]", " ", text)).strip()


def _shape_word(obj: DetectedObject) -> str:
    return "bin" if obj.shape == "bin" else obj.shape


def _candidates(scene: SceneGraph, colour: str | None, size: str | None, shape: str | None) -> list[DetectedObject]:
    out = []
    for o in scene.objects:
        if shape and _shape_word(o) != shape and not (shape == "box" and o.shape == "bin"):
            continue
        if colour and o.colour.replace("colour", "color") != colour:
            continue
        if size and not (o.name.startswith(size) or (size == "medium" and o.name.split()[0] not in SIZES)):
            continue
        out.append(o)
    return out


_MENTION = re.compile(
    r"\b(?:(small|medium|large|big|little|tiny)\s+)?(?:(red|green|blue|yellow|purple|orange|grey|gray|pink|white|black|brown|cyan|magenta)\s+)?"
    r"(block|cube|bowl|plate|bin|box)s?\b"
)
_SIZE_ALIASES = {"big": "large", "little": "small", "tiny": "small"}
_SHAPE_ALIASES = {"cube": "block", "box": "bin"}


def find_mentions(text: str, scene: SceneGraph) -> list[_Mention]:
    """Object mentions in ``text`` resolved to unique scene names (ambiguous ones raise)."""
    mentions = []
    for m in _MENTION.finditer(text):
        size, colour, shape = m.group(1), m.group(2), m.group(3)
        size = _SIZE_ALIASES.get(size or "", size)
        shape = _SHAPE_ALIASES.get(shape, shape)
        colour = "grey" if colour == "gray" else colour
        if colour is None and size is None and shape == "block":
            continue  # "the block" alone: resolved by a spatial relation or not at all
        cands = _candidates(scene, colour, size, shape)
        if len(cands) > 1 and size is None:
            exact = [c for c in cands if c.name.split()[0] not in SIZES]
            cands = exact if len(exact) == 1 else cands
        if len(cands) != 1:
            what = " ".join(p for p in (size, colour, shape) if p)
            if not cands:
                raise InstructionNotUnderstood(f"no '{what}' is visible; visible objects: {list(scene.names)}")
            raise InstructionNotUnderstood(f"'{what}' is ambiguous: {[c.name for c in cands]}")
        mentions.append(_Mention(m.start(), m.end(), cands[0].name))
    return mentions


def _relation_of(scene: SceneGraph, subject: str, obj: str) -> str:
    return "in" if scene.get(obj).shape in CONTAINERS else "on"


def _spatial_referent(text: str, scene: SceneGraph) -> tuple[str, str, int, int] | None:
    """Resolve "the block <relation> the <object>" to the one block in that relation."""
    for phrase, rel in SPATIAL.items():
        m = re.search(rf"\bblock (?:that is |which is )?(?:to the )?{phrase}(?: the)? ", text)
        if not m:
            continue
        ref = find_mentions(text[m.end() :], scene)
        if not ref:
            continue
        anchor = scene.get(ref[0].name)
        blocks = [o for o in scene.objects if o.shape == "block"]
        dx = {"left_of": (0, 1), "right_of": (0, -1), "in_front_of": (-1, 0), "behind": (1, 0)}[rel]
        scored = [
            (b, (b.position[0] - anchor.position[0]) * dx[0] + (b.position[1] - anchor.position[1]) * dx[1])
            for b in blocks
        ]
        hits = [b for b, s in scored if s > 0.05]
        if len(hits) != 1:
            raise InstructionNotUnderstood(f"'the block {phrase} the {anchor.name}' matches {[b.name for b in hits]}")
        return hits[0].name, anchor.name, m.start(), m.end() + ref[0].end
    return None


def _region(text: str) -> str | None:
    for region, words in REGION_WORDS.items():
        if any(re.search(rf"\b{w}\b", text) for w in words):
            return region
    return None


def parse_instruction(instruction: str, scene: SceneGraph) -> tuple[Atom, ...]:
    """Goal atoms for ``instruction`` in ``scene``; raises :class:`InstructionNotUnderstood`."""
    text = _norm(instruction)
    if not instruction.strip():
        raise InstructionNotUnderstood(f"the instruction is empty; {LLM_HINT}")
    if not text:
        raise InstructionNotUnderstood(
            f"{instruction!r} has no words the offline grounder reads (it understands English); {LLM_HINT}"
        )
    blocks = [o.name for o in scene.objects if o.shape == "block"]
    bins = [o.name for o in scene.objects if o.shape == "bin"]
    bowls = {o.colour: o.name for o in scene.objects if o.shape == "bowl"}
    if re.search(r"\b(sort|match(es|ing)?|same color)\b", text) and bowls:
        goal = tuple(("in", b, bowls[scene.get(b).colour]) for b in blocks if scene.get(b).colour in bowls)
        if goal:
            return goal
    if re.search(r"\b(clear|tidy|all|every|each)\b", text) and bins and re.search(r"\bbin|box\b", text):
        return tuple(("in", b, bins[0]) for b in blocks)
    try:
        clauses = _parse_clauses(text, scene)
    except InstructionNotUnderstood as e:
        raise InstructionNotUnderstood(f"could not understand {instruction!r}: {e}; {LLM_HINT}") from None
    return checked_goal(instruction, clauses)


_TOWER = re.compile(r"\b(tower|pile|stack of|stack up|on top of each other)\b")
_ANCHOR = re.compile(r"\b(?:left of|right of|in front of|behind)(?: the)? $")


def impossible_here(scene: SceneGraph, goal: Sequence[Atom]) -> list[str]:
    """Atoms the objects of ``scene`` cannot satisfy: only blocks move, ``in`` needs a bowl or the
    bin, ``on`` a block or a plate, and a block holds one block on top."""
    problems = []
    shape = {o.name: o.shape for o in scene.objects}
    on_block: dict[str, str] = {}
    for pred, subject, target in (a for a in goal if len(a) == 3):
        if shape.get(subject, "block") != "block":
            problems.append(f"{pred}({subject}, {target}) moves the {subject}, but only blocks are moved")
        if pred == "in" and shape.get(target, "bowl") not in CONTAINERS:
            problems.append(f"in({subject}, {target}): the {target} is no bowl or bin")
        if pred == "on" and shape.get(target, "block") not in ("block", "plate"):
            problems.append(f"on({subject}, {target}): things go in the {target}, not on it")
        if pred == "on" and shape.get(target) == "block":
            other = on_block.setdefault(target, subject)
            if other != subject:
                problems.append(f"both the {other} and the {subject} would sit on the {target}")
    return problems


def goal_consistency(instruction: str, scene: SceneGraph, goal: Sequence[Atom]) -> list[str]:
    """Why ``goal`` is not a reading of ``instruction`` in ``scene`` (empty when it may be).

    The goal must be possible (:func:`~embodied.core.goals.goal_problems` and
    :func:`impossible_here`) and must name every object the instruction names unambiguously, except
    the anchor of a spatial reference ("the block left of the bowl"). A goal from a language model
    that drops a named object is not what was asked.
    """
    problems = goal_problems(goal) + impossible_here(scene, goal)
    text = _norm(instruction)
    try:
        mentions = find_mentions(text, scene)
    except InstructionNotUnderstood:
        return problems  # an ambiguous or unknown mention: nothing sure to hold the goal to
    named = {m.name for m in mentions if not _ANCHOR.search(text[: m.start])}
    used = {name for atom in goal for name in atom[1:]}
    missing = sorted(named - used)
    if missing:
        problems.append(f"it leaves out {', '.join(missing)}, which the instruction names")
    tower = [n for n in dict.fromkeys(m.name for m in mentions) if scene.get(n).shape == "block"]
    if _TOWER.search(text) and len(tower) >= 3:
        stacked = [a for a in goal if a[0] == "on" and a[1] in tower and a[2] in tower]
        if len(stacked) < len(tower) - 1:
            problems.append(
                f"a tower of {len(tower)} blocks needs {len(tower) - 1} 'on' atoms among them; "
                f"the goal has {len(stacked)}"
            )
    return problems


def checked_goal(instruction: str, goal: tuple[Atom, ...]) -> tuple[Atom, ...]:
    """``goal`` if it can hold at all; else :class:`InstructionNotUnderstood` saying why not."""
    problems = goal_problems(goal)
    if problems:
        raise InstructionNotUnderstood(f"{instruction!r} asks for the impossible: {'; '.join(problems)}")
    return goal


def _parse_clauses(text: str, scene: SceneGraph) -> tuple[Atom, ...]:
    referent = _spatial_referent(text, scene)
    if referent is not None:
        name, anchor, start, end = referent
        text = f"{text[:start]}{name} {text[end:]}"
        text = re.sub(r"\b(?:into|in) it\b", f"in the {anchor}", text)
    if re.search(r"\b(push|slide|nudge|shove)\b", text):
        mentions = find_mentions(text, scene)
        region = _region(text)
        if mentions and region and region in REGIONS:
            return (("in_region", mentions[0].name, region),)
    if (re.search(r"\btower\b", text) and "from the bottom up" in text) or re.search(r"\btower of\b", text):
        names = [m.name for m in find_mentions(text, scene)]
        if len(names) >= 2:
            return tuple(("on", top, bottom) for bottom, top in itertools.pairwise(names))
    if re.search(r"\btower\b", text) and "at the bottom" in text:
        names = [m.name for m in find_mentions(text, scene)]
        return tuple(("on", top, bottom) for bottom, top in itertools.pairwise(names))
    atoms: list[Atom] = []
    last_subject: str | None = None
    for clause in filter(None, (c.strip() for c in _CLAUSE_SPLIT.split(text))):
        mentions = find_mentions(clause, scene)
        pronoun = re.search(r"\b(it|them)\b", clause)
        if len(mentions) == 1 and pronoun and last_subject and pronoun.start() < mentions[0].start:
            subject, target, between = last_subject, mentions[0].name, clause[pronoun.end() : mentions[0].start]
        elif len(mentions) >= 2:
            subject, target = mentions[0].name, mentions[-1].name
            between = clause[mentions[0].end : mentions[-1].start]
        else:
            last_subject = mentions[0].name if mentions else last_subject
            continue
        last_subject = subject
        if _PREP.search(between) is not None:
            atoms.append((_relation_of(scene, subject, target), subject, target))
    if not atoms:
        raise InstructionNotUnderstood("found no 'X on/in Y' request, sort, clear or push")
    return tuple(dict.fromkeys(atoms))
