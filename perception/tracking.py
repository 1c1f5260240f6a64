"""Stable names through an episode: associate each frame's hypotheses with known tracks.

Names follow the env's convention (``"red block"`` for a medium block, ``"large red block"``,
``"small red block"``, ``"<colour> bowl"``, ``"<colour> plate"``, ``"bin"``). The first sighting
names a track, and the track keeps that name until the tracker is reset (a new episode): later
sightings of the same object keep it even when a partial, tilted or lifted view measures another
size class, an object carried out of sight keeps it when it reappears elsewhere, and an object
seen again only after the hand carried it far (frames perceived many control steps apart, as
skills do) keeps it too. A new object never takes a name a track holds. Within one frame names
are unique.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

from envs.scene_spec import BLOCK_SIZES
from perception.fusion import Hypothesis

log = logging.getLogger(__name__)

MAX_STEP = 0.12  # metres an object may move between two frames and keep its track by proximity
TRAVEL_PER_STEP = 0.05  # metres an object may move per control step (the hand: at most 2.5 cm per axis)
STILL = 0.02  # metres: a sighting this close to an established track is that object, whatever its hue says
MIN_SIGHTINGS = 3  # frames a track must be seen in to be established (remembered when hidden, never pruned)
GLITCH_FRAMES = 30  # frames after which a track that never became established is forgotten


def object_name(colour: str, shape: str, size_class: str = "") -> str:
    """The env's name for an object of this class."""
    if shape == "bin":
        return "bin"
    if shape == "block":
        return f"{colour} block" if size_class in ("", "medium") else f"{size_class} {colour} block"
    return f"{colour} {shape}"


@dataclass
class Track:
    """A named object followed through an episode."""

    name: str
    colour: str
    shape: str
    position: tuple[float, float, float]
    last_seen: int
    last: Hypothesis  # the latest sighting
    sightings: int = 1
    last_step: int = 0  # the control step of the latest sighting


def _same_class(track: Track, hyp: Hypothesis, distance: float = math.inf) -> bool:
    if track.shape != hyp.shape:
        return False
    if track.colour == hyp.colour:
        return True
    # Orange and yellow are confused when over-exposed, or in the bin's shade; the track's colour wins
    # when the reading is unsure, or when the object has not moved (nothing else can be where it is).
    warm = ("orange", "yellow")
    if track.colour not in warm or hyp.colour not in warm:
        return False
    return hyp.colour_confidence < 1.0 or (track.sightings >= MIN_SIGHTINGS and distance <= STILL)


def _snap_error(h: Hypothesis) -> float:
    """How far a block's measured edge is from its size class (the surest blocks are named first)."""
    return abs(BLOCK_SIZES[h.size_class] - h.edge) if h.shape == "block" else 0.0


class Tracker:
    """Keeps tracks between frames; :meth:`update` names one frame's hypotheses."""

    def __init__(self, max_step: float = MAX_STEP) -> None:
        self.max_step = max_step
        self.tracks: list[Track] = []
        self.frame = 0
        self.step = 0

    def reset(self) -> None:
        """Forget every track and free every name (a new episode)."""
        self.tracks.clear()
        self.frame = 0
        self.step = 0

    def reach(self, track: Track) -> float:
        """How far (metres) the object of ``track`` may have moved since it was last seen."""
        return max(self.max_step, TRAVEL_PER_STEP * (self.step - track.last_step))

    def update(self, hyps: list[Hypothesis], step: int | None = None) -> list[tuple[str, Hypothesis]]:
        """``(name, hypothesis)`` per hypothesis, names unique and stable across frames.

        Args:
            hyps: the hypotheses of one frame.
            step: the env's control step of the frame (``info["steps"]``): the more steps since a
                track was last seen, the farther its object may have been carried. Without it
                each call counts as one step.
        """
        self.frame += 1
        self.step = self.step + 1 if step is None else step
        # A track seen once or twice and not for a while was a glitch: free its name.
        self.tracks = [
            t for t in self.tracks if t.sightings >= MIN_SIGHTINGS or self.frame - t.last_seen <= GLITCH_FRAMES
        ]
        assigned = self._match_near(hyps)
        self._match_lost(hyps, assigned)
        fresh = sorted((i for i in range(len(hyps)) if i not in assigned), key=lambda i: _snap_error(hyps[i]))
        for i in fresh:
            assigned[i] = self._new_track(hyps[i])
        out = []
        for i, h in enumerate(hyps):
            track = assigned[i]
            if track.last_seen < self.frame:
                track.sightings += 1
            track.position, track.last_seen, track.last, track.last_step = h.position, self.frame, h, self.step
            out.append((track.name, replace(h, colour=track.colour) if track.colour != h.colour else h))
        return out

    def _match_near(self, hyps: list[Hypothesis]) -> dict[int, Track]:
        """Hypotheses within reach of a track of their class, nearest pairs first."""
        pairs = []
        for i, h in enumerate(hyps):
            for j, t in enumerate(self.tracks):
                d = math.dist(h.position, t.position)
                if _same_class(t, h, d) and d <= self.reach(t):
                    pairs.append((d, i, j))
        assigned: dict[int, Track] = {}
        taken: set[int] = set()
        for _, i, j in sorted(pairs):
            if i not in assigned and j not in taken:
                assigned[i] = self.tracks[j]
                taken.add(j)
        return assigned

    def _match_lost(self, hyps: list[Hypothesis], assigned: dict[int, Track]) -> None:
        """Give the hypotheses still unnamed the tracks of their class that are lost, if any.

        A track not seen now or in the previous frame may have been carried away while hidden. Of
        several, the one whose name a well-measured size (top face seen) matches is taken, else the
        one that was last seen nearest.
        """
        taken = {id(t) for t in assigned.values()}
        for i, h in enumerate(hyps):
            if i in assigned:
                continue
            lost = [t for t in self.tracks if id(t) not in taken and _same_class(t, h) and t.last_seen < self.frame - 1]
            if lost:
                want = object_name(h.colour, h.shape, h.size_class)
                track = min(lost, key=lambda t: (h.top_seen and t.name != want, math.dist(t.position, h.position)))
                assigned[i] = track
                taken.add(id(track))

    def unseen(self) -> list[Track]:
        """Established tracks (seen in several frames) that were not seen in the latest frame."""
        return [t for t in self.tracks if t.last_seen < self.frame and t.sightings >= MIN_SIGHTINGS]

    def _new_track(self, h: Hypothesis) -> Track:
        used = {t.name for t in self.tracks}
        name = object_name(h.colour, h.shape, h.size_class)
        if name in used and h.shape == "block":
            # Two blocks of one colour are never the same size in a scene: take the nearest free size.
            for size in sorted(BLOCK_SIZES, key=lambda k: abs(BLOCK_SIZES[k] - h.edge)):
                if object_name(h.colour, "block", size) not in used:
                    name = object_name(h.colour, "block", size)
                    break
        if name in used:
            n = 2
            while f"{name} {n}" in used:
                n += 1
            log.debug("a second %s is in view; calling it %s %d", name, name, n)
            name = f"{name} {n}"
        track = Track(name, h.colour, h.shape, h.position, self.frame, h)
        self.tracks.append(track)
        return track
