"""`embodied skills import FILE` with fuzzed JSON, and the same export imported three times.

The files are a real export (see the conftest) with fields replaced by huge integers (``10**30``),
negative or non-finite numbers, wrong types and unicode; arbitrary JSON; JSON nested thousands of
levels deep; bytes that are not UTF-8. Whatever the file: exit 0/1/2, no crash, and the memory can
still be listed afterwards. Importing one export again and again changes nothing after the first
time (no tripled counts, no numbered copies).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.robustness._strategies import characters, hostile_text, json_values
from tests.robustness._support import (
    Expect,
    check,
    example_dir,
    examples,
    expect_exit,
    invoke,
    snapshot,
    surveyed,
    time_limit,
)

FIELDS = ("name", "description", "parameters", "steps", "examples", "successes", "failures")
odd_values = st.one_of(
    st.sampled_from([10**30, -(10**30), 2**63, 2**63 - 1, -1, 0, 1.5, float("nan"), float("inf"), True, None]),
    st.sampled_from(["", "[/]", "x" * 100_000, [], {}, [[[]]], {"$param": "[/]"}]),
    st.text(characters, max_size=30),
    hostile_text,
    json_values,
)


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a": ' * depth + "1" + "}" * depth


@st.composite
def mutated_export(draw: st.DrawFn, document: dict[str, Any]) -> str:
    """The export with some fields of some skills (or of the file) replaced by odd values."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(["skill", "skill", "skill", "step", "file", "extra_skill"]))
        if target == "file":
            doc[draw(st.sampled_from(["format", "version", "skills"]))] = draw(odd_values)
        elif target == "extra_skill":
            if isinstance(doc.get("skills"), list):
                doc["skills"].append(draw(json_values | odd_values))
        elif isinstance(doc.get("skills"), list) and doc["skills"] and isinstance(doc["skills"][0], dict):
            skill = doc["skills"][0]
            if target == "step" and isinstance(skill.get("steps"), list) and skill["steps"]:
                step = skill["steps"][0]
                if isinstance(step, dict):
                    step[draw(st.sampled_from(["skill", "arguments", "extra"]))] = draw(odd_values)
            else:
                skill[draw(st.sampled_from(FIELDS))] = draw(odd_values)
    return json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans()))


def import_files(document: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated_export(document).map(str.encode),
        json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
        st.tuples(st.sampled_from([40, 1000, 100_000]), st.sampled_from(["list", "object"])).map(
            lambda t: nested(*t).encode()
        ),
        st.tuples(st.sampled_from([40, 5000]), st.sampled_from(["list", "object"])).map(
            lambda t: ('{"format": "embodied-skills", "version": 1, "skills": [' + nested(*t) + "]}").encode()
        ),
        st.binary(max_size=300),
        st.just(b"\xef\xbb\xbf" + json.dumps(document).encode()),  # a BOM, as some editors write
    )


def fixed_file(name: str, export: dict[str, Any]) -> bytes:
    """The explicit examples: issue 14 case 7 (a huge count, deep nesting) and markup in a refused file."""
    skill = export["skills"][0]
    documents = {
        "huge_count": {**export, "skills": [{**skill, "successes": 10**30}]},
        "markup_version": {**export, "version": "[/x]"},
        "markup_name": {**export, "skills": [{**skill, "name": "[/]", "steps": "[bold"}]},
    }
    if name == "deep":
        return nested(100_000, "list").encode()
    return json.dumps(documents[name]).encode()


@time_limit(ci=60, fuzz=1800)
@examples(ci=40, fuzz=1500)
@given(data=st.data())
@example(data="huge_count")
@example(data="deep")
@example(data="markup_version")
@example(data="markup_name")
def test_import_fuzzed_files(scratch: Path, learned_memory: Path, skills_export: dict[str, Any], data: Any) -> None:
    if isinstance(data, str):
        content = fixed_file(data, skills_export)
    else:
        content = data.draw(import_files(skills_export), label="file")
    with example_dir(scratch) as folder:
        memory = Path(shutil.copy2(learned_memory, folder / "memory.sqlite"))
        file = folder / "skills.json"
        file.write_bytes(content)
        before = snapshot(memory)
        outcome = invoke(["skills", "import", str(file), "--memory", str(memory)])
        check(outcome, Expect(memory=memory, before=before))
        expect_exit(outcome, {0, 1, 2}, "an import succeeds, rejects skills (1) or refuses the file (2)")
        after = invoke(["skills", "list", "--memory", str(memory)])
        check(after)
        expect_exit(after, {0}, "the memory can still be listed after an import")


@time_limit(ci=60, fuzz=600)
@examples(ci=3, fuzz=30)
@given(into=st.sampled_from(["fresh", "learned"]), times=st.integers(2, 4))
@example(into="fresh", times=3)
def test_importing_the_same_export_again_changes_nothing(
    scratch: Path, learned_memory: Path, skills_export: dict[str, Any], into: str, times: int
) -> None:
    """Issue 14 case 7: importing the same export three times tripled its success counts."""
    with example_dir(scratch) as folder:
        memory = folder / "memory.sqlite"
        if into == "learned":
            shutil.copy2(learned_memory, memory)
        file = folder / "skills.json"
        file.write_text(json.dumps(skills_export, indent=2))
        shown: list[dict[str, dict[str, Any]]] = []
        for _ in range(times):
            outcome = invoke(["skills", "import", str(file), "--memory", str(memory)])
            check(outcome)
            expect_exit(outcome, {0}, "a valid export imports")
            shown.append(show_all(memory, [s["name"] for s in skills_export["skills"]]))
        listing = invoke(["skills", "list", "--memory", str(memory)])
        check(listing)
        with surveyed(outcome):
            for name, skill in shown[0].items():
                exported = next(s for s in skills_export["skills"] if s["name"] == name)
                assert (skill["successes"], skill["failures"]) == (exported["successes"], exported["failures"]), (
                    f"after one import of {name}: {skill['successes']}/{skill['failures']}, "
                    f"exported {exported['successes']}/{exported['failures']}"
                )
            for i, later in enumerate(shown[1:], start=2):
                assert later == shown[0], f"import #{i} of the same export changed the skills: {shown[0]} -> {later}"
            assert f"{skills_export['skills'][0]['name']}_2" not in listing.output, "an import made a numbered copy"


def show_all(memory: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """``embodied skills show NAME --json`` of each skill: its counts and examples."""
    shown = {}
    for name in names:
        outcome = invoke(["skills", "show", name, "--json", "--memory", str(memory)])
        check(outcome)
        expect_exit(outcome, {0}, f"the imported skill {name} can be shown")
        try:
            data = json.loads(outcome.stdout)
        except ValueError:
            data = {"unparsable": outcome.stdout[:300]}
        shown[name] = {k: data.get(k) for k in ("successes", "failures", "examples", "steps")}
    return shown
