"""Two readings of one instruction, the language model's and the pattern grounder's; the check decides.

LLM+P with a model grounds the instruction twice: the model writes goal atoms (under the goal
schema, asked again when its goal fails the consistency check) and the offline pattern grounder
parses it. Each reading is held to :func:`~embodied.planners.grounding.goal_consistency` (every
named object in the goal, a tower of three in two atoms, nothing impossible):

* both hold and agree, or only one holds: that goal;
* both hold and differ: the pattern grounder's (the configured preference), the other noted. On
  the generator's development split (120 pairs, never trained on) the two held and differed 6
  times and the pattern grounder was right in 5 of them: the model sees names but no positions,
  so it guesses "the block left of the bowl";
* neither holds: :class:`~embodied.planners.grounding.InstructionNotUnderstood` naming both
  reasons, and nothing moves.

Both readings and the choice are kept in :attr:`TwoReadings.note`, which the classical planner
puts in its first decision's thoughts, so the trace shows what each grounder read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from embodied.core.decision import Atom
from embodied.planners.grounding import InstructionNotUnderstood, goal_consistency, parse_instruction
from embodied.planners.parsing import DecisionParseError
from perception.scene_graph import SceneGraph

ModelGoal = Callable[[str, SceneGraph], tuple[Atom, ...]]


@dataclass(frozen=True)
class Reading:
    """One grounder's goal (``None`` when it gave none) and why it cannot be used (empty when it can)."""

    source: str
    goal: tuple[Atom, ...] | None
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.goal is not None and not self.problem

    def describe(self) -> str:
        if self.goal is None:
            return f"the {self.source} gives no goal ({self.problem})"
        atoms = ", ".join(f"{a[0]}({', '.join(a[1:])})" for a in self.goal)
        return f"the {self.source} reads {atoms}" + (f" but {self.problem}" if self.problem else "")


class TwoReadings:
    """A goal source (instruction, scene) -> atoms for the classical planner; see the module doc."""

    def __init__(self, model_goal: ModelGoal, prefer: str = "pattern grounder") -> None:
        if prefer not in ("model", "pattern grounder"):
            raise ValueError(f"prefer={prefer!r} must be 'model' or 'pattern grounder'")
        self.model_goal, self.prefer = model_goal, prefer
        self.note = ""
        self.readings: tuple[Reading, ...] = ()

    def __call__(self, instruction: str, scene: SceneGraph) -> tuple[Atom, ...]:
        model = self._read("model", instruction, scene, lambda: self.model_goal(instruction, scene))
        pattern = self._read("pattern grounder", instruction, scene, lambda: parse_instruction(instruction, scene))
        self.readings = (model, pattern)
        usable = [r for r in self.readings if r.usable]
        if not usable:
            self.note = f"No reading holds: {model.describe()}; {pattern.describe()}."
            raise InstructionNotUnderstood(
                f"could not ground {instruction[:200]!r}: {model.describe()}; {pattern.describe()}"
            )
        if len(usable) == 2 and set(model.goal or ()) == set(pattern.goal or ()):
            self.note = (
                f"Grounding: the model and the pattern grounder agree: {model.describe()[len('the model reads ') :]}."
            )
            return usable[0].goal or ()
        chosen = next((r for r in usable if r.source == self.prefer), usable[0])
        other = pattern if chosen is model else model
        why = f"both hold; the {self.prefer}'s reading is preferred" if len(usable) == 2 else "only it passes the check"
        self.note = f"Grounding: {chosen.describe()}; {other.describe()}. Kept the {chosen.source}'s ({why})."
        return chosen.goal or ()

    @staticmethod
    def _read(source: str, instruction: str, scene: SceneGraph, read: Callable[[], tuple[Atom, ...]]) -> Reading:
        try:
            goal = read()
        except DecisionParseError as e:  # a refusal or no usable answer from the model
            return Reading(source, None, str(e)[:300])
        except InstructionNotUnderstood as e:
            return Reading(source, None, str(e).split("; configure an LLM")[0][:300])
        problems = goal_consistency(instruction, scene, goal)
        return Reading(source, goal, "; ".join(problems))
