"""Recording an episode: ``video.mp4``, ``trace.jsonl`` (and its schema), ``episode.json`` and ``report.html``."""
