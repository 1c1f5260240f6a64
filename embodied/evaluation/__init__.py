"""Evaluation at scale: suites of seeded episodes, parallel runners, and reports."""

from __future__ import annotations
