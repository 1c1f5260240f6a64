"""`skills export|import` files: validated counts and nesting, only documented errors, idempotent imports."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embodied.core.decision import ToolCall
from embodied.errors import MemoryStoreError, ProgramError
from embodied.memory import MemoryStore, generalise
from embodied.memory.transfer import FORMAT, VERSION, export_skills, import_skills
from embodied.skills.primitives import default_registry

STACK = "stack the red block on the blue block"


def stack_entry(**overrides: Any) -> dict[str, Any]:
    calls = [
        ToolCall("pick", {"object": "red block"}),
        ToolCall("place", {"object": "red block", "target": "blue block"}),
    ]
    program = generalise(STACK, calls, {"red block", "blue block"}, default_registry())
    assert program is not None
    return {**program.to_json(), "examples": [STACK], "successes": 3, "failures": 1, **overrides}


def write_export(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "skills": list(entries)}))
    return path


@pytest.fixture
def store(tmp_path: Path):
    with MemoryStore(tmp_path / "memory.sqlite") as s:
        yield s


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("successes", 10**30, "successes must be a whole number from 0 to 9223372036854775807"),
        ("failures", 2**63, "failures must be a whole number from 0 to 9223372036854775807"),
        ("successes", -1, "successes must be a whole number from 0"),
        ("failures", 1.5, "failures must be a whole number from 0"),
        ("successes", True, "successes must be a whole number from 0"),
        ("examples", 5, "examples must be a list of instructions"),
        ("examples", [STACK, 7], "examples must be a list of instructions"),
    ],
)
def test_bad_counts_and_examples_reject_that_skill_by_name_and_the_others_land(store, tmp_path, field, value, expected):
    good = stack_entry(name="good_one", steps=[*stack_entry()["steps"], {"skill": "look", "arguments": {}}])
    path = write_export(tmp_path / "skills.json", stack_entry(**{field: value}), good)
    report = import_skills(store, path, default_registry())
    assert [name for name, _ in report.rejected] == [stack_entry()["name"]]
    assert expected in report.rejected[0][1] and repr(value)[:20] in report.rejected[0][1]
    assert report.created == ["good_one"] and [s.name for s in store.skills()] == ["good_one"]


def test_the_largest_count_sqlite_holds_is_imported(store, tmp_path):
    path = write_export(tmp_path / "skills.json", stack_entry(successes=2**63 - 1))
    assert import_skills(store, path, default_registry()).created
    assert store.skills()[0].successes == 2**63 - 1


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_refused_with_a_clear_error(store, tmp_path, depth):
    path = tmp_path / "skills.json"
    nested = "[" * depth + "]" * depth
    path.write_text(f'{{"format": "{FORMAT}", "version": {VERSION}, "skills": [{{"name": "x", "deep": {nested}}}]}}')
    with pytest.raises(ProgramError) as excinfo:
        import_skills(store, path, default_registry())
    message = str(excinfo.value)
    assert str(path) in message and "nested" in message and "levels" in message, message
    assert store.skills() == []


def test_importing_the_same_export_again_changes_no_count(store, tmp_path):
    path = write_export(tmp_path / "skills.json", stack_entry(successes=3, failures=1))
    for _ in range(3):
        import_skills(store, path, default_registry())
    (stored,) = store.skills()
    assert (stored.successes, stored.failures) == (3, 1) and stored.examples == (STACK,)

    exported = export_skills(store, tmp_path / "again.json")
    assert exported == 1
    report = import_skills(store, tmp_path / "again.json", default_registry())
    assert report.merged == [stored.name]
    assert (store.skills()[0].successes, store.skills()[0].failures) == (3, 1)


def test_an_import_merged_into_a_stored_skill_keeps_the_larger_counts(store, tmp_path):
    entry = stack_entry(successes=3, failures=1)
    store.put_skill({**entry, "name": "mine"}, "ignored", counts=None)  # another key: not the same skill
    name, _ = store.put_skill(entry, _key(entry), STACK, counts=(5, 0))
    path = write_export(tmp_path / "skills.json", stack_entry(successes=3, failures=2, examples=["tower of two"]))
    report = import_skills(store, path, default_registry())
    assert report.merged == [name]
    stored = store.skill(name)
    assert stored is not None and (stored.successes, stored.failures) == (5, 2)
    assert stored.examples == (STACK, "tower of two")


def _key(entry: dict[str, Any]) -> str:
    from embodied.memory import Program

    return Program.from_json(entry).key()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


@st.composite
def mangled_entries(draw: st.DrawFn) -> Any:
    entry = stack_entry()
    for key in draw(st.lists(st.sampled_from([*entry, "extra"]), max_size=3, unique=True)):
        entry[key] = draw(json_values | st.integers(min_value=-(2**80), max_value=2**80))
    return draw(st.just(entry) | json_values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(mangled_entries(), max_size=3))
def test_any_export_file_imports_or_fails_only_with_documented_errors(tmp_path, entries):
    with MemoryStore(tmp_path / "fuzz.sqlite") as store:
        path = write_export(tmp_path / "skills.json", *entries)
        with contextlib.suppress(ProgramError, MemoryStoreError):  # the two documented errors, and no other
            import_skills(store, path, default_registry())
        assert store.integrity_check() == "ok"
