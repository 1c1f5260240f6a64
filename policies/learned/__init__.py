"""Learned skill policies: a torch visuomotor policy trained on recorded demonstrations (docs/learning.md).

Importing this package does not import torch (the modules below do), so the skill registry can check a
``--policy`` option against :data:`LEARNABLE_SKILLS` without loading it.
"""

#: Skills a learned policy can back (their call's target is what the policy is conditioned on).
LEARNABLE_SKILLS = ("pick", "place")
