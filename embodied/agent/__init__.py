"""The agent: the composition root that runs perceive -> decide -> act -> verify -> reflect."""
