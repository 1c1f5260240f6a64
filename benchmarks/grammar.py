"""Constrained decoding: the hand-written automaton beside ``llguidance``, with SmolLM2's tokenizer.

The local backends (``--llm local``, ``hf:PATH``) mask every token that would leave the answer
schema. Until commit ``9ad093c`` that was ``embodied/llm/grammar.py`` (a character NFA interned
into DFA states, walked over a token trie, pure Python); it is now ``embodied/llm/guided.py`` on
``llguidance`` (Rust). The old module is read from git history (``--baseline COMMIT``) so the two
are measured side by side, in one run, on the same schemas, documents and tokenizer:

(a) **compile**: the tokenizer tables (once per model) and each schema (goal schemas for scenes of
    3, 5 and 6 objects, the decision schema over the standard skills, the reflection schema),
    plus the first mask from the start state (ours compiles lazily, so that is where it pays);
(b) **per-token mask**: a logits processor called on a real ``(1, 49152)`` score tensor while
    valid goals and decisions are forced token by token; median and p95, on a fresh compile
    (``cold``) and again on the same compiled schema (``warm``, as later calls of a model see it);
(c) **coverage**: a corpus of valid and invalid documents (wrong names, self-relations, too many
    atoms, extra keys and tuple items, bad JSON, ...) labelled by construction; does each accept
    exactly the valid ones? ``llguidance`` is also run on the schema as written (without the
    closing of :func:`embodied.llm.guided.strict_schema`) to show why that closing is needed;
(d) **end-to-end**: seconds per constrained ``chat()`` of an LLM+P goal with SmolLM2-135M-Instruct,
    the old backend and the new one taking turns on the same prompts, and whether they agree.

Times in (a)-(c) are CPU seconds of the calling thread with torch on one thread: the machine's
two cores are shared, and wall times there measure the other work more than the decoder. (d)
gives CPU seconds of the process (the model's threads too) and wall seconds.

Decision (run of 2026-12-01, 2 shared cores, ``--threads 1``): **llguidance replaced ours.**

* coverage: llguidance accepted 66/66 valid documents and rejected 55/55 invalid ones; ours
  accepted 45/66: it capped every array at 4 items (goals may have 6 atoms), strings at 120
  characters (``thoughts`` may have 160), numbers at 3 decimals, and refused escapes, non-ASCII
  text and exponents. Ours also ignored ``pattern``, ``format``, ``minimum``/``maximum`` and
  ``multipleOf`` (it emitted documents that break them) and rejected ``allOf`` and ``$ref``;
  llguidance enforces all of these and rejects ``not`` and ``uniqueItems`` by name.
* per-token mask: median 0.17 ms vs 0.37 ms, p95 0.42 ms vs 171 ms (ours walks the whole
  vocabulary trie inside a free string: 150-240 ms a token in ``thoughts``); compiling a schema
  4-13 ms vs 35-334 ms; the tokenizer tables 0.75 s vs 1.35 s.
* end-to-end: 11.2 vs 10.7 tokens per CPU second. llguidance takes longer per goal (6.8 vs
  4.9 CPU s) only because it writes the 6 atoms the schema allows where ours stopped at 4; the
  atoms agree on 10/10 prompts up to that cap.
* kept from ours: a guarantee that an answer completes within ``max_new_tokens``, now a closing
  walk in :mod:`embodied.llm.guided` (its largest growth over one token here: 15 tokens, under
  the 24-token margin). llguidance offers a forced stretch of text only in its canonical
  tokenization, so 1 of 1359 tokens of the hand-tokenized documents was refused (the same bytes
  stay reachable in other tokens).

Run: ``python -m benchmarks.grammar`` (``--no-model`` skips (d); ``--prompts 10``).
Writes benchmarks/results/grammar.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embodied.llm.answers import REFLECTION_SCHEMA, REGION_NAMES, decision_schema, goal_schema
from embodied.llm.guided import GuidedLogitsProcessor, GuidedTokenizer, strict_schema
from embodied.skills.primitives import default_registry
from envs.tasks import FAMILIES, sample_task

RESULTS = Path(__file__).parent / "results" / "grammar.json"
BASELINE = "9ad093c"  # the last commit with embodied/llm/grammar.py
DECISION = (
    "llguidance replaced the hand-written grammar: full coverage of the corpus (ours refused 21 valid documents: "
    "arrays capped at 4 items, strings at 120 characters, no escapes), p95 mask time under a millisecond where ours "
    "took 150-240 ms a token in free text, and the same tokens per CPU second end to end; the budget guarantee is "
    "kept by the closing walk in embodied/llm/guided.py"
)


def load_baseline(commit: str) -> types.ModuleType:
    """The old ``embodied/llm/hf.py`` (with its grammar module) from git, as a module."""
    root = Path(__file__).resolve().parent.parent
    modules = {}
    for name, path in (("embodied.llm.grammar", "embodied/llm/grammar.py"), ("_baseline_hf", "embodied/llm/hf.py")):
        source = subprocess.run(
            ["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, text=True, check=True
        )
        spec = importlib.util.spec_from_loader(name, loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # the old hf.py imports embodied.llm.grammar
        exec(compile(source.stdout, f"{commit}:{path}", "exec"), module.__dict__)
        modules[name] = module
    return modules["_baseline_hf"]


def scene_names(count: int) -> list[str]:
    """Object names of the first sampled task scene with ``count`` objects; no family samples more
    than 5, so larger scenes take names from the next scenes until they have ``count``."""
    scenes = [[o.name for o in sample_task(f, seed).scene.objects] for seed in range(20) for f in sorted(FAMILIES)]
    exact = [names for names in scenes if len(names) == count]
    if exact:
        return exact[0]
    names = list(max(scenes, key=len))
    for extra in (n for scene in scenes for n in scene):
        if len(names) == count:
            break
        if extra not in names:
            names.append(extra)
    return names


def schemas() -> dict[str, dict[str, Any]]:
    out = {f"goal_{n}_objects": goal_schema(scene_names(n)) for n in (3, 5, 6)}
    names = scene_names(5)
    out["decision"] = decision_schema(default_registry().tools(), [*names, *REGION_NAMES])
    out["reflection"] = dict(REFLECTION_SCHEMA)
    return out


def valid_goals(names: Sequence[str], rng: np.random.Generator, count: int, most: int = 4) -> list[str]:
    atoms = [["on", a, b] for a in names for b in names if a != b] + [
        ["in", a, b] for a in names for b in names if a != b
    ]
    atoms += [["in_region", a, r] for a in names for r in REGION_NAMES]
    picks = [[atoms[i] for i in rng.choice(len(atoms), size=int(rng.integers(1, most + 1)))] for _ in range(count)]
    return [json.dumps({"goal": p}) for p in picks]


def invalid_goals(names: Sequence[str], schema: dict[str, Any]) -> dict[str, str]:
    a, b = names[0], names[1]
    atom = ["on", a, b]
    goal = schema["properties"]["goal"]
    sizes = {f"{goal['maxItems'] + 1} atoms": json.dumps({"goal": [atom] * (goal["maxItems"] + 1)})}
    if goal.get("minItems", 0) > 0:
        sizes["empty goal"] = json.dumps({"goal": []})
    return {
        **sizes,
        "unknown object": json.dumps({"goal": [["on", a, "green elephant"]]}),
        "self relation on": json.dumps({"goal": [["on", a, a]]}),
        "self relation in": json.dumps({"goal": [["in", b, b]]}),
        "unknown predicate": json.dumps({"goal": [["under", a, b]]}),
        "region as object": json.dumps({"goal": [["on", a, "left side"]]}),
        "object as region": json.dumps({"goal": [["in_region", a, b]]}),
        "extra key": json.dumps({"goal": [atom], "done": False}),
        "extra tuple item": json.dumps({"goal": [[*atom, "now"]]}),
        "short tuple": json.dumps({"goal": [["on", a]]}),
        "missing key": "{}",
        "goal not a list": json.dumps({"goal": atom}),
        "goal null": json.dumps({"goal": None}),
        "atom nested too deep": json.dumps({"goal": [[atom]]}),
        "truncated": json.dumps({"goal": [atom]})[:-2],
        "trailing comma": json.dumps({"goal": [atom]})[:-2] + ", ]}",
        "single quotes": json.dumps({"goal": [atom]}).replace('"', "'"),
        "prose": f"The goal is to put the {a} on the {b}.",
    }


def valid_decisions(names: Sequence[str], rng: np.random.Generator, count: int) -> list[str]:
    values = [*names, *REGION_NAMES]
    calls: list[Callable[[], dict[str, Any]]] = [
        lambda: {"name": "pick", "arguments": {"object": str(rng.choice(values))}},
        lambda: {"name": "place", "arguments": {"object": str(rng.choice(values)), "target": str(rng.choice(values))}},
        lambda: {
            "name": "push",
            "arguments": {"object": str(rng.choice(values)), "region": str(rng.choice(REGION_NAMES))},
        },
        lambda: {"name": "move_to", "arguments": {k: round(float(rng.uniform(-0.4, 0.8)), 2) for k in "xyz"}},
        lambda: {"name": "look", "arguments": {}},
        lambda: {"name": "open_gripper", "arguments": {}},
        lambda: {"name": "close_gripper", "arguments": {}},
    ]
    thoughts = ["", "pick the block first", "The red one is closer; I will move it, then check.", "done (I think)."]
    out = []
    for i in range(count):
        chosen = [calls[j]() for j in rng.choice(len(calls), size=int(rng.integers(0, 3)))]
        out.append(json.dumps({"thoughts": thoughts[i % len(thoughts)], "tool_calls": chosen, "done": bool(i % 2)}))
    return out


def edge_decisions(names: Sequence[str]) -> dict[str, str]:
    """Valid by the schema, at the edges of what a decoder may bound (long, escaped, non-ASCII, exact numbers)."""
    call = {"name": "move_to", "arguments": {"x": 0.41234, "y": -0.15, "z": 0.2}}
    return {
        "thoughts of 150 characters": json.dumps({"thoughts": "a" * 150, "tool_calls": [], "done": False}),
        "escaped quote in thoughts": json.dumps({"thoughts": 'the "red" one', "tool_calls": [], "done": False}),
        "non-ASCII thoughts": json.dumps({"thoughts": "déjà vu", "tool_calls": [], "done": True}, ensure_ascii=False),
        "five decimals": json.dumps({"thoughts": "", "tool_calls": [call], "done": False}),
        "exponent": '{"thoughts": "", "tool_calls": [{"name": "move_to", "arguments": {"x": 4e-1, "y": 0, "z": 0}}], '
        '"done": false}',
    }


def invalid_decisions(names: Sequence[str]) -> dict[str, str]:
    ok = {"name": "pick", "arguments": {"object": names[0]}}

    def d(calls: list[Any] | None = None, **extra: Any) -> str:
        return json.dumps({"thoughts": "x", "tool_calls": [ok] if calls is None else calls, "done": False, **extra})

    return {
        "unknown skill": d([{"name": "self_destruct", "arguments": {}}]),
        "unknown object": d([{"name": "pick", "arguments": {"object": "green elephant"}}]),
        "wrong argument name": d([{"name": "pick", "arguments": {"thing": names[0]}}]),
        "missing argument": d([{"name": "place", "arguments": {"object": names[0]}}]),
        "extra argument": d([{"name": "pick", "arguments": {"object": names[0], "force": 3}}]),
        "argument of an argument-less skill": d([{"name": "look", "arguments": {"step_back": True}}]),
        "region not a region": d([{"name": "push", "arguments": {"object": names[0], "region": names[1]}}]),
        "number as string": d([{"name": "move_to", "arguments": {"x": "0.4", "y": 0, "z": 0}}]),
        "three calls": d([ok, ok, ok]),
        "extra key": d(memory_query="blocks"),
        "extra key in call": d([{**ok, "id": "call_1"}]),
        "done as string": json.dumps({"thoughts": "x", "tool_calls": [], "done": "yes"}),
        "missing done": json.dumps({"thoughts": "x", "tool_calls": []}),
        "thoughts of 161 characters": json.dumps({"thoughts": "a" * 161, "tool_calls": [], "done": False}),
        "tool_calls not a list": json.dumps({"thoughts": "x", "tool_calls": ok, "done": False}),
        "truncated": d()[:-1],
        "two documents": d() + d(),
        "markdown fence": "```json\n" + d() + "\n```",
    }


#: (keyword, schema, a document it allows, a document it forbids): which keywords each backend enforces.
FEATURES: list[tuple[str, dict[str, Any], str, str]] = [
    ("const", {"const": "on"}, '"on"', '"in"'),
    ("enum", {"enum": ["a", "b"]}, '"b"', '"c"'),
    ("anyOf", {"anyOf": [{"type": "boolean"}, {"type": "null"}]}, "null", "0"),
    ("oneOf", {"oneOf": [{"const": 1}, {"const": 2}]}, "2", "3"),
    ("allOf", {"allOf": [{"type": "integer"}, {"maximum": 3}]}, "2", "4"),
    (
        "prefixItems (closed)",
        strict_schema(goal_schema(["a", "b"])),
        '{"goal": [["on", "a", "b"]]}',
        '{"goal": [["on"]]}',
    ),
    ("minItems/maxItems", {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2}, "[1]", "[]"),
    ("minLength/maxLength", {"type": "string", "minLength": 2, "maxLength": 3}, '"ab"', '"abcd"'),
    ("pattern", {"type": "string", "pattern": "^[a-z]+$"}, '"abc"', '"ABC"'),
    ("format: date", {"type": "string", "format": "date"}, '"2024-01-31"', '"yesterday"'),
    ("minimum/maximum", {"type": "number", "minimum": 0, "maximum": 1}, "0.5", "2"),
    ("multipleOf", {"type": "integer", "multipleOf": 5}, "10", "7"),
    ("type list", {"type": ["string", "null"]}, "null", "1"),
    ("$defs/$ref", {"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"}, "3", '"x"'),
    (
        "optional property",
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a"]},
        '{"a": 1, "b": 2}',
        '{"b": 2}',
    ),
    (
        "additionalProperties schema",
        {"type": "object", "additionalProperties": {"type": "integer"}},
        '{"k": 1}',
        '{"k": "v"}',
    ),
    ("not", {"not": {"type": "string"}}, "1", '"s"'),
    ("uniqueItems", {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "[1, 2]", "[1, 1]"),
]


def features(backends: Sequence[Backend]) -> dict[str, dict[str, str]]:
    """Per keyword and backend: enforced, ignored (accepts a document it forbids), too strict, or rejected."""
    out: dict[str, dict[str, str]] = {}
    for name, schema, good, bad in FEATURES:
        out[name] = {}
        for b in backends:
            try:
                compiled = b.compile(schema)
            except Exception as e:  # noqa: BLE001 - each backend raises its own error types
                out[name][b.name] = f"rejected: {str(e).splitlines()[0][:120]}"
                continue
            ok, leaks = b.accepts(compiled, good), b.accepts(compiled, bad)
            out[name][b.name] = "too strict" if not ok else "ignored" if leaks else "enforced"
    return out


def corpus(all_schemas: dict[str, dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Documents with their schema, label and kind (valid, an edge case that is valid, or what is wrong)."""
    rng, rows = np.random.default_rng(seed), []
    for key in ("goal_3_objects", "goal_6_objects"):
        names, schema = scene_names(int(key.split("_")[1])), all_schemas[key]
        most = schema["properties"]["goal"]["maxItems"]
        rows += [{"schema": key, "valid": True, "kind": "valid", "doc": d} for d in valid_goals(names, rng, 20, most)]
        rows += [{"schema": key, "valid": False, "kind": k, "doc": d} for k, d in invalid_goals(names, schema).items()]
    names = scene_names(5)
    rows += [
        {"schema": "decision", "valid": True, "kind": "valid", "doc": doc} for doc in valid_decisions(names, rng, 20)
    ]
    rows += [{"schema": "decision", "valid": True, "kind": k, "doc": doc} for k, doc in edge_decisions(names).items()]
    rows += [
        {"schema": "decision", "valid": False, "kind": k, "doc": doc} for k, doc in invalid_decisions(names).items()
    ]
    rows += [
        {"schema": "reflection", "valid": True, "kind": "valid", "doc": json.dumps({"reflection": "the grip slipped"})},
        {
            "schema": "reflection",
            "valid": False,
            "kind": "201 characters",
            "doc": json.dumps({"reflection": "b" * 201}),
        },
    ]
    return rows


