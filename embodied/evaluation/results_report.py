"""Evaluation reports: ``results.md`` (a table per family) and ``report.html`` (with plots)."""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate; it always holds the rate itself (at 0% or 100%
    rounding would otherwise put the rate a hair outside, and the report's error bars go negative)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per family (and ``all``): episodes, success rate with CI, mean turns, calls, sim and wall time."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["family"]].append(row)
    groups["all"] = list(rows)
    table = {}
    for family, items in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        n = len(items)
        wins = sum(bool(r["success"]) for r in items)
        lo, hi = wilson(wins, n)

        def mean(key: str, items: list[dict[str, Any]] = items) -> float:
            return sum(float(r.get(key, 0.0)) for r in items) / max(1, len(items))

        table[family] = {
            "episodes": n,
            "successes": wins,
            "success_rate": wins / n if n else 0.0,
            "ci_low": lo,
            "ci_high": hi,
            "false_successes": sum(bool(r.get("false_success")) for r in items),
            "missed_successes": sum(bool(r.get("missed_success")) for r in items),
            "mean_turns": mean("turns"),
            "mean_skill_calls": mean("skill_calls"),
            "mean_sim_time_s": mean("sim_time_s"),
            "mean_wall_time_s": mean("wall_time_s"),
        }
    return table


def results_markdown(rows: list[dict[str, Any]], title: str, base: Path | None = None) -> str:
    lines = [
        f"# {title}",
        "",
        "| family | episodes | success | 95% CI | false success | missed success | turns | skill calls | sim time (s) "
        "| wall time (s) |",
        "| --- | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for family, s in summarise(rows).items():
        name = f"**{family}**" if family == "all" else family
        lines.append(
            f"| {name} | {s['episodes']} | {100 * s['success_rate']:.1f}% | {100 * s['ci_low']:.0f}-"
            f"{100 * s['ci_high']:.0f}% | {s['false_successes']} | {s['missed_successes']} | {s['mean_turns']:.1f} | "
            f"{s['mean_skill_calls']:.1f} | {s['mean_sim_time_s']:.1f} | {s['mean_wall_time_s']:.1f} |"
        )
    lines += [
        "",
        'A *false success* ended on the agent\'s own "done" while ground truth says the task is not done; a '
        "*missed success* is done by ground truth, but the agent gave up.",
    ]
    chains = [r["chain_length"] for r in rows if "chain_length" in r]
    if chains:
        lines += [
            "",
            f"Tasks completed in a row, mean over {len(chains)} chains: {sum(chains) / len(chains):.2f} of 5.",
        ]
    false = [r for r in rows if r.get("false_success")]
    if false:
        lines += ["", "## False successes", ""]
        for r in sorted(false, key=lambda r: r["id"]):
            lines.append(f"- `{r['id']}`: {r['reason']}{_link(r, base)}")
            lines += [f"  - {why}" for why in r.get("rejected", [])]
    failures = [r for r in rows if not r["success"]]
    if failures:
        lines += ["", "## Failed episodes", ""]
        for r in sorted(failures, key=lambda r: r["id"]):
            flag = " **(false success)**" if r.get("false_success") else ""
            lines.append(f"- `{r['id']}`: {r['reason']}{flag}{_link(r, base)}")
    missed = [r for r in rows if r.get("missed_success")]
    if missed:
        lines += ["", "## Missed successes", ""]
        lines += [f"- `{r['id']}`: {r['reason']}{_link(r, base)}" for r in sorted(missed, key=lambda r: r["id"])]
    return "\n".join(lines) + "\n"


def _link(row: dict[str, Any], base: Path | None) -> str:
    target = Path(row["report"]) if row.get("report") else None
    if target is not None and base is not None:
        target = Path(os.path.relpath(target, base))
    return f" ([report]({target}))" if target is not None else ""


def _plots(rows: list[dict[str, Any]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = {k: v for k, v in summarise(rows).items() if k != "all"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    names = list(table)
    rates = [100 * table[n]["success_rate"] for n in names]
    errors = [
        [100 * (table[n]["success_rate"] - table[n]["ci_low"]) for n in names],
        [100 * (table[n]["ci_high"] - table[n]["success_rate"]) for n in names],
    ]
    axes[0].barh(names, rates, xerr=errors, color="#4c9be8")
    axes[0].set_xlim(0, 100)
    axes[0].set_xlabel("success (%) with 95% CI")
    axes[1].boxplot(
        [[float(r["wall_time_s"]) for r in rows if r["family"] == n] for n in names], orientation="horizontal"
    )
    axes[1].set_yticks(range(1, len(names) + 1), names)
    axes[1].set_xlabel("wall time per episode (s)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html_item(row: dict[str, Any], out_dir: Path) -> str:
    name = html.escape(row["id"])
    if row.get("report"):
        name = f'<a href="{html.escape(str(Path(row["report"]).relative_to(out_dir)))}">{name}</a>'
    flag = " <b>(false success)</b>" if row.get("false_success") else ""
    why = "".join(f"<li>{html.escape(w)}</li>" for w in row.get("rejected", []))
    return f"<li>{name}: {html.escape(row['reason'])}{flag}{f'<ul>{why}</ul>' if why else ''}</li>"


def write_reports(out_dir: Path, rows: list[dict[str, Any]], title: str) -> tuple[Path, Path]:
    """Write ``results.md`` and ``report.html`` into ``out_dir``."""
    md = out_dir / "results.md"
    md.write_text(results_markdown(rows, title, out_dir), encoding="utf-8")
    table_rows = []
    for family, s in summarise(rows).items():
        table_rows.append(
            f"<tr><td>{html.escape(family)}</td><td>{s['episodes']}</td><td>{100 * s['success_rate']:.1f}%</td>"
            f"<td>{100 * s['ci_low']:.0f}-{100 * s['ci_high']:.0f}%</td><td>{s['false_successes']}</td>"
            f"<td>{s['missed_successes']}</td><td>{s['mean_turns']:.1f}</td>"
            f"<td>{s['mean_skill_calls']:.1f}</td><td>{s['mean_wall_time_s']:.1f}</td></tr>"
        )
    failed = "".join(_html_item(r, out_dir) for r in sorted(rows, key=lambda r: r["id"]) if not r["success"])
    false = "".join(_html_item(r, out_dir) for r in sorted(rows, key=lambda r: r["id"]) if r.get("false_success"))
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:20px}}td,th{{padding:3px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#f2f2f2}}</style>
</head><body><h1>{html.escape(title)}</h1>
<table><tr><th>family</th><th>episodes</th><th>success</th><th>95% CI</th><th>false success</th>
<th>missed success</th><th>turns</th><th>calls</th><th>wall s</th></tr>{"".join(table_rows)}</table>
<p><img alt="success by family and time per episode" src="data:image/png;base64,{_plots(rows)}"></p>
<h2>False successes</h2><p>The agent said done; ground truth says the task is not done.</p>
<ul>{false or "<li>none</li>"}</ul>
<h2>Failed episodes</h2><ul>{failed or "<li>none</li>"}</ul></body></html>
"""
    report = out_dir / "report.html"
    report.write_text(page, encoding="utf-8")
    return md, report
