"""`embodied run --memory`, `embodied skills list|show|remove|export|import` and `embodied memory search|info`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embodied.cli import app
from embodied.core.decision import ToolCall
from embodied.memory import Memory, generalise
from embodied.skills.primitives import default_registry

runner = CliRunner()
STACK = "stack the red block on the blue block"


def _memory_with_a_skill(path):
    calls = [
        ToolCall("pick", {"object": "red block"}),
        ToolCall("place", {"object": "red block", "target": "blue block"}),
    ]
    program = generalise(STACK, calls, {"red block", "blue block"}, default_registry())
    assert program is not None
    with Memory(path, embedder="lexical") as memory:
        memory.store.put_skill(program.to_json(), program.key(), STACK)
        memory.store.add_episode(STACK, True, "goal verified", [c.__dict__ for c in calls], {"turns": 2})
    return program.name


@pytest.mark.slow
def test_run_twice_with_one_memory_file_reuses_the_learned_skill(tmp_path):
    memory = tmp_path / "memory.sqlite"
    args = ["run", "--task", "tower", "--seed", "0", "--perception", "ground_truth", "--no-video"]
    args += ["--out", str(tmp_path / "runs"), "--memory", str(memory), "--embedder", "lexical"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "memory learned" in first.output and "(new)" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "memory used" in second.output and "(merged)" in second.output
    listed = runner.invoke(app, ["skills", "list", "--memory", str(memory)])
    assert listed.exit_code == 0 and "1 skills" in listed.output and "2/2" in listed.output
    with Memory(memory, embedder="lexical") as stored:
        (skill,) = stored.store.skills()
    assert [s["skill"] for s in skill.program["steps"]] == ["pick", "place", "pick", "place"]


def test_a_run_cut_short_after_one_placement_learns_that_placement(tmp_path):
    memory = tmp_path / "memory.sqlite"
    args = ["run", "--task", "tower", "--seed", "0", "--perception", "ground_truth", "--no-video", "--max-steps"]
    args += ["150", "--out", str(tmp_path / "runs"), "--memory", str(memory), "--embedder", "lexical"]
    cut = runner.invoke(app, args)
    assert cut.exit_code == 1 and "truncated" in cut.output, cut.output
    assert "from the verified subgoal" in " ".join(cut.output.split())
    shown = runner.invoke(app, ["skills", "show", "pick_place_on", "--memory", str(memory)])
    assert shown.exit_code == 0 and "(subgoal, worked 1 of 1 times)" in shown.output, shown.output


def test_skills_show_remove_and_the_errors_that_list_valid_names(tmp_path):
    memory = tmp_path / "memory.sqlite"
    name = _memory_with_a_skill(memory)
    shown = runner.invoke(app, ["skills", "show", name, "--memory", str(memory)])
    assert shown.exit_code == 0 and "object=<object>, target=<target>" in shown.output and STACK in shown.output
    as_json = json.loads(runner.invoke(app, ["skills", "show", name, "--json", "--memory", str(memory)]).output)
    assert [s["skill"] for s in as_json["steps"]] == ["pick", "place"]
    missing = runner.invoke(app, ["skills", "show", "juggle", "--memory", str(memory)])
    assert missing.exit_code == 2 and "juggle" in missing.output and name in missing.output
    assert runner.invoke(app, ["skills", "remove", name, "--memory", str(memory)]).exit_code == 0
    again = runner.invoke(app, ["skills", "remove", name, "--memory", str(memory)])
    assert again.exit_code == 2 and "none" in again.output


def test_export_then_import_restores_the_skills_and_rejects_what_does_not_fit(tmp_path):
    memory, other = tmp_path / "memory.sqlite", tmp_path / "other.sqlite"
    name = _memory_with_a_skill(memory)
    exported = tmp_path / "skills.json"
    assert runner.invoke(app, ["skills", "export", str(exported), "--memory", str(memory)]).exit_code == 0
    document = json.loads(exported.read_text())
    assert document["format"] == "embodied-skills" and document["skills"][0]["name"] == name
    assert document["skills"][0]["examples"] == [STACK] and document["skills"][0]["successes"] == 1

    bad = json.loads(json.dumps(document["skills"][0]))
    bad["name"], bad["steps"][0]["skill"] = "teleport_twice", "teleport"
    document["skills"].append(bad)
    exported.write_text(json.dumps(document))
    imported = runner.invoke(app, ["skills", "import", str(exported), "--memory", str(other)])
    assert imported.exit_code == 1, imported.output
    assert "imported 1 new" in imported.output and "teleport_twice" in imported.output and "teleport" in imported.output
    with Memory(other, embedder="lexical") as restored:
        (skill,) = restored.store.skills()
    assert skill.name == name and skill.examples == (STACK,) and skill.successes == 1

    again = runner.invoke(app, ["skills", "import", str(exported), "--memory", str(other)])
    assert "merged 1" in again.output
    with Memory(other, embedder="lexical") as restored:
        assert restored.store.skill(name).successes == 1  # importing the same export again counts nothing twice


def test_import_of_a_file_that_is_not_an_export_is_a_clear_error(tmp_path):
    memory = tmp_path / "memory.sqlite"
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    result = runner.invoke(app, ["skills", "import", str(junk), "--memory", str(memory)])
    assert result.exit_code == 2 and "not JSON" in result.output
    junk.write_text(json.dumps({"skills": []}))
    result = runner.invoke(app, ["skills", "import", str(junk), "--memory", str(memory)])
    assert result.exit_code == 2 and "embodied-skills" in result.output


def test_memory_search_and_info(tmp_path):
    memory = tmp_path / "memory.sqlite"
    name = _memory_with_a_skill(memory)
    found = runner.invoke(
        app, ["memory", "search", "stacking blocks", "--memory", str(memory), "--embedder", "lexical"]
    )
    assert found.exit_code == 0 and "skill" in found.output and "episode" in found.output
    only = runner.invoke(
        app, ["memory", "search", "stack", "--kind", "episode", "--memory", str(memory), "--embedder", "lexical"]
    )
    assert "episode" in only.output and name not in only.output
    bad = runner.invoke(app, ["memory", "search", "stack", "--kind", "dreams", "--memory", str(memory)])
    assert bad.exit_code == 2 and "skill, episode, reflection, fact" in bad.output
    info = runner.invoke(app, ["memory", "info", "--memory", str(memory)])
    assert info.exit_code == 0 and "skills" in info.output and str(memory.name) in info.output


def test_a_memory_path_that_is_not_a_memory_file_is_refused_and_left_untouched(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\n" * 100)
    result = runner.invoke(
        app, ["run", "--task", "stack", "--no-video", "--memory", str(notes), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "not a usable embodied memory file" in result.output
    assert notes.read_text() == "my precious notes\n" * 100
    listed = runner.invoke(app, ["skills", "list", "--memory", str(notes)])
    assert listed.exit_code == 2


@pytest.mark.slow
def test_run_without_memory_reads_and_writes_no_memory_file(tmp_path, monkeypatch):
    memory = tmp_path / "memory.sqlite"
    monkeypatch.setenv("EMBODIED_MEMORY", str(memory))
    args = ["run", "--task", "stack", "--seed", "3", "--perception", "ground_truth", "--no-video", "--no-memory"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "episodes")])
    assert result.exit_code == 0, result.output
    assert "memory " not in result.output and "memory used" not in result.output and not memory.exists()


# ---------------------------------------------------------------------- damaged memory files (issue 14 case 6)
DAMAGED_PAGES = ("skills", "sqlite_autoindex_skills_1", "sqlite_autoindex_skills_2", "episodes", "reflections")
DAMAGED_PAGES += ("facts", "documents", "documents_fts_data", "documents_fts_idx")


def flat(text: str) -> str:
    return " ".join(text.split())


def damaged_memory(path):
    """A memory file that opens (header and schema intact) but whose every table is damaged."""
    from tests.embodied.memory.test_damaged_files import damage, filled_memory

    damage(filled_memory(path), *DAMAGED_PAGES)
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["skills", "list"],
        ["skills", "show", "stack_on_1"],
        ["skills", "show", "no_such_skill"],
        ["skills", "remove", "stack_on_1"],
        ["memory", "search", "stack the red block", "--embedder", "lexical"],
        ["memory", "info"],
    ],
)
def test_a_damaged_memory_file_is_a_usage_error_saying_what_to_do(tmp_path, command):
    memory = damaged_memory(tmp_path / "memory.sqlite")
    before = memory.read_bytes()
    result = runner.invoke(app, [*command, "--memory", str(memory)])
    assert result.exit_code == 2, result.output
    said = flat(result.output)
    assert said.startswith("error: the memory file") and "is damaged" in said and "--no-memory" in said
    assert memory.read_bytes() == before


def test_the_no_such_skill_help_on_a_damaged_file_is_a_usage_error(tmp_path):
    """Looking the name up uses the intact index; listing the stored names for the help reads the damaged table."""
    from tests.embodied.memory.test_damaged_files import damage, filled_memory

    memory = filled_memory(tmp_path / "memory.sqlite")
    damage(memory, "skills")
    result = runner.invoke(app, ["skills", "show", "no_such_skill", "--memory", str(memory)])
    assert result.exit_code == 2, result.output
    assert "is damaged" in flat(result.output)


@pytest.mark.slow
def test_run_with_a_damaged_memory_file_carries_on_without_memory(tmp_path):
    memory = damaged_memory(tmp_path / "memory.sqlite")
    args = ["run", "--task", "stack", "--seed", "3", "--perception", "ground_truth", "--no-video"]
    result = runner.invoke(app, [*args, "--memory", str(memory), "--embedder", "lexical", "--out", str(tmp_path / "o")])
    assert result.exit_code in (0, 1), result.output
    assert f"memory{memory}(lexical" in "".join(result.output.split())  # the header, without a count of skills
    (folder,) = (tmp_path / "o").iterdir()
    assert json.loads((folder / "episode.json").read_text())["interrupted"] is False


def test_the_no_memory_hint_is_given_once(tmp_path):
    """The store's message for a damaged file already says --no-memory; for a file that is not ours, run adds it."""
    from tests.embodied.memory.test_damaged_files import filled_memory

    damaged = filled_memory(tmp_path / "memory.sqlite")
    with damaged.open("r+b") as f:  # every page past the first: refused when opened
        f.seek(4096)
        rest = len(f.read())
        f.seek(4096)
        f.write(b"\xa5" * rest)
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\n" * 100)
    for memory in (damaged, notes):
        result = runner.invoke(
            app, ["run", "--task", "stack", "--no-video", "--memory", str(memory), "--out", str(tmp_path)]
        )
        assert result.exit_code == 2, result.output
        assert flat(result.output).count("--no-memory") == 1, result.output
