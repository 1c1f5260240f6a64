"""Golden outputs of a learned policy: a small committed checkpoint, committed camera frames, and the exact
chunk of actions it must predict for them.

The frames are the perception golden case ``stacked`` (tests/perception/golden); the checkpoint is a
small seeded network (``golden/learned_pick``). A change of the preprocessing (resize, scaling, the
order of the features) or of the model's forward pass alters the chunk and fails here, while a
retrained policy does not. Regenerate after an intended change (review the diff of expected.json)::

    .venv/bin/python tests/policies/test_learned_golden.py --regenerate
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from policies.learned.checkpoint import save_checkpoint  # noqa: E402
from policies.learned.model import PolicyConfig, VisuomotorPolicy  # noqa: E402
from policies.learned.rollout import LearnedPolicy  # noqa: E402

HERE = Path(__file__).parent
CHECKPOINT = HERE / "golden" / "learned_pick"
EXPECTED = HERE / "golden" / "learned_pick_expected.json"
FRAMES = HERE.parent / "perception" / "golden" / "stacked.npz"
TARGET = np.array([0.5, 0.05, 0.0225, 0.045, 0.045, 0.045], dtype=np.float32)


def golden_obs() -> dict[str, Any]:
    with np.load(FRAMES) as z:
        return {
            "rgb": {c: z[f"rgb_{c}"] for c in ("front", "top")},
            "proprio": {
                "ee_pos": z["proprio_ee_pos"],
                "ee_yaw": z["proprio_ee_yaw"],
                "gripper_width": z["proprio_gripper_width"],
                "joint_pos": np.zeros(9),  # the frames keep no joints; the policy's vector does not use them
            },
        }


def predict() -> dict[str, list[list[float]] | list[float]]:
    actions, over = LearnedPolicy.load(CHECKPOINT).predict(golden_obs(), TARGET)
    return {"actions": actions.round(6).tolist(), "over": over.round(6).tolist()}


def test_the_policy_predicts_the_golden_chunk() -> None:
    expected = json.loads(EXPECTED.read_text())
    got = predict()
    assert np.allclose(got["actions"], expected["actions"], atol=1e-4)
    assert np.allclose(got["over"], expected["over"], atol=1e-4)


def test_the_golden_checkpoint_stays_small() -> None:
    assert sum(p.stat().st_size for p in CHECKPOINT.iterdir()) < 100_000


def regenerate() -> None:
    torch.manual_seed(0)
    model = VisuomotorPolicy(PolicyConfig(skill="pick", chunk=4, channels=8, hidden=32))
    save_checkpoint(CHECKPOINT, model, {"note": "seeded, untrained: a golden file for tests"})
    EXPECTED.write_text(json.dumps(predict(), indent=1) + "\n")
    print(f"wrote {CHECKPOINT} and {EXPECTED}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regenerate", action="store_true", help="rewrite the checkpoint and the expected chunk")
    if parser.parse_args().regenerate:
        regenerate()
    else:
        sys.exit(pytest.main([__file__, "-q"]))
