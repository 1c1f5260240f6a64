"""Help texts that tell the truth, and `embodied bench` finding the scripts it names."""

from __future__ import annotations

from typer.testing import CliRunner

from embodied.cli import app
from embodied.cli.bench import BENCHMARKS, ROOT
from embodied.evaluation.suites import SUITES

runner = CliRunner()


def test_eval_help_lists_every_suite():
    result = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    line = next(line for line in result.output.splitlines() if "--suite" in line)
    assert all(suite in line for suite in SUITES)


def test_bench_names_the_benchmarks_it_runs_and_each_script_exists():
    result = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert all(name in result.output for name in BENCHMARKS)
    assert all((ROOT / "benchmarks" / f"{name}.py").is_file() for name in BENCHMARKS)


def test_bench_rejects_an_unknown_benchmark_listing_the_valid_ones():
    result = runner.invoke(app, ["bench", "--only", "nonsense"])
    assert result.exit_code == 2
    assert "unknown benchmarks ['nonsense']" in result.output and "sim_overhead" in result.output
