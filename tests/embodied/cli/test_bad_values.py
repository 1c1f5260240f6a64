"""Bad option values and unusable ``--out`` folders: exit 2 with a message naming the option, the
value and what is valid, before anything runs (issue 14 cases 1 and 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embodied.cli import app
from tests.embodied.cli._output import says

runner = CliRunner()


RUN = ["run", "--task", "stack", "--perception", "ground_truth", "--no-video", "--no-memory"]
EVAL = ["eval", "--family", "stack", "--episodes", "1", "--workers", "1", "--perception", "ground_truth"]


# ---------------------------------------------------------------------- case 1: bad values
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--instruction", ""], "instruction '' is empty"),
        (["--instruction", " \t "], "is empty: give the task's new wording, or leave --instruction out"),
        (["--seed", "-1"], "Invalid value for '--seed': -1 is not valid; give an integer >= 0"),
        (["--max-steps", "0"], "Invalid value for '--max-steps': 0 is not valid; give an integer >= 1"),
    ],
)
def test_a_bad_run_value_is_a_usage_error_naming_it(tmp_path, args, message):
    result = runner.invoke(app, [*RUN, *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert says(result.output, message)
    assert not any(tmp_path.iterdir())  # nothing written for a bad command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "nan"], "Invalid value for '--timeout': nan is not valid; give a number >= 1"),
        (["--timeout", "inf"], "Invalid value for '--timeout': inf is not valid; give a number >= 1"),
        (["--timeout", "0"], "Invalid value for '--timeout': 0.0 is not valid; give a number >= 1"),
        (["--episodes", "0"], "Invalid value for '--episodes': 0 is not valid; give an integer from 1 to 100000"),
        (["--episodes", str(10**400)], "is not valid; give an integer from 1 to 100000"),  # too large for a float
        (["--workers", "0"], "Invalid value for '--workers': 0 is not valid; give an integer >= 1"),
        (["--seed-start", "-1"], "Invalid value for '--seed-start': -1 is not valid; give an integer from 0 to"),
    ],
)
def test_a_bad_eval_value_is_a_usage_error_naming_it(tmp_path, args, message):
    result = runner.invoke(app, [*EVAL, *args, "--out", str(tmp_path / "eval")])
    assert result.exit_code == 2, result.output
    assert says(result.output, message)
    assert not (tmp_path / "eval").exists()


def test_memory_search_refuses_more_results_than_it_can_give(tmp_path):
    args = ["memory", "search", "stack", "-k", str(2**70), "--embedder", "lexical"]
    result = runner.invoke(app, [*args, "--memory", str(tmp_path / "m.sqlite")])
    assert result.exit_code == 2, result.output
    assert says(result.output, f"Invalid value for '-k': {2**70} is not valid; give an integer from 1 to 1000")


# ---------------------------------------------------------------------- case 2: unusable --out
def unusable_outs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """--out values no folder can be made in, with what the error must say."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder\n")
    return {
        "file": (a_file, f"{a_file}: it is a file, not a folder"),
        "under_file": (a_file / "runs", f"{a_file} is a file, so no folder can be made in it"),
    }


@pytest.mark.parametrize("kind", ["file", "under_file"])
@pytest.mark.parametrize("command", [RUN, EVAL], ids=["run", "eval"])
def test_an_out_that_is_or_lies_under_a_file_is_a_usage_error(tmp_path, kind, command):
    out, message = unusable_outs(tmp_path)[kind]
    result = runner.invoke(app, [*command, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert says(result.output, "Invalid value for '--out'") and says(result.output, message)
    assert (tmp_path / "a_file").read_text() == "not a folder\n"


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write into. Root writes through a chmod'ed folder, so as root the folder
    is made immutable as well (``chattr +i``); where that is not possible the test is skipped."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        immutable = chattr is not None and subprocess.run([chattr, "+i", str(folder)], check=False).returncode == 0
        if not immutable:
            folder.chmod(0o755)
            pytest.skip("running as root without `chattr +i`: no folder here is read-only for this process")
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.mark.parametrize("command", [RUN, EVAL], ids=["run", "eval"])
@pytest.mark.parametrize("inside", [False, True], ids=["itself", "a_new_folder_in_it"])
def test_a_read_only_out_is_a_usage_error(read_only_folder, command, inside):
    out = read_only_folder / "runs" if inside else read_only_folder
    result = runner.invoke(app, [*command, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert says(result.output, "Invalid value for '--out'")
    assert says(result.output, f"{read_only_folder} is read-only" if inside else "the folder is read-only")
    assert not any(read_only_folder.iterdir())


def test_a_folder_that_cannot_be_made_after_the_check_is_still_a_usage_error(tmp_path, monkeypatch):
    """What ``os.access`` cannot foresee fails where the episode folder is made: also exit 2, with the OS's reason."""
    from embodied.recording.recorder import Recorder

    def refuse(self: Recorder, folder: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(folder))  # what the recorder's mkdir raises

    monkeypatch.setattr(Recorder, "__init__", refuse)
    result = runner.invoke(app, [*RUN, "--max-steps", "5", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert says(result.output, f"--out {tmp_path / 'runs'}: cannot write there (Permission denied")