class Backend:
    """One constrained decoder behind the same four calls: tables, compile, processor, accepts."""

    name = ""

    def __init__(self, tokenizer: Any, vocab: int) -> None:
        self.tokenizer, self.vocab, self.eos = tokenizer, vocab, int(tokenizer.eos_token_id)

    def compile(self, schema: dict[str, Any]) -> Any:
        raise NotImplementedError

    def processor(self, compiled: Any, budget: int) -> Any:
        raise NotImplementedError

    def accepts(self, compiled: Any, doc: str) -> bool:
        raise NotImplementedError


class Ours(Backend):
    name = "ours"

    def __init__(self, tokenizer: Any, vocab: int, old: types.ModuleType) -> None:
        super().__init__(tokenizer, vocab)
        self.old, self.grammar = old, sys.modules["embodied.llm.grammar"]
        self.texts = old.token_texts(tokenizer, vocab)
        self.trie = self.grammar.TokenTrie(self.texts)

    def compile(self, schema: dict[str, Any]) -> Any:
        return self.grammar.TokenConstraint(self.grammar.compile_schema(schema), self.trie, self.eos)

    def processor(self, compiled: Any, budget: int) -> Any:
        return self.old.GrammarLogitsProcessor(compiled, self.texts, 0, budget)

    def accepts(self, compiled: Any, doc: str) -> bool:
        return bool(compiled.grammar.matches(doc))


