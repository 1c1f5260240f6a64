"""Learned skill policies: a torch visuomotor policy trained on recorded demonstrations (docs/learning.md)."""
