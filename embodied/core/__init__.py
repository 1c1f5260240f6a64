"""Core values of the agent loop: what a planner sees and answers, and checking goals from perception."""