class Library(Backend):
    name = "llguidance"

    def __init__(self, tokenizer: Any, vocab: int, strict: bool = True) -> None:
        super().__init__(tokenizer, vocab)
        self.guided, self.strict = GuidedTokenizer(tokenizer, vocab, self.eos), strict

    def compile(self, schema: dict[str, Any]) -> Any:
        if self.strict:
            return self.guided.compile(schema)
        import llguidance

        from embodied.llm.guided import JSON_OPTIONS

        grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=JSON_OPTIONS)
        return types.SimpleNamespace(matcher=llguidance.LLMatcher(self.guided.ll, grammar).deep_copy)

    def processor(self, compiled: Any, budget: int) -> Any:
        return GuidedLogitsProcessor(compiled, 0, budget)

    def accepts(self, compiled: Any, doc: str) -> bool:
        matcher, ids = compiled.matcher(), self.tokenizer.encode(doc, add_special_tokens=False)
        return matcher.try_consume_tokens(ids) == len(ids) and bool(matcher.is_accepting())


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall seconds and the CPU seconds of this thread (unlike wall time, not inflated
    while other processes hold the cores)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    out = fn()
    return out, time.perf_counter() - wall, time.thread_time() - cpu


def stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"median_ms": round(statistics.median(ms), 4), "p95_ms": round(float(np.percentile(ms, 95)), 4)}


