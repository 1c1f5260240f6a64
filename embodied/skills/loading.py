"""User skills: load ``@skill`` functions from modules named on the command line or by entry points.

Two ways in, both ending in a list of :class:`~embodied.skills.Skill`:

* ``--skills my_pkg.my_skills`` (or a path to a ``.py`` file): :func:`load_skills` imports the
  module and collects every skill *defined* in it (skills it merely imports, such as the
  primitives, are left to their own module so nothing is registered twice);
* an installed package that declares an entry point in the ``embodied.skills`` group::

      [project.entry-points."embodied.skills"]
      wave = "my_pkg.my_skills:wave"        # one skill
      my_pkg = "my_pkg.my_skills"           # every skill defined in the module

  :func:`discover_entry_point_skills` loads them (a skill, a module, or a list of skills).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import types
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from embodied.errors import SkillDefinitionError, SkillLoadError
from embodied.skills.registry import Skill

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "embodied.skills"


def skills_in_module(module: types.ModuleType) -> list[Skill]:
    """The skills defined in ``module`` (in definition order), not those it imports."""
    found = [v for v in vars(module).values() if isinstance(v, Skill) and v.module == module.__name__]
    if not found:
        raise SkillLoadError(
            f"module {module.__name__!r} ({getattr(module, '__file__', '?')}) defines no skills: "
            "decorate functions with `@skill` from embodied.skills"
        )
    return found


def _import(path: str) -> types.ModuleType:
    """Import a dotted module path, or a ``.py`` file by its path."""
    file = Path(path)
    if path.endswith(".py") or file.is_file():
        if not file.is_file():
            raise SkillLoadError(f"skills file {path!r} does not exist")
        name = f"embodied_user_skills.{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise SkillLoadError(f"cannot import {path!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    return importlib.import_module(path)


def load_skills(module_paths: Iterable[str]) -> list[Skill]:
    """Import each module (``pkg.mod`` or ``path/to/file.py``) and return the skills defined in them;
    ``mcp:COMMAND`` imports the tools of the MCP server that COMMAND starts (:mod:`embodied.mcp.remote`).

    Raises:
        SkillDefinitionError: a module cannot be imported, defines no skill, or a skill in it is
            malformed (the error names the module and what to fix).
    """
    skills: list[Skill] = []
    for path in module_paths:
        if path.startswith("mcp:"):  # another MCP server's tools (docs/mcp.md)
            from embodied.mcp.remote import remote_skills

            skills.extend(remote_skills(path.removeprefix("mcp:")))
            continue
        try:
            module = _import(path)
        except (SkillDefinitionError, KeyboardInterrupt):
            raise
        except ImportError as e:
            raise SkillLoadError(
                f"cannot import skills module {path!r}: {e}. Put its folder on PYTHONPATH (or pass the .py file's path)"
            ) from e
        except BaseException as e:  # a sys.exit() in a user's module must not end the program
            raise SkillLoadError(f"importing skills module {path!r} failed: it {_failure(e)}") from e
        skills.extend(skills_in_module(module))
        log.info("loaded skills %s from %s", [s.name for s in skills], path)
    return skills


def _failure(error: BaseException) -> str:
    """What importing user code did instead of defining skills (``raised ValueError: ...``), for a message."""
    if isinstance(error, SystemExit):
        code = "" if error.code is None else repr(error.code)
        return (
            f"called sys.exit({code}); a skills module should only define skills "
            "(run script code under `if __name__ == '__main__':`)"
        )
    return f"raised {type(error).__name__}: {error}"


def _from_entry_point(ep: EntryPoint) -> list[Skill]:
    where = f"entry point {ep.name!r} = {ep.value!r} in group {ep.group!r}"
    try:
        obj: Any = ep.load()
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # a sys.exit() in an installed module must not end the program
        raise SkillLoadError(f"{where} failed to load: it {_failure(e)}") from e
    if isinstance(obj, Skill):
        return [obj]
    if isinstance(obj, types.ModuleType):
        return skills_in_module(obj)
    if isinstance(obj, list | tuple) and obj and all(isinstance(s, Skill) for s in obj):
        return list(obj)
    raise SkillLoadError(f"{where} must point at a @skill function, a list of them or a module; got {obj!r}")


def discover_entry_point_skills(group: str = ENTRY_POINT_GROUP) -> list[Skill]:
    """Skills that installed packages declare in the ``embodied.skills`` entry-point group."""
    skills: list[Skill] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        skills.extend(_from_entry_point(ep))
    return skills
