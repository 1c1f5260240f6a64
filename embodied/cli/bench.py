"""``embodied bench``: run the benchmarks in ``benchmarks/`` and collect their figures in one table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embodied.cli.console import fail_usage, say

#: script (``benchmarks/<name>.py``) -> arguments of the quick run (``embodied bench --quick``)
BENCHMARKS: dict[str, list[str]] = {
    "sim_overhead": ["--rounds", "5", "--full-steps", "100"],
    "perception": ["--scenes", "20"],
    "skills": ["--episodes", "5"],
    "agent": ["--seeds", "2", "--repeats", "5"],
    "recording": ["--rounds", "1"],
    "eval_throughput": ["--episodes", "2"],
    "backends": ["--seeds", "1"],
    "memory": ["--quick"],
    "give_up": ["--timeout", "1"],
    "mcp": ["--calls", "50", "--seeds", "2"],
    "language": ["--n", "1"],
    "llm_server": ["--families", "stack", "tower", "--max-turns", "4"],
}
#: the source checkout holding ``benchmarks/`` (embodied/cli/bench.py -> the repository root)
ROOT = Path(__file__).resolve().parents[2]
HELP = (
    "Run the benchmarks and collect their figures in benchmarks/results.md.\n\n"
    f"The benchmarks are benchmarks/<name>.py for {', '.join(BENCHMARKS)}; the figures are those of "
    "benchmarks/results/*.json."
)


def bench(
    quick: Annotated[bool, typer.Option(help="small runs (minutes) instead of the full ones")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="run only these benchmarks (repeatable)")] = None,
) -> None:
    """Run the benchmarks of :data:`BENCHMARKS` (the help text lists them) and write the summary."""
    import subprocess
    import sys

    unknown = sorted(set(only or ()) - set(BENCHMARKS))
    if unknown:
        fail_usage(f"unknown benchmarks {unknown}; valid: {', '.join(BENCHMARKS)}")
    failed = []
    for name, quick_args in BENCHMARKS.items():
        if only and name not in only:
            continue
        if not (ROOT / "benchmarks" / f"{name}.py").is_file():
            say("[yellow]skip[/] {}: benchmarks/{}.py not found", name, name)
            continue
        say("[bold]bench[/] {}", name)
        cmd = [sys.executable, "-m", f"benchmarks.{name}", *(quick_args if quick else [])]
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
            failed.append(name)
    path = write_summary(ROOT / "benchmarks")
    say(" summary  {}", path, soft_wrap=True)
    if failed:
        say("[bold red]failed:[/] {}", ", ".join(failed))
        raise typer.Exit(code=1)


def write_summary(folder: Path) -> Path:
    """``folder/results.md``: one table per ``folder/results/*.json`` with its scalar figures."""
    import json
    import platform

    lines = ["# Benchmark results", "", f"Collected from `benchmarks/results/*.json` on {platform.machine()}.", ""]
    for path in sorted((folder / "results").glob("*.json")):
        data = json.loads(path.read_text())
        lines += [f"## {path.stem}", "", "| figure | value |", "| --- | --- |"]
        for key, value in data.items():
            if isinstance(value, bool | int | float | str):
                shown = f"{value:.4g}" if isinstance(value, float) else str(value)
                lines.append(f"| {key} | {shown} |")
        lines.append("")
    out = folder / "results.md"
    out.write_text("\n".join(lines))
    return out
