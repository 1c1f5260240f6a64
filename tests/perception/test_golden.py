"""Golden files: committed camera frames and the exact text ``describe()`` must give for them.

Each case is ``golden/<case>.npz`` (rgb and depth of both cameras at 320x240, their ``K`` and
``cam_to_world``, and the proprioception) with ``golden/<case>.txt``, the expected
``describe(VisionPerceiver().perceive(obs, info))``. The frames are inputs, not outputs: a change
of the perceiver that alters the text fails here, and a change of the renderer does not.

Regenerate after an intended change of the perceiver or describe() (review the diff of the
.txt files; the ground-truth text is printed beside each for comparison)::

    .venv/bin/python tests/perception/test_golden.py --regenerate          # text only
    .venv/bin/python tests/perception/test_golden.py --regenerate --frames # re-render the frames too
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from perception.describe import describe
from perception.vision import VisionPerceiver

GOLDEN = Path(__file__).parent / "golden"
CASES = ("stacked", "block_in_same_colour_bowl", "holding_near_bin")
CAMERAS = ("front", "top")
PROPRIO = ("ee_pos", "ee_quat", "ee_yaw", "gripper_width")


def save_frames(path: Path, obs: dict[str, Any], info: dict[str, Any]) -> None:
    """Write the perceiver's inputs (no segmentation) as a compressed ``.npz``."""
    arrays: dict[str, np.ndarray] = {}
    for cam in CAMERAS:
        arrays[f"rgb_{cam}"] = obs["rgb"][cam]
        arrays[f"depth_{cam}"] = obs["depth"][cam].astype(np.float32)
        arrays[f"K_{cam}"] = np.asarray(info["cameras"][cam]["K"])
        arrays[f"cam_to_world_{cam}"] = np.asarray(info["cameras"][cam]["cam_to_world"])
    for key in PROPRIO:
        arrays[f"proprio_{key}"] = np.asarray(obs["proprio"][key])
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def load_frames(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(obs, info)`` as the env would give them, from a golden ``.npz``."""
    with np.load(path) as z:
        obs: dict[str, Any] = {
            "rgb": {c: z[f"rgb_{c}"] for c in CAMERAS},
            "depth": {c: z[f"depth_{c}"] for c in CAMERAS},
            "proprio": {k: z[f"proprio_{k}"] for k in PROPRIO},
        }
        info = {"cameras": {c: {"K": z[f"K_{c}"], "cam_to_world": z[f"cam_to_world_{c}"]} for c in CAMERAS}}
    return obs, info


@pytest.mark.parametrize("case", CASES)
def test_describe_matches_golden_text(case: str) -> None:
    obs, info = load_frames(GOLDEN / f"{case}.npz")
    expected = (GOLDEN / f"{case}.txt").read_text().strip()
    assert describe(VisionPerceiver().perceive(obs, info)) == expected


@pytest.mark.parametrize("case", CASES)
def test_golden_files_stay_small(case: str) -> None:
    assert (GOLDEN / f"{case}.npz").stat().st_size < 300_000


# ----------------------------------------------------------------------------- regeneration
def _render(case: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Render a golden case: ``(obs, info, ground-truth description)``."""
    import gymnasium as gym

    import envs  # noqa: F401
    from perception.ground_truth import scene_from_world

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import IMAGE_SIZE, grasp_and_lift, stack_blocks

    task, seed = {"stacked": ("tower", 4), "block_in_same_colour_bowl": ("sort_by_colour", 2)}.get(
        case, ("clear_table", 5)
    )
    env = gym.make("embodied/Tabletop-v0", task=task, seed=seed, image_size=IMAGE_SIZE, terminate_on_success=False)
    obs, info = env.reset()
    u = env.unwrapped
    state = u.world_state()  # type: ignore[attr-defined]
    blocks = sorted(n for n, o in state.objects.items() if o.spec.kind == "block")
    if case == "stacked":
        obs, info = stack_blocks(env, blocks[0], blocks[1])
    elif case == "block_in_same_colour_bowl":
        block = blocks[0]
        bowl = state.get(f"{state.get(block).spec.colour} bowl")
        u.set_object_pose(block, (bowl.pos[0] + 0.01, bowl.pos[1] - 0.01, 0.0065))  # type: ignore[attr-defined]
        obs, _, _, _, info = env.step(np.array([0.0, 0.0, 0.0, 0.0, -1.0]))
    else:
        obs, info = grasp_and_lift(env, obs, blocks[0])
    truth = describe(scene_from_world(u.world_state(), obs["proprio"]))  # type: ignore[attr-defined]
    env.close()
    return obs, info, truth


def regenerate(frames: bool) -> None:
    """Rewrite the expected texts (and, with ``frames``, the frames) of every case."""
    GOLDEN.mkdir(exist_ok=True)
    for case in CASES:
        npz = GOLDEN / f"{case}.npz"
        if frames or not npz.exists():
            obs, info, truth = _render(case)
            save_frames(npz, obs, info)
            print(f"{case}: ground truth\n  {truth}")
        obs, info = load_frames(npz)
        text = describe(VisionPerceiver().perceive(obs, info))
        (GOLDEN / f"{case}.txt").write_text(text + "\n")
        print(f"{case}: vision ({npz.stat().st_size // 1024} KB)\n  {text}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate the golden files of the perception tests.")
    parser.add_argument("--regenerate", action="store_true", help="rewrite golden/*.txt from golden/*.npz")
    parser.add_argument("--frames", action="store_true", help="also re-render golden/*.npz from the env")
    args = parser.parse_args()
    if not args.regenerate:
        parser.error("nothing to do: pass --regenerate (and --frames to re-render the frames)")
    regenerate(args.frames)
