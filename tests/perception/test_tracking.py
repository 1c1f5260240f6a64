"""Tracker: names follow the env's convention, are unique per frame and stable across frames."""

from __future__ import annotations

from perception.fusion import Hypothesis
from perception.tracking import Tracker, object_name


def _hyp(colour: str, size_class: str, x: float, edge: float, conf: float = 1.0) -> Hypothesis:
    s = {"small": 0.035, "medium": 0.045, "large": 0.055}[size_class]
    return Hypothesis(colour, "block", size_class, (x, 0.0, s / 2), (s, s, s), edge, 1.0, conf)


def test_names_follow_env_convention() -> None:
    assert object_name("red", "block", "medium") == "red block"
    assert object_name("red", "block", "large") == "large red block"
    assert object_name("blue", "bowl") == "blue bowl"
    assert object_name("grey", "bin") == "bin"


def test_name_kept_when_a_partial_view_measures_another_size() -> None:
    tracker = Tracker()
    assert [n for n, _ in tracker.update([_hyp("red", "large", 0.5, 0.055)])] == ["large red block"]
    assert [n for n, _ in tracker.update([_hyp("red", "medium", 0.51, 0.047)])] == ["large red block"]


def test_same_colour_same_size_gets_the_nearest_free_size() -> None:
    names = [n for n, _ in Tracker().update([_hyp("red", "medium", 0.4, 0.046), _hyp("red", "medium", 0.6, 0.049)])]
    assert sorted(names) == ["large red block", "red block"]


def test_object_carried_out_of_sight_keeps_its_name() -> None:
    tracker = Tracker()
    tracker.update([_hyp("blue", "small", 0.4, 0.035), _hyp("red", "medium", 0.6, 0.045)])
    tracker.update([_hyp("red", "medium", 0.6, 0.045)])  # blue hidden by the arm
    out = tracker.update([_hyp("blue", "small", 0.1, 0.035), _hyp("red", "medium", 0.6, 0.045)])
    assert sorted(n for n, _ in out) == ["red block", "small blue block"]


def test_unsure_orange_yellow_takes_the_tracks_colour() -> None:
    tracker = Tracker()
    tracker.update([_hyp("orange", "medium", 0.5, 0.045)])
    ((name, hyp),) = tracker.update([_hyp("yellow", "medium", 0.5, 0.045, conf=0.4)])
    assert name == "orange block" and hyp.colour == "orange"


def test_a_block_that_has_not_moved_keeps_its_warm_colour_even_read_surely_as_the_other() -> None:
    """In the bin's shade a resting orange block can read as a well-exposed yellow one (clear_table seed 0)."""
    tracker = Tracker()
    for _ in range(3):
        tracker.update([_hyp("orange", "medium", 0.5, 0.045)])
    ((name, hyp),) = tracker.update([_hyp("yellow", "medium", 0.505, 0.045)])
    assert name == "orange block" and hyp.colour == "orange"


def test_a_sure_other_warm_colour_elsewhere_is_another_block() -> None:
    tracker = Tracker()
    for _ in range(3):
        tracker.update([_hyp("orange", "medium", 0.5, 0.045)])
    out = tracker.update([_hyp("orange", "medium", 0.5, 0.045), _hyp("yellow", "medium", 0.56, 0.045)])
    assert sorted(n for n, _ in out) == ["orange block", "yellow block"]
    fresh = Tracker()
    fresh.update([_hyp("orange", "medium", 0.5, 0.045)])  # seen once: not yet sure enough to overrule a colour
    ((name, _),) = fresh.update([_hyp("yellow", "medium", 0.5, 0.045)])
    assert name == "yellow block"


def test_a_one_frame_glitch_is_forgotten_and_frees_its_name() -> None:
    tracker = Tracker()
    tracker.update([_hyp("red", "medium", 0.5, 0.045)])  # seen once, then never again
    for _ in range(31):
        tracker.update([])
    assert tracker.tracks == [] and tracker.unseen() == []
    ((name, _),) = tracker.update([_hyp("red", "medium", 0.3, 0.046)])
    assert name == "red block"
