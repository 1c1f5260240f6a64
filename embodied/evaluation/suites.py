"""Evaluation suites: which seeded episodes to run, and how each is worded or disturbed.

* ``standard`` - every task family x N seeds, the family's own wording;
* ``paraphrase`` - the same scenes and goals, worded in ways the templates never use;
* ``perturb`` - a disturbance mid-episode (a just-placed block knocked off, or the target block
  moved while the robot reaches for it) that needs verification and replanning to recover;
* ``chains`` - five tasks in a row in one scene without a reset (CALVIN-style); ``episodes`` is
  the number of chains, and a chain succeeds when all five do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.tasks import FAMILIES, TaskInstance, sample_task

SUITES = ("standard", "paraphrase", "perturb", "chains")
PERTURBATIONS = ("knock_off", "move_target")


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode of a suite; ``id`` is stable, so a rerun can skip finished episodes."""

    id: str
    suite: str
    family: str
    seed: int
    instruction: str | None = None
    perturbation: str | None = None


def paraphrase(task: TaskInstance, rng: np.random.Generator) -> str:
    """A wording of ``task`` that none of its family's templates uses."""
    g = task.goal
    a, b = g[0][1], g[0][2]
    c = g[1][1] if len(g) > 1 else ""
    options: dict[str, list[str]] = {
        "pick_place": [
            f"could you set the {a} down onto the {b}?",
            f"I want the {a} lying on the {b}",
            f"grab the {a} and leave it on the {b}, please",
        ],
        "stack": [
            f"could you place the {a} atop the {b}?",
            f"I'd like the {a} sitting on top of the {b}",
            f"take the {a} and put it onto the {b}, thanks",
        ],
        "tower": [
            f"first put the {a} onto the {b}, then put the {c} onto the {a}",
            f"build me a tower of the {b}, the {a} and the {c}, from the bottom up",
            f"stack the {a} on top of the {b} and after that the {c} on top of the {a}",
        ],
        "put_in_container": [
            f"could you drop the {a} in the {b}?",
            f"the {a} belongs inside the {b}",
            f"move the {a} into the {b}, please",
        ],
        "sort_by_colour": [
            "match every block with the bowl of its own color",
            "please sort these blocks into the bowls by color",
            "each block should end up in the bowl that has the same color",
        ],
        "push_to_region": [
            f"shove the {a} toward the {b.replace(' side', '')} of the table",
            f"without picking it up, slide the {a} over to the {b}",
            f"give the {a} a push to the {b}",
        ],
        "clear_table": [
            "throw every block in the bin",
            "clean up: all blocks go into the bin",
            "please move each block into the bin",
        ],
    }
    if task.family == "spatial_reference":
        relation = next(r for r in ("left of", "right of", "in front of", "behind") if r in task.instruction)
        options["spatial_reference"] = [
            f"could you take the block which is {relation} the {b} and place it inside the {b}?",
            f"the block that is {relation} the {b} should end up in the {b}",
            f"grab the block {relation} the {b}; it goes into the {b}",
        ]
    choices = options[task.family]
    return choices[int(rng.integers(len(choices)))]


#: The largest first seed ``embodied eval --seed-start`` takes (numpy seeds are unsigned 32-bit).
MAX_SEED = 2**31 - 1


def build_suite(
    name: str, episodes: int, families: tuple[str, ...] | None = None, seed_start: int = 0
) -> list[EpisodeSpec]:
    """The episodes of suite ``name``: ``episodes`` seeds per family from ``seed_start`` (deterministic).

    The policies were developed on the small seeds the suites start from; ``seed_start`` far from
    them (10,000, say) evaluates on scenes nobody tuned on. Episode ids carry the seed, so runs on
    different ranges can share a results folder.
    """
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; suites are: {', '.join(SUITES)}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not 0 <= seed_start <= MAX_SEED - episodes:
        top = MAX_SEED - episodes
        raise ValueError(f"seed_start must be from 0 to {top} for {episodes} episodes, got {seed_start}")
    seeds = range(seed_start, seed_start + episodes)
    if name == "chains":
        return [EpisodeSpec(f"chains/chain/{seed}", name, "chain", seed) for seed in seeds]
    chosen = families or tuple(sorted(FAMILIES))
    specs = []
    for family in chosen:
        for seed in seeds:
            instruction, perturbation = None, None
            if name == "paraphrase":
                task = sample_task(family, seed)
                instruction = paraphrase(task, np.random.default_rng([seed, 17]))
            elif name == "perturb":
                perturbation = PERTURBATIONS[seed % len(PERTURBATIONS)]
            specs.append(EpisodeSpec(f"{name}/{family}/{seed}", name, family, seed, instruction, perturbation))
    return specs
