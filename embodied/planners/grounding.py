"""Offline instruction understanding: a sentence plus the visible objects -> goal atoms.

No language model: the instruction is classified into a task shape (sort, clear, push, a chain
of "X on/in Y" clauses, a tower listed bottom-up) and its slots are filled with the names of the
objects perception reports. Object mentions are read by :mod:`embodied.planners.references`, so
"the purple block" finds "large purple block" when it is the only purple block, and "the block
left of the bowl" or "the leftmost block" is resolved from the positions perception reports. An
instruction that cannot be grounded raises :class:`InstructionNotUnderstood`, whose message
suggests configuring an LLM.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from embodied.core.decision import Atom
from embodied.core.goals import goal_problems
from embodied.errors import EmbodiedError
from embodied.planners.references import read_mentions
from envs.scene_spec import REGIONS
from perception.scene_graph import SceneGraph

CONTAINERS = ("bowl", "bin")
REGION_WORDS = {
    "left side": ("left",),
    "right side": ("right",),
    "front": ("front", "near edge", "closer"),
    "back": ("back", "far edge", "far side", "rear"),
}
_CLAUSE_SPLIT = re.compile(
    r"\b(?:and then|then|after that|afterwards|finally)\b|[,;.]|\band\b(?= (?:put|place|stack|move|set|drop))"
)
_PREP = re.compile(r"\b(on top of|onto|on|into|inside|in|to|over|atop)\b")
LLM_HINT = "configure an LLM (--llm openai:MODEL or --llm hf:PATH) to follow free-form instructions"


class InstructionNotUnderstood(EmbodiedError, ValueError):
    """The offline parser could not turn the instruction into goal atoms."""


def _norm(text: str) -> str:
    text = text.lower().replace("colour", "color").replace("-", " ")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ,;.]", " ", text)).strip()


@dataclass(frozen=True)
class Named:
    """A mention that names one object: its span in the text and the object's name."""

    start: int
    end: int
    name: str


def find_mentions(text: str, scene: SceneGraph) -> list[Named]:
    """The object mentions in ``text`` that name one object (:mod:`~embodied.planners.references`);
    a mention of something not visible, or of one of several things without saying which, raises."""
    mentions = []
    for m in read_mentions(text, scene):
        problem = m.problem(scene)
        if problem:
            raise InstructionNotUnderstood(problem)
        if m.name is not None:
            mentions.append(Named(m.start, m.end, m.name))
    return mentions


def _relation_of(scene: SceneGraph, target: str) -> str:
    return "in" if scene.get(target).shape in CONTAINERS else "on"


def _resolve_references(text: str, scene: SceneGraph) -> str:
    """``text`` with each mention that names one object replaced by that name ("the block left of the
    bowl" -> "the red block", "the big cube" -> "the large red block"); "in it" or "on it" after a
    position relative to an object then means that object."""
    mentions = read_mentions(text, scene)
    inside = {
        j for i, m in enumerate(mentions) for j, n in enumerate(mentions) if i != j and m.start <= n.start < m.end
    }
    outer = [m for j, m in enumerate(mentions) if j not in inside]  # not an anchor inside another's words
    for m in reversed(outer):
        if m.name is None or text[m.start : m.end] == m.name:
            continue
        text = f"{text[: m.start]}{m.name}{text[m.end :]}"
        if m.relative_to:
            text = re.sub(r"\b(?:into|in|inside) it\b", f"in the {m.relative_to}", text)
            text = re.sub(r"\b(?:onto|on top of|on) it\b", f"on the {m.relative_to}", text)
    return text


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
    :func:`impossible_here`). The instruction's mentions are read against the scene
    (:func:`~embodied.planners.references.read_mentions`): one of an object that is not visible, or
    one that fits several objects with no position word to pick one, means no goal is a reading of
    it. The goal must name every object a mention names, including a block picked out by position
    ("the block left of the bowl", "the leftmost block"), but not the anchor of such a position.
    A goal from a language model that drops a named object, or moves another block than the one
    the words pick, is not what was asked.
    """
    problems = goal_problems(goal) + impossible_here(scene, goal)
    text = _norm(instruction)
    mentions = read_mentions(text, scene)
    problems += [p for p in (m.problem(scene) for m in mentions) if p]
    used = {name for atom in goal for name in atom[1:]}
    left_out = {m.name: m.words for m in mentions if m.name is not None and not m.anchor and m.name not in used}
    for name, words in left_out.items():
        said = "" if words in name else f" ('the {words}')"
        problems.append(f"it leaves out {name}{said}, which the instruction names")
    tower = [n for n in dict.fromkeys(m.name for m in mentions if m.name) if scene.get(n).shape == "block"]
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
    text = _resolve_references(text, scene)
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
            atoms.append((_relation_of(scene, target), subject, target))
    if not atoms:
        raise InstructionNotUnderstood("found no 'X on/in Y' request, sort, clear or push")
    return tuple(dict.fromkeys(atoms))
