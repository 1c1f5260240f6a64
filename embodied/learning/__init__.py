"""Demonstrations and learned skills: record LeRobot v3.0 datasets, replay them, train policies (docs/learning.md)."""
