"""What the words of an instruction refer to in the scene: objects by name, and blocks picked out by position.

:func:`read_mentions` finds each object mention in a normalised instruction ("the large red block",
"the bin", "the blue one", "the cubes") and the scene objects it can mean. A singular mention that
fits several objects is narrowed by the position words around it, read against the positions
perception reports:

* an anchor: "the block left of / right of / in front of / behind / nearest to / farthest from /
  next to the bowl";
* a side: "the block on the left", "the one at the back", "the cube on the far right", "the block in
  the middle";
* a superlative: "the leftmost block", "the closest red block", "the block nearest to you", "the
  one farthest back", "the block furthest to the right".

The robot stands at the front edge: "near", "close to you" and "front" are small ``x``, "far",
"back" and "behind" large ``x``, "left" large ``y`` (the robot's and the user's left). A position
word picks a block only when it wins by at least :data:`MARGIN` metres; otherwise the mention stays
ambiguous. Words the reader does not know ("the other one", "a block", "it") constrain nothing.

Each :class:`Mention` says whether it names one object (:attr:`Mention.name`), names something
that is not there (:attr:`Mention.unknown`) or could be several things (:attr:`Mention.ambiguous`).
The pattern grounder parses with these names; the consistency check holds every reading to them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from perception.scene_graph import DetectedObject, SceneGraph

SIZES = ("small", "medium", "large")
#: How far (metres) the block a position word picks must be ahead of the runner-up.
MARGIN = 0.03
#: How far (metres) past the anchor a block must be to be "left of", "behind" ... it.
BEYOND = 0.05

_COLOURS = "red|green|blue|yellow|purple|orange|grey|gray|pink|white|black|brown|cyan|magenta"
_MENTION = re.compile(
    rf"\b(?:(small|medium|large|big|little|tiny)\s+)?(?:({_COLOURS})\s+)?(block|cube|bowl|plate|bin|box|one)(s)?\b"
)
_SIZE_ALIASES = {"big": "large", "little": "small", "tiny": "small"}
_SHAPE_ALIASES = {"cube": "block", "box": "bin"}
#: Words before a mention that make it not one definite object ("a block", "the other one", "all blocks").
_INDEFINITE = re.compile(
    r"\b(?:a|an|any|some|another|other|each|every|all|both|remaining|last|same|next|first|second|third|"
    r"one|two|three|four|these|those|either|no|which|what|matching|correct|corresponding|own|its|their|"
    r"respective|same colou?r|its colou?r|colou?r as)\s+(?:(?:\w+)\s+)?$"
)
#: Words after a mention that make it generic: "the bowl of the same colour", "the bowl that matches".
_GENERIC_AFTER = re.compile(
    r"^(?: (?:of|with|that has|that have|that is|that s|which has|which is|having|in)(?: the| its| their)?"
    r" (?:same|matching|right|correct|corresponding|own)| that match| to match| of (?:its|their|that) colou?r)"
)

#: Unit directions on the table: +x away from the robot, +y to its left.
_DIRECTIONS = {
    "left": (0.0, 1.0),
    "right": (0.0, -1.0),
    "back": (1.0, 0.0),
    "far": (1.0, 0.0),
    "front": (-1.0, 0.0),
    "near": (-1.0, 0.0),
}
_WORD_DIRECTION = {
    "leftmost": "left",
    "rightmost": "right",
    "backmost": "back",
    "rearmost": "back",
    "frontmost": "front",
    "left": "left",
    "right": "right",
    "back": "back",
    "rear": "back",
    "front": "front",
    "far": "far",
    "near": "near",
    "nearest": "near",
    "closest": "near",
    "nearer": "near",
    "closer": "near",
    "farthest": "far",
    "furthest": "far",
    "farther": "far",
    "further": "far",
}
_LINK = r"(?: (?:that|which|thats|whichs))?(?: (?:is|s|sits|sitting|lies|lying|located|placed))?"
#: Relations to an anchor object: "the block <relation> the bowl".
_RELATIONS = (
    "left of|right of|in front of|behind|nearest to|closest to|nearest|closest|next to|beside|by|"
    "farthest from|furthest from"
)
_ANCHOR_REL = re.compile(
    rf"^{_LINK}(?: (?:directly|just|right|immediately))?(?: to the| on the)? ({_RELATIONS})(?: the)? "
)
#: A mention right after such a relation is its anchor, whatever came before the relation ("by" only
#: after a mention it narrows: "put the red block by the bowl" names the bowl as the target).
_ANCHOR_BEFORE = re.compile(rf"\b(?:{_RELATIONS.replace('|by|', '|')})(?: the)? $")
_SIDE = re.compile(
    rf"^{_LINK} (?:on|at|in|over on|over at|toward|towards) (?:the )?(?:far |very |back |front )?"
    r"(left|right|front|back|rear|middle|center|centre)(?: side| end| edge| corner)?\b"
    r"(?! of| (?:block|cube|bowl|plate|bin|box|one)s?\b)"
)
_SUPERLATIVE_AFTER = re.compile(
    rf"^{_LINK}(?: the)? (nearest|closest|farthest|furthest|nearer|closer|farther|further)(?: away| back)?"
    r"(?: (?:to|from) (?:you|me|us|the robot|the arm|the gripper|your side|my side))?"
    r"(?: (?:to the )?(left|right|back|front))?\b(?! (?:to|from) the (?!robot|arm|gripper))"
)
_MOST_AFTER = re.compile(rf"^{_LINK} (?:the )?(?:furthest|farthest|most) (?:to the )?(left|right|back|front)\b")
_BEFORE = re.compile(
    r"\b(leftmost|rightmost|backmost|rearmost|frontmost|nearest|closest|farthest|furthest|left|right|back|rear|"
    r"front|middle|center|centre|largest|biggest|smallest|tiniest|littlest)(?: (?:hand|side))?\s+$"
)
_BIGGEST = {"largest": 1.0, "biggest": 1.0, "smallest": -1.0, "tiniest": -1.0, "littlest": -1.0}
#: Position words after a mention that this reader does not parse ("in front of it", "closer to you than
#: the bowl"): the mention may well name one object, so it is not called ambiguous.
_VAGUE_AFTER = re.compile(
    r"^(?: \w+){0,3}? (?:left|right|front|behind|back|near|nearer|nearest|close|closer|closest|far|farther|further|"
    r"farthest|furthest|middle|center|centre|between|next|beside)\b"
)


@dataclass(frozen=True)
class Mention:
    """One object mention: where it is in the text, the objects it can mean, and the one it names.

    Attributes:
        start, end: the span of the mention's words (with the position words that narrowed it).
        words: what the instruction says ("large red block", "blue one", "block on the left").
        candidates: the scene objects that fit the words before position words narrowed them.
        name: the one object meant, or ``None``.
        plural: "the blocks", "cubes": several objects, never ambiguous.
        definite: "the block" rather than "a block" or "the other block".
        anchor: the mention is the reference point of a position ("the bowl" in "left of the bowl").
        relative_to: the anchor object a position word narrowed this mention by, if any.
    """

    start: int
    end: int
    words: str
    candidates: tuple[str, ...]
    name: str | None
    plural: bool = False
    definite: bool = True
    anchor: bool = False
    relative_to: str | None = None

    @property
    def unknown(self) -> bool:
        """It names something with a colour, size or kind that nothing visible has."""
        return not self.candidates and not self.words.endswith("one")

    @property
    def ambiguous(self) -> bool:
        """A definite singular mention that fits several objects, and no position word picks one."""
        return self.definite and not self.plural and self.name is None and len(self.candidates) > 1

    def problem(self, scene: SceneGraph) -> str:
        """Why this mention cannot be grounded (empty when it can)."""
        if self.unknown:
            return f"no '{self.words}' is visible; visible objects: {list(scene.names)}"
        if self.ambiguous:
            which = ", ".join(self.candidates)
            return f"'the {self.words}' could be any of {which}; the instruction does not say which"
        return ""


def _fits(o: DetectedObject, colour: str | None, size: str | None, shape: str | None) -> bool:
    if shape and o.shape != shape:
        return False
    if colour and o.colour != colour:
        return False
    first = o.name.split()[0]
    return not size or first == size or (size == "medium" and first not in SIZES)


def _candidates(scene: SceneGraph, colour: str | None, size: str | None, shape: str | None) -> list[DetectedObject]:
    out = [o for o in scene.objects if _fits(o, colour, size, shape)]
    if len(out) > 1 and size is None and colour is not None and shape is not None:
        exact = [o for o in out if o.name.split()[0] not in SIZES]  # "red block" is the one perception calls so
        out = exact if len(exact) == 1 else out
    return out


def _extreme(objects: Sequence[DetectedObject], score: dict[str, float]) -> DetectedObject | None:
    """The object with the highest score, when it leads the runner-up by :data:`MARGIN`."""
    ranked = sorted(objects, key=lambda o: score[o.name], reverse=True)
    if not ranked:
        return None
    if len(ranked) > 1 and score[ranked[0].name] - score[ranked[1].name] < MARGIN:
        return None
    return ranked[0]


def _toward(objects: Sequence[DetectedObject], direction: str) -> DetectedObject | None:
    dx, dy = _DIRECTIONS[direction]
    return _extreme(objects, {o.name: o.position[0] * dx + o.position[1] * dy for o in objects})


def _middle(objects: Sequence[DetectedObject]) -> DetectedObject | None:
    """The middle one of three (across the table, else along it), when it is clearly between."""
    if len(objects) != 3:
        return None
    for axis in (1, 0):
        ranked = sorted(objects, key=lambda o: o.position[axis])
        low, mid, high = (o.position[axis] for o in ranked)
        if mid - low >= MARGIN and high - mid >= MARGIN:
            return ranked[1]
    return None


def _by_anchor(objects: Sequence[DetectedObject], relation: str, anchor: DetectedObject) -> DetectedObject | None:
    ax, ay = anchor.position[0], anchor.position[1]
    others = [o for o in objects if o.name != anchor.name]
    if relation in ("left of", "right of", "in front of", "behind"):
        dx, dy = {"left of": (0, 1), "right of": (0, -1), "in front of": (-1, 0), "behind": (1, 0)}[relation]
        beyond = [o for o in others if (o.position[0] - ax) * dx + (o.position[1] - ay) * dy > BEYOND]
        return beyond[0] if len(beyond) == 1 else None
    distance = {o.name: ((o.position[0] - ax) ** 2 + (o.position[1] - ay) ** 2) ** 0.5 for o in others}
    far = relation.startswith(("farthest", "furthest"))
    return _extreme(others, {n: d if far else -d for n, d in distance.items()})


@dataclass(frozen=True)
class _Raw:
    start: int
    end: int
    size: str | None
    colour: str | None
    shape: str
    plural: bool


def _raw_mentions(text: str) -> list[_Raw]:
    out = []
    for m in _MENTION.finditer(text):
        size = _SIZE_ALIASES.get(m.group(1) or "", m.group(1))
        colour = "grey" if m.group(2) == "gray" else m.group(2)
        shape = _SHAPE_ALIASES.get(m.group(3), m.group(3))
        bare = size is None and colour is None
        if shape == "one" and (m.group(4) or (bare and not _qualified(text, m.start(), m.end()))):
            continue  # "ones", "the other one": not an object mention this reader can use
        out.append(_Raw(m.start(), m.end(), size, colour, shape, bool(m.group(4))))
    return out


def _qualified(text: str, start: int, end: int) -> bool:
    rest = text[end:]
    return bool(_BEFORE.search(text[:start])) or any(
        p.match(rest) for p in (_ANCHOR_REL, _SIDE, _SUPERLATIVE_AFTER, _MOST_AFTER)
    )


def read_mentions(text: str, scene: SceneGraph) -> list[Mention]:
    """Every object mention in ``text`` (normalised: lower case, words and ``,;.`` only), in order."""
    raws = _raw_mentions(text)
    mentions: list[Mention] = []
    anchors: set[int] = set()
    for i, raw in enumerate(raws):
        words = " ".join(w for w in (raw.size, raw.colour, raw.shape) if w)
        definite = not _INDEFINITE.search(text[: raw.start]) and not _GENERIC_AFTER.match(text[raw.end :])
        if raw.shape == "one":
            # "the blue one": a block if one fits (that is what gets moved), else whatever fits
            objs = _candidates(scene, raw.colour, raw.size, "block") or _candidates(scene, raw.colour, raw.size, None)
        else:
            objs = _candidates(scene, raw.colour, raw.size, raw.shape)
        name, end, relative_to = (objs[0].name if len(objs) == 1 else None), raw.end, None
        if len(objs) > 1 and not raw.plural:
            picked, end, anchor = _narrow(text, raw, objs, raws[i + 1 :], scene)
            if picked is not None:
                name = picked.name
                words = f"{words} {text[raw.end : end].strip()}"
            if anchor is not None:
                anchors.add(i + 1)
                relative_to = anchor.name if picked is not None else None
            elif picked is None and end == raw.end and _VAGUE_AFTER.match(text[raw.end :]):
                definite = False  # position words this reader does not parse: not ours to call ambiguous
        candidates = tuple(o.name for o in objs)
        mentions.append(Mention(raw.start, end, words, candidates, name, raw.plural, definite, False, relative_to))
    anchors |= {i for i, raw in enumerate(raws) if _ANCHOR_BEFORE.search(text[: raw.start])}
    return [Mention(**{**vars(m), "anchor": True}) if i in anchors else m for i, m in enumerate(mentions)]


def _narrow(
    text: str, raw: _Raw, objs: list[DetectedObject], later: list[_Raw], scene: SceneGraph
) -> tuple[DetectedObject | None, int, DetectedObject | None]:
    """The one of ``objs`` the position words around the mention pick: (object or None, end of the
    words read, the anchor object when the next mention was the reference point)."""
    rest = text[raw.end :]
    rel = _ANCHOR_REL.match(rest)
    if rel and later and later[0].start == raw.end + rel.end():
        anchor_raw = later[0]
        anchor_objs = _candidates(scene, anchor_raw.colour, anchor_raw.size, anchor_raw.shape)
        if len(anchor_objs) == 1:
            relation = {"nearest": "nearest to", "closest": "closest to", "beside": "next to", "by": "next to"}
            how = relation.get(rel.group(1), rel.group(1))
            return _by_anchor(objs, how, anchor_objs[0]), anchor_raw.end, anchor_objs[0]
        return None, raw.end, None
    side = _SIDE.match(rest)
    if side:
        word = side.group(1)
        if word in ("middle", "center", "centre"):
            return _middle(objs), raw.end + side.end(), None
        return _toward(objs, _WORD_DIRECTION[word]), raw.end + side.end(), None
    most = _MOST_AFTER.match(rest)
    if most:
        return _toward(objs, _WORD_DIRECTION[most.group(1)]), raw.end + most.end(), None
    sup = _SUPERLATIVE_AFTER.match(rest)
    if sup:
        direction = _WORD_DIRECTION[sup.group(2)] if sup.group(2) else _WORD_DIRECTION[sup.group(1)]
        return _toward(objs, direction), raw.end + sup.end(), None
    before = _BEFORE.search(text[: raw.start])
    if before:
        word = before.group(1)
        if word in ("middle", "center", "centre"):
            return _middle(objs), raw.end, None
        if word in _BIGGEST:
            sign = _BIGGEST[word]
            # sizes differ by 1 cm from class to class: x10 puts one class ahead of the next by 0.1 > MARGIN
            return _extreme(objs, {o.name: sign * o.size[0] * 10 for o in objs}), raw.end, None
        return _toward(objs, _WORD_DIRECTION[word]), raw.end, None
    return None, raw.end, None
