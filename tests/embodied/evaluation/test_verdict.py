"""Ground truth's verdict beside the agent's claim: false successes, missed successes, and why."""

from __future__ import annotations

from dataclasses import replace

from embodied.agent.loop import UNCHECKED_DONE, VERIFIED_DONE, EpisodeResult
from embodied.core.verification import format_atom
from embodied.evaluation.verdict import undone, verdict
from embodied.factory import EpisodeConfig, build_episode
from envs.tasks import ObjectState, TaskInstance, WorldState
from envs.tasks.chains import sample_chain

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


def test_a_chain_link_that_undoes_an_earlier_ones_work_is_where_the_chain_broke() -> None:
    tasks = sample_chain(1)  # link 1 pushes the blue block to the front, link 2 puts the orange one in a bowl
    rest = _rest(tasks)
    # Nothing has moved: every atom of link 1 fails. Seen after link 2, each counts as undone unless
    # link 2 moved one of its objects (then changing it was link 2's job, not a breakage).
    undid = undone(tasks, 1, rest)
    moved = {a[1] for a in tasks[1].goal}
    expected = [a for a in tasks[0].goal if not set(a[1:]) & moved]
    assert expected and len(undid) == len(expected)
    # chain 0 moves the yellow block again in link 2: its link-1 atom may change, no breakage
    chain0 = sample_chain(0)
    assert {a[1] for a in chain0[0].goal} <= {a[1] for a in chain0[1].goal} and undone(chain0, 1, _rest(chain0)) == []
    for atom, why in zip(expected, undid, strict=True):
        assert why.startswith(f"{format_atom(atom)} (link 1, {tasks[0].instruction!r}) no longer holds")
    assert undone(tasks, 0, rest) == []  # the first link has nothing before it


def _rest(tasks: list[TaskInstance]) -> WorldState:
    """The chain's scene as it was set out: nothing moved."""
    return WorldState({o.name: ObjectState(o, (o.pos[0], o.pos[1], 0.0), o.yaw) for o in tasks[0].scene.objects})
