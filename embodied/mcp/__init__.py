"""The robot as tools for any agent: an MCP server over the skill registry, and the other direction.

* :mod:`embodied.mcp.server` serves one live episode (env, perceiver, skills) to MCP clients over
  stdio or streamable HTTP (``embodied mcp serve``); :mod:`embodied.mcp.session` is that episode,
  with no MCP in it; :mod:`embodied.mcp.limits` holds what a client's call must pass before it
  reaches the robot; :mod:`embodied.mcp.data` marks what goes back as data.
* :mod:`embodied.mcp.remote` imports another MCP server's tools as skills
  (``embodied run --skills mcp:COMMAND``); it depends on nothing above the skills layer.

Nothing here imports the ``mcp`` package at import time except :mod:`~embodied.mcp.server` and
:mod:`~embodied.mcp.remote`, which raise :class:`~embodied.errors.DependencyNotInstalled` naming
the ``mcp`` extra when it is missing. See ``docs/mcp.md``.
"""

from __future__ import annotations
