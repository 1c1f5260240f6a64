"""User skills from a module path, a .py file, and the `embodied.skills` entry-point group."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from embodied.errors import SkillDefinitionError, SkillLoadError
from embodied.skills.loading import discover_entry_point_skills, load_skills
from embodied.skills.primitives import default_registry
from embodied.skills.registry import SkillContext, SkillRegistry
from perception.ground_truth import GroundTruthPerceiver

USER_MODULE = textwrap.dedent(
    '''
    from __future__ import annotations

    from embodied.skills.primitives import move_to  # imported, not defined here: must not be collected again
    from embodied.skills.registry import SkillContext, SkillResult, skill
    from policies.motion import servo_to


    @skill
    def point_at(ctx: SkillContext, object: str, height: float = 0.12) -> SkillResult:
        """Point the closed gripper at an object from above.

        Args:
            object: name of a visible object.
            height: metres above the object's top.
        """
        obj = ctx.require_object(object)
        x, y, _ = obj.position
        result = servo_to(ctx.driver, (x, y, obj.top + height))
        return SkillResult(result.success, f"pointing at the {object}" if result.success else result.message)
    '''
)


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    pkg = tmp_path / "acme_skills"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "pointing.py").write_text(USER_MODULE)
    (pkg / "empty.py").write_text("X = 1\n")
    (pkg / "broken.py").write_text(USER_MODULE.replace("height: metres above the object's top.", ""))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("acme_skills")]:
        del sys.modules[name]


def test_load_skills_from_module_path_and_call_it(user_dir, make_env):
    (point_at,) = load_skills(["acme_skills.pointing"])
    assert point_at.name == "point_at"
    assert point_at.parameters["properties"]["height"]["default"] == 0.12
    registry = default_registry()
    registry.extend([point_at])
    env = make_env(task="stack", modalities=(), terminate_on_success=False)
    ctx = SkillContext.reset(env, GroundTruthPerceiver(env), seed=0)
    block = env.unwrapped.task.goal[0][1]
    r = registry.call("point_at", {"object": block}, ctx)
    assert r.success, r.message
    bx, by, _ = env.unwrapped.world_state().get(block).pos
    ee = ctx.obs["proprio"]["ee_pos"]
    assert abs(ee[0] - bx) < 0.01 and abs(ee[1] - by) < 0.01
    assert not registry.call("point_at", {"object": "unicorn"}, ctx).success


def test_load_skills_from_file_path(user_dir):
    skills = load_skills([str(user_dir / "acme_skills" / "pointing.py")])
    assert [s.name for s in skills] == ["point_at"]


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("acme_skills.missing", "cannot import skills module 'acme_skills.missing'.*PYTHONPATH"),
        ("acme_skills.empty", "defines no skills"),
        ("acme_skills.broken", "argument 'height': document it"),
        ("/no/such/file.py", "does not exist"),
    ],
)
def test_load_errors_say_what_to_fix(user_dir, path, match):
    with pytest.raises(SkillDefinitionError, match=match):
        load_skills([path])


def test_entry_point_discovery(user_dir, monkeypatch):
    dist = user_dir / "acme_skills-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-skills\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[embodied.skills]\npoint = acme_skills.pointing:point_at\nwhole = acme_skills.pointing\n"
    )
    found = discover_entry_point_skills()
    assert [s.name for s in found] == ["point_at", "point_at"]  # one by attribute, one by module
    (dist / "entry_points.txt").write_text("[embodied.skills]\nbad = acme_skills.pointing:USER_MODULE_MISSING\n")
    with pytest.raises(SkillDefinitionError, match="entry point 'bad'"):
        discover_entry_point_skills()


def test_no_entry_points_is_an_empty_list():
    assert discover_entry_point_skills(group="embodied.skills.none-here") == []


def test_the_documented_example_skill_loads_and_runs(tmp_path, make_env):
    """The example in docs/skills.md, written to a temp dir and loaded by file path, really works."""
    doc = (Path(__file__).parents[3] / "docs" / "skills.md").read_text()
    example = next(block for block in doc.split("```python")[1:] if "@skill" in block).split("```")[0]
    path = tmp_path / "doc_pointing.py"
    path.write_text(example)
    (point_at,) = load_skills([str(path)])
    assert point_at.parameters["properties"]["side"]["enum"] == ["above", "beside"]
    env = make_env(task="stack", modalities=(), terminate_on_success=False)
    ctx = SkillContext.reset(env, GroundTruthPerceiver(env), seed=1)
    block = env.unwrapped.task.goal[0][1]
    r = SkillRegistry([point_at]).call("point_at", {"object": block, "side": "beside"}, ctx)
    assert r.success, r.message
    assert "--skills" in doc and '[project.entry-points."embodied.skills"]' in doc


@pytest.mark.parametrize(
    ("body", "did"),
    [
        ("import sys\nsys.exit(0)\n", "called sys.exit(0); a skills module should only define skills"),
        ("raise SystemExit('bye')\n", "called sys.exit('bye')"),
        ("import sys\nsys.exit()\n", "called sys.exit();"),
        ("raise RuntimeError('no robot')\n", "raised RuntimeError: no robot"),
    ],
)
@pytest.mark.parametrize("by", ["file", "module"])
def test_a_skills_module_that_exits_or_fails_at_import_is_a_load_error(user_dir, body, did, by):
    file = user_dir / "acme_skills" / "quits.py"
    file.write_text(body)
    path = str(file) if by == "file" else "acme_skills.quits"
    with pytest.raises(SkillLoadError) as raised:
        load_skills([path])
    assert f"importing skills module {path!r} failed: it {did}" in str(raised.value)


def test_ctrl_c_while_a_skills_module_is_imported_is_not_a_load_error(user_dir):
    (user_dir / "acme_skills" / "slow.py").write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_skills(["acme_skills.slow"])


def test_run_with_a_skills_module_that_exits_is_a_usage_error(user_dir, tmp_path):
    """It used to end `embodied run` silently with exit 0."""
    from typer.testing import CliRunner

    from embodied.cli import app

    (user_dir / "acme_skills" / "quits.py").write_text("import sys\nsys.exit(0)\n")
    args = ["run", "--skills", str(user_dir / "acme_skills" / "quits.py"), "--no-memory", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "failed: it called sys.exit(0)" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()
