"""Ground truth's verdict beside the agent's claim: false successes, missed successes, and why."""

from __future__ import annotations

from dataclasses import replace

from embodied.agent.loop import UNCHECKED_DONE, VERIFIED_DONE, EpisodeResult
from embodied.core.verification import format_atom
from embodied.evaluation.verdict import verdict
from embodied.factory import EpisodeConfig, build_episode

RESULT = EpisodeResult("stack", False, True, VERIFIED_DONE, 2, 2, 4.0, 1.0, "classical")


def test_a_claimed_done_that_ground_truth_rejects_is_a_false_success_with_its_atom() -> None:
    config = EpisodeConfig("stack", 0, planner="classical", perception="ground_truth", modalities=("rgb",))
    with build_episode(config) as episode:
        episode.env.reset(seed=0, options=episode.reset_options)
        (goal,) = episode.task.goal if episode.task else ()  # untouched: the stack is not there
        subject = goal[1]
        seen = {subject: [0.5, 0.1, 0.07]}
        judged = verdict(replace(RESULT, stats={"last_seen": seen}), episode.env)
        assert judged["claimed_done"] and judged["false_success"] and not judged["missed_success"]
        (why,) = judged["rejected"]
        assert why.startswith(f"{format_atom(goal)} does not hold")
        assert f"{subject}: ground truth base (" in why and "perceived centre (0.500, 0.100, 0.070)" in why
        assert f"{goal[2]}: ground truth base (" in why and "perceived centre not seen" in why

        # an unverifiable "done" is a claim too
        unchecked = replace(RESULT, verified=False, reason=f"{UNCHECKED_DONE} (no goal)")
        assert verdict(unchecked, episode.env)["false_success"]


def test_giving_up_on_a_done_task_is_a_missed_success_and_honest_endings_are_neither() -> None:
    config = EpisodeConfig("stack", 0, planner="classical", perception="ground_truth", modalities=("rgb",))
    with build_episode(config) as episode:
        episode.env.reset(seed=0, options=episode.reset_options)
        gave_up = replace(RESULT, success=True, verified=False, reason="turn budget exhausted (30 turns)")
        assert verdict(gave_up, episode.env) == {"claimed_done": False, "false_success": False, "missed_success": True}
        right = replace(RESULT, success=True)
        assert verdict(right, episode.env) == {"claimed_done": True, "false_success": False, "missed_success": False}
        failed = replace(RESULT, verified=False, reason="planner failed: no plan")
        assert verdict(failed, episode.env) == {"claimed_done": False, "false_success": False, "missed_success": False}
        by_env = replace(RESULT, success=True, verified=False, reason="task completed")
        assert not verdict(by_env, episode.env)["missed_success"]  # the env ended it on success: nothing given up
