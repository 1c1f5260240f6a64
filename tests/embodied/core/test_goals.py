"""Goals that cannot hold are refused before anything moves."""

from __future__ import annotations

from embodied.core.goals import goal_problems


def test_possible_goals_have_no_problems():
    tower = (("on", "b", "a"), ("on", "c", "b"))
    assert goal_problems(tower) == []
    assert goal_problems((("in", "a", "bowl"), ("in", "b", "bowl"), ("in_region", "c", "front"))) == []


def test_an_object_on_itself_is_impossible():
    assert goal_problems((("on", "red block", "red block"),)) == [
        "on(red block, red block) asks for the red block to be on itself"
    ]


def test_loops_and_two_places_at_once_are_impossible():
    loop = goal_problems((("on", "a", "b"), ("on", "b", "c"), ("on", "c", "a")))
    assert loop == ["a -> b -> c -> a is a loop: each would rest on the next"]
    assert goal_problems((("on", "a", "b"), ("in", "a", "bowl"))) == [
        "the a cannot be both on/in the b and on/in the bowl"
    ]