def compile_times(backend: Backend, all_schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Seconds to compile each schema and to compute the first mask from its start state."""
    import torch

    out = {}
    for key, schema in all_schemas.items():
        compiled, wall, cpu = timed(lambda schema=schema: backend.compile(schema))
        processor = backend.processor(compiled, 384)
        start = torch.zeros((1, 0), dtype=torch.long)
        _, first_wall, first_cpu = timed(lambda p=processor, s=start: p(s, torch.zeros(1, backend.vocab)))
        out[key] = {
            "compile_ms": round(cpu * 1000, 3),
            "first_mask_ms": round(first_cpu * 1000, 3),
            "wall_ms": [round(wall * 1000, 3), round(first_wall * 1000, 3)],
        }
    return out


def force(backend: Backend, compiled: Any, docs: Sequence[str]) -> dict[str, Any]:
    """Per-token processor CPU and wall seconds while forcing ``docs``, tokens refused, documents not
    ended by EOS and, for llguidance, the largest growth of the budget guard's closing over one token."""
    import torch

    out: dict[str, Any] = {"cpu": [], "wall": [], "refused": 0, "unfinished": 0, "closing_step": 0}
    for doc in docs:
        ids = torch.tensor([backend.tokenizer.encode(doc, add_special_tokens=False)])
        processor, last = backend.processor(compiled, 384), None
        for k in range(ids.shape[1] + 1):
            scores = torch.zeros(1, backend.vocab)
            masked, wall, cpu = timed(lambda p=processor, i=ids[:, :k], s=scores: p(i, s))
            out["cpu"].append(cpu)
            out["wall"].append(wall)
            if isinstance(processor, GuidedLogitsProcessor):
                closing = len(processor.guide.closing(processor.matcher) or [])
                out["closing_step"] = max(out["closing_step"], closing - (closing if last is None else last))
                last = closing
            if k < ids.shape[1]:
                out["refused"] += not bool(torch.isfinite(masked[0, ids[0, k]]))
            else:
                out["unfinished"] += not bool(torch.isfinite(masked[0, backend.eos]))
    return out


def mask_times(backends: Sequence[Backend], forced: dict[str, tuple[dict[str, Any], list[str]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for backend in backends:
        row: dict[str, Any] = {"tokens": 0, "refused_tokens": 0, "unfinished_documents": 0, "largest_closing_step": 0}
        cold: list[float] = []
        warm: list[float] = []
        walls: list[float] = []
        for key, (schema, docs) in forced.items():
            compiled = backend.compile(schema)
            first, again = force(backend, compiled, docs), force(backend, compiled, docs)
            cold += first["cpu"]
            warm += again["cpu"]
            walls += again["wall"]
            row["tokens"] += len(first["cpu"])
            row["refused_tokens"] += first["refused"]
            row["unfinished_documents"] += first["unfinished"]
            row["largest_closing_step"] = max(row["largest_closing_step"], first["closing_step"])
            row[key] = {"cold": stats(first["cpu"]), "warm": stats(again["cpu"])}
        row["cold"], row["warm"], row["warm_wall"] = stats(cold), stats(warm), stats(walls)
        out[backend.name] = row
    return out


def coverage(
    backends: Sequence[Backend], all_schemas: dict[str, dict[str, Any]], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Which documents each backend accepts, against the labels (and ``jsonschema`` on the closed schemas)."""
    import jsonschema

    out: dict[str, Any] = {"documents": len(rows), "valid": sum(r["valid"] for r in rows)}
    compiled = {
        (b.name, k): b.compile(s) for b in backends for k, s in all_schemas.items() if k in {r["schema"] for r in rows}
    }
    for r in rows:
        try:
            parsed, r["jsonschema"] = json.loads(r["doc"]), None
            r["jsonschema"] = jsonschema.Draft202012Validator(strict_schema(all_schemas[r["schema"]])).is_valid(parsed)
        except json.JSONDecodeError:
            r["jsonschema"] = False
        for b in backends:
            r[b.name] = b.accepts(compiled[b.name, r["schema"]], r["doc"])
    for b in backends:
        wrong = [f"{r['schema']}: {r['kind']}" for r in rows if r[b.name] != r["valid"]]
        out[b.name] = {
            "accepted_valid": sum(r[b.name] for r in rows if r["valid"]),
            "rejected_invalid": sum(not r[b.name] for r in rows if not r["valid"]),
            "disagreements": wrong,
        }
    out["jsonschema_disagrees_with_labels"] = [
        f"{r['schema']}: {r['kind']}" for r in rows if r["jsonschema"] != r["valid"]
    ]
    return out


def end_to_end(old: types.ModuleType, prompts: int, threads: int | None) -> dict[str, Any]:
    """Seconds per constrained LLM+P goal with SmolLM2, old and new backends taking turns."""
    from embodied.llm.hf import HFChatModel, HFConfig
    from embodied.llm.local import local_model_dir
    from embodied.planners.prompting import goal_messages

    folder = str(local_model_dir())  # the base weights for both (no adapter: the same model on each side)
    new = HFChatModel(HFConfig(path=folder, num_threads=threads))
    baseline = old.HFChatModel(old.HFConfig(path=folder, num_threads=threads))
    models = {"ours": baseline, "llguidance": new}
    tasks = [sample_task(f, seed) for seed in range(prompts) for f in sorted(FAMILIES)][: prompts + 1]
    rows: list[dict[str, Any]] = []
    warmup = {}
    for i, task in enumerate(tasks):
        names = [o.name for o in task.scene.objects]
        messages, schema = goal_messages(task.instruction, names, REGION_NAMES), goal_schema(names)
        row: dict[str, Any] = {"instruction": task.instruction}
        for name in models if i % 2 == 0 else reversed(models):  # alternate who goes first
            cpu = time.process_time()  # every thread of the process: the model's too
            response, wall, _ = timed(lambda m=models[name], q=messages, s=schema: m.chat(q, response_schema=s))
            row[name] = {
                "wall_s": round(wall, 3),
                "cpu_s": round(time.process_time() - cpu, 3),
                "answer": response.content,
                "tokens": response.completion_tokens,
            }
        print(f"  {i}/{len(tasks) - 1}: " + ", ".join(f"{n} {row[n]['cpu_s']:.1f} s" for n in models), flush=True)
        if i == 0:
            warmup = {name: row[name]["cpu_s"] for name in models}  # builds the token tables too
            continue
        rows.append(row)
    out: dict[str, Any] = {"prompts": len(rows), "first_call_cpu_s": warmup, "rows": rows}
    for name in models:
        cpu_s, wall_s = [r[name]["cpu_s"] for r in rows], [r[name]["wall_s"] for r in rows]
        out[name] = {
            "cpu_median_s": round(statistics.median(cpu_s), 3),
            "cpu_p95_s": round(float(np.percentile(cpu_s, 95)), 3),
            "wall_median_s": round(statistics.median(wall_s), 3),
            "tokens_per_cpu_s": round(sum(r[name]["tokens"] for r in rows) / sum(cpu_s), 2),
        }
    out["same_answer"] = sum(r["ours"]["answer"] == r["llguidance"]["answer"] for r in rows)
    out["same_atoms_up_to_ours_cap"] = same_atoms(rows)
    return out


def same_atoms(rows: Sequence[dict[str, Any]]) -> int:
    """Prompts where the new backend's goal starts with the old one's atoms (the old grammar capped
    arrays at 4 items whatever the schema's ``maxItems``)."""
    goals = [(json.loads(r["ours"]["answer"])["goal"], json.loads(r["llguidance"]["answer"])["goal"]) for r in rows]
    return sum(new[: len(old)] == old for old, new in goals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"commit holding the old grammar (default {BASELINE})")
    parser.add_argument("--prompts", type=int, default=10, help="LLM+P goals per backend in (d) (default 10)")
    parser.add_argument("--no-model", action="store_true", help="skip (d), the end-to-end generation")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for the model")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import llguidance
    import torch
    import transformers

    from embodied.llm.local import local_model_dir

    folder = local_model_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    vocab = int(json.loads((folder / "config.json").read_text())["vocab_size"])
    old = load_baseline(args.baseline)
    result: dict[str, Any] = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads or torch.get_num_threads(),
        "llguidance": llguidance.__version__,
        "baseline": args.baseline,
        "tokenizer": f"{folder.name} ({vocab} tokens)",
        "load_average_at_start": round(os.getloadavg()[0], 2),  # other work on the machine inflates times
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # (a)-(c): one thread (torch's thread pool costs ms per op on busy cores)
    ours, _, ours_s = timed(lambda: Ours(tokenizer, vocab, old))
    library, _, library_s = timed(lambda: Library(tokenizer, vocab))
    raw = Library(tokenizer, vocab, strict=False)
    raw.name = "llguidance_schema_as_written"
    all_schemas = schemas()
    result["tables_s"] = {"ours": round(ours_s, 3), "llguidance": round(library_s, 3)}
    result["compile"] = {b.name: compile_times(b, all_schemas) for b in (ours, library)}
    rng = np.random.default_rng(1)
    forced = {
        key: (all_schemas[key], valid_goals(scene_names(int(key.split("_")[1])), rng, 8))
        for key in ("goal_3_objects", "goal_5_objects", "goal_6_objects")
    }
    forced["decision"] = (all_schemas["decision"], valid_decisions(scene_names(5), rng, 12))
    result["mask"] = mask_times((ours, library), forced)
    rows = corpus(all_schemas)
    result["coverage"] = coverage((ours, library, raw), all_schemas, rows)
    result["features"] = features((ours, library))
    for name, row in result["features"].items():
        print(f"  {name:28s} ours: {row['ours']:40.40s} llguidance: {row['llguidance']}")
    for b in (ours, library):
        c, m = result["coverage"][b.name], result["mask"][b.name]
        print(
            f"{b.name:10s} tables {result['tables_s'][b.name]:.2f} s | per-token mask median "
            f"{m['warm']['median_ms']:.3f} ms p95 {m['warm']['p95_ms']:.3f} ms "
            f"(cold: {m['cold']['median_ms']:.3f} / {m['cold']['p95_ms']:.3f}) | "
            f"valid accepted {c['accepted_valid']}/{result['coverage']['valid']}, invalid rejected "
            f"{c['rejected_invalid']}/{result['coverage']['documents'] - result['coverage']['valid']}"
        )
        for key, row in result["compile"][b.name].items():
            print(f"{'':10s} {key:16s} compile {row['compile_ms']:8.2f} ms, first mask {row['first_mask_ms']:8.2f} ms")
    ratio = result["mask"]["ours"]["warm"]["median_ms"] / result["mask"]["llguidance"]["warm"]["median_ms"]
    result["ours_over_llguidance_mask_median"] = round(ratio, 2)
    print(f"per-token mask, median: ours / llguidance = {ratio:.1f}")
    torch.set_num_threads(threads)
    if not args.no_model:
        result["end_to_end"] = e2e = end_to_end(old, args.prompts, args.threads)
        for name in ("ours", "llguidance"):
            print(
                f"{name:10s} LLM+P goal CPU median {e2e[name]['cpu_median_s']:.2f} s, "
                f"p95 {e2e[name]['cpu_p95_s']:.2f} s "
                f"(wall {e2e[name]['wall_median_s']:.2f} s), {e2e[name]['tokens_per_cpu_s']} tokens per CPU second "
                f"(first call {e2e['first_call_cpu_s'][name]} s)"
            )
        print(
            f"same answer on {e2e['same_answer']}/{e2e['prompts']} prompts, the same atoms up to the old "
            f"4-atom cap on {e2e['same_atoms_up_to_ours_cap']}"
        )
    result["decision"] = DECISION
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["corpus"] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
