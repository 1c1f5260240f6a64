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


def _seen(
    colour: str, size_class: str, xyz: tuple[float, float, float], edge: float, top_seen: bool = True
) -> Hypothesis:
    """A block seen at ``xyz``, measured as ``size_class`` (from its side when not ``top_seen``: lifted, tilted)."""
    s = {"small": 0.035, "medium": 0.045, "large": 0.055}[size_class]
    return Hypothesis(colour, "block", size_class, xyz, (s, s, s), edge, 1.0, 1.0, top_seen)


def _names(out: list[tuple[str, Hypothesis]]) -> list[str]:
    return [n for n, _ in out]


def test_a_block_lifted_between_frames_many_steps_apart_keeps_its_name() -> None:
    """A skill perceives before a pick and after the lift: the block rose 12 cm and now measures medium."""
    tracker = Tracker()
    green = _seen("green", "small", (0.38, 0.11, 0.017), 0.033)
    first = tracker.update([_seen("blue", "small", (0.46, -0.04, 0.017), 0.033), green], step=0)
    assert _names(first) == ["small blue block", "small green block"]
    lifted = _seen("blue", "medium", (0.45, -0.02, 0.14), 0.044, top_seen=False)
    assert _names(tracker.update([lifted, green], step=63)) == ["small blue block", "small green block"]
    put_down = _seen("blue", "large", (0.40, 0.25, 0.027), 0.05, top_seen=False)  # carried away and tilted
    assert _names(tracker.update([put_down, green], step=140)) == ["small blue block", "small green block"]


def test_a_far_jump_in_one_step_is_another_object() -> None:
    """Frame by frame nothing moves 24 cm: a same-coloured block there (the first one now hidden) is another."""
    tracker = Tracker()
    tracker.update([_seen("blue", "small", (0.46, -0.04, 0.017), 0.033)], step=10)
    ((name, _),) = tracker.update([_seen("blue", "small", (0.46, 0.2, 0.017), 0.034)], step=11)
    assert name == "blue block"


def test_the_name_survives_size_class_flips_while_carried_frame_by_frame() -> None:
    tracker = Tracker()
    resting = _seen("blue", "medium", (0.6, 0.1, 0.0225), 0.045)
    assert sorted(_names(tracker.update([_seen("blue", "small", (0.4, 0.0, 0.017), 0.035), resting]))) == [
        "blue block",
        "small blue block",
    ]
    for k in range(12):  # lifted 2 cm a frame, seen from the side: small, medium, large, small, ...
        size = ("small", "medium", "large")[k % 3]
        edge = {"small": 0.034, "medium": 0.046, "large": 0.056}[size]
        held = _seen("blue", size, (0.4, 0.0, 0.04 + 0.02 * k), edge, top_seen=False)
        assert _names(tracker.update([held, resting])) == ["small blue block", "blue block"]


def test_a_new_block_of_a_tracked_colour_never_takes_a_held_name() -> None:
    tracker = Tracker()
    tracker.update([_seen("blue", "small", (0.46, -0.04, 0.017), 0.034)], step=0)
    lifted = _seen("blue", "medium", (0.46, -0.04, 0.16), 0.045, top_seen=False)
    uncovered = _seen("blue", "small", (0.7, 0.3, 0.017), 0.035)  # was hidden; measures the held name's size
    out = tracker.update([uncovered, lifted], step=60)
    assert _names(out) == ["blue block", "small blue block"]
    out = tracker.update([uncovered], step=61)  # the lifted one is hidden in the hand: still not its name
    assert _names(out) == ["blue block"]


def test_blocks_lost_and_found_again_take_the_names_last_seen_nearest() -> None:
    tracker = Tracker()
    a, b = _seen("red", "small", (0.4, 0.0, 0.017), 0.035), _seen("red", "large", (0.6, 0.2, 0.027), 0.055)
    for step in range(3):
        tracker.update([a, b], step=step)
    for step in range(3, 5):
        tracker.update([], step=step)  # both hidden by the arm, then both pushed 20 cm
    # Seen again from the side, each measuring the other's size class: the names go by where they were.
    out = tracker.update(
        [
            _seen("red", "large", (0.4, -0.2, 0.027), 0.05, False),
            _seen("red", "small", (0.75, 0.3, 0.017), 0.04, False),
        ],
        step=5,
    )
    assert _names(out) == ["small red block", "large red block"]


def test_reset_frees_every_name() -> None:
    tracker = Tracker()
    tracker.update([_seen("blue", "small", (0.46, -0.04, 0.017), 0.034)], step=0)
    tracker.reset()
    ((name, _),) = tracker.update([_seen("blue", "medium", (0.46, -0.04, 0.022), 0.045)], step=0)
    assert name == "blue block"
