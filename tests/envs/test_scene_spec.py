"""Facts of the arena every package shares: named regions and the table's rest tolerance."""

from __future__ import annotations

import pytest

from envs.scene_spec import REGIONS, in_region


@pytest.mark.parametrize(
    ("position", "region", "margin", "expected"),
    [
        ((0.5, 0.25), "left side", 0.0, True),
        ((0.5, 0.17, 0.3), "left side", 0.0, True),  # on the edge counts; the height is not looked at
        ((0.5, 0.169), "left side", 0.0, False),
        ((0.5, 0.18), "left side", 0.02, False),  # inside the region, but not 2 cm inside
        ((0.5, 0.19), "left side", 0.02, True),
        ((0.36, 0.0), "front", 0.0, True),
        ((0.36, 0.0), "front", 0.07, False),
    ],
)
def test_in_region_shrinks_by_the_margin_and_keeps_edges(position, region, margin, expected):
    assert in_region(position, region, margin) is expected


def test_unknown_region_names_the_valid_ones():
    with pytest.raises(KeyError, match="regions are") as err:
        in_region((0.5, 0.0), "middle")
    assert all(name in str(err.value) for name in REGIONS)
