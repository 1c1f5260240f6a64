"""The ``embodied`` command line (typer + rich)."""

from __future__ import annotations

import signal
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from embodied.errors import EmbodiedError, MemoryStoreError

app = typer.Typer(
    name="embodied",
    help="Embodied agents in simulation: run episodes, record videos, evaluate.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


class EnvName(StrEnum):
    tabletop = "tabletop"
    pybullet = "pybullet"


class EmbedderName(StrEnum):
    auto = "auto"
    minilm = "minilm"
    lexical = "lexical"


MemoryOption = Annotated[
    Path | None, typer.Option("--memory", help="memory file (default: $EMBODIED_MEMORY or the user data folder)")
]
EmbedderOption = Annotated[
    EmbedderName, typer.Option(help="retrieval: auto (MiniLM if installed), minilm, or lexical (SQLite FTS5)")
]


@app.callback()
def main() -> None:
    """Embodied agents in simulation."""


def _fail_usage(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


class LiveTracer:
    """Forwards to the recorder and keeps a rich progress line with the subgoal and skill."""

    def __init__(self, recorder: Any, progress: Progress, bar: TaskID) -> None:
        self.recorder, self.progress, self.bar = recorder, progress, bar
        self.subgoal, self.skill = "", ""

    def event(self, kind: str, **data: Any) -> None:
        self.recorder.event(kind, **data)

    def set_overlay(self, **fields: str) -> None:
        self.recorder.set_overlay(**fields)
        self.subgoal = fields.get("subgoal", self.subgoal)
        self.skill = fields.get("skill", self.skill)
        label = " | ".join(p for p in (self.subgoal, self.skill) if p) or "thinking"
        self.progress.update(self.bar, description=f"[cyan]{label[:70]}")

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.recorder.on_step(obs, info)
        self.progress.update(self.bar, completed=int(info.get("steps", 0)))


@app.command()
def run(
    task: Annotated[str, typer.Option(help="task family (see `embodied tasks`) or a free instruction")] = "stack",
    seed: Annotated[int, typer.Option(help="seed of the scene and instruction")] = 0,
    instruction: Annotated[
        str | None, typer.Option(help="new wording for a family's task (scene and goal stay)")
    ] = None,
    env: Annotated[EnvName, typer.Option(help="simulator backend")] = EnvName.tabletop,
    planner: Annotated[str, typer.Option(help="classical | llm | llm+p | auto (llm+p if --llm is set)")] = "auto",
    llm: Annotated[str | None, typer.Option(help="openai:MODEL, ollama:MODEL, hf:PATH or scripted:FILE")] = None,
    perception: Annotated[str, typer.Option(help="vision (default) | ground_truth (privileged baseline)")] = "vision",
    skills: Annotated[
        list[str] | None, typer.Option("--skills", help="module with @skill functions (repeatable)")
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for episode folders")] = Path("runs"),
    video: Annotated[bool, typer.Option("--video/--no-video", help="record video.mp4")] = True,
    max_steps: Annotated[int, typer.Option(min=1, help="control steps before the episode is cut off")] = 2000,
    memory: MemoryOption = None,
    no_memory: Annotated[bool, typer.Option("--no-memory", help="neither recall nor learn skills")] = False,
    embedder: EmbedderOption = EmbedderName.auto,
) -> None:
    """Run one episode with the agent and write its folder (video.mp4, trace.jsonl, episode.json).

    The agent recalls composite skills from its memory file and learns one from a verified success.
    """
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)
    from embodied.agent.loop import Agent
    from embodied.factory import ENV_IDS, EpisodeConfig, make_perceiver, make_planner, make_registry, make_task
    from embodied.recording.recorder import Recorder
    from perception.describe import describe

    try:
        config = EpisodeConfig(task, seed, instruction, planner, llm, perception, tuple(skills or ()), max_steps)
        task_instance = make_task(config)
        registry = make_registry(config.skills)
        agent_planner = make_planner(config)
        agent_memory = None if no_memory else _open_memory(memory, embedder)
    except MemoryStoreError as e:
        _fail_usage(f"{e} (or run without memory: --no-memory)")
        return
    except EmbodiedError as e:
        _fail_usage(str(e))
        return
    # The agent decides when it is done (verified from perception); the env does not end the episode
    # on success, so ground truth never leaks into the loop. Success is judged at the end.
    gym_env = gym.make(
        ENV_IDS[env.value],
        task=task if config.is_family else "stack",
        max_steps=max_steps,
        terminate_on_success=False,
    )
    label = task if config.is_family else "instruction"
    folder = out / f"{datetime.now():%Y%m%d-%H%M%S}-{label}-{seed}"
    recorder = Recorder(folder, video=video, fps=gym_env.metadata["render_fps"])
    console.print(f"[bold]planner[/] {agent_planner.name}  [bold]perception[/] {perception}  [bold]seed[/] {seed}")
    console.print(f"[bold]instruction[/] {task_instance.instruction}")
    if agent_memory is not None:
        count = agent_memory.store.counts()["skill"]
        console.print(
            f"[bold]memory[/] {agent_memory.path} ({count} skills, {agent_memory.retrieval})", highlight=False
        )
    # SIGTERM (a `timeout`, a cluster stopping the job) ends the episode like Ctrl-C: video and trace finished.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed} steps"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            bar = progress.add_task("[cyan]starting", total=max_steps)
            tracer = LiveTracer(recorder, progress, bar)
            perceiver = make_perceiver(perception, gym_env)
            agent = Agent(agent_planner, registry, perceiver, describe, memory=agent_memory, tracer=tracer)
            result = agent.run(gym_env, seed=seed, options={"task": task_instance})
    finally:
        signal.signal(signal.SIGTERM, previous)
        gym_env.close()
        if agent_memory is not None:
            agent_memory.close()
    summary = {"task": task, "seed": seed, "perception": perception, **asdict(result)}
    paths = recorder.finish(summary)
    _print_summary(result, paths)
    if result.interrupted:
        raise typer.Exit(code=130)
    raise typer.Exit(code=0 if result.success else 1)


def _print_summary(result: Any, paths: dict[str, Path]) -> None:
    table = Table(show_header=False, box=None)
    status = "[bold green]success[/]" if result.success else "[bold red]failed[/]"
    table.add_row("result", status)
    table.add_row("reason", result.reason)
    table.add_row("turns", str(result.turns))
    table.add_row("skill calls", str(result.skill_calls))
    table.add_row("sim time", f"{result.sim_time_s:.1f} s")
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    learned = result.stats.get("memory", {})
    if learned.get("skills_used"):
        used = ", ".join(f"{n} ({'ok' if ok else 'failed'})" for n, ok in learned["skills_used"].items())
        table.add_row("memory used", used)
    if learned.get("skill"):
        table.add_row("memory learned", f"{learned['skill']} ({'new' if learned['created'] else 'merged'})")
    for sub in learned.get("subgoal_skills", ()):
        how = "new" if sub["created"] else "merged"
        table.add_row("memory learned", f"{sub['skill']} ({how}, from the verified subgoal {sub['subgoal']})")
    if learned.get("error"):
        table.add_row("memory", f"[yellow]not stored: {learned['error']}")
    console.print(table)
    for name, path in paths.items():
        console.print(f" {name:12s} {path}", soft_wrap=True, highlight=False)


@app.command("eval")
def evaluate_cmd(
    suite: Annotated[str, typer.Option(help="standard | paraphrase | perturb")] = "standard",
    episodes: Annotated[int, typer.Option(min=1, help="seeds per task family")] = 10,
    workers: Annotated[int, typer.Option(min=1, help="parallel worker processes")] = 2,
    ray: Annotated[str | None, typer.Option(help="Ray cluster address, or `local` to start one here")] = None,
    out: Annotated[Path, typer.Option(help="results folder (rerun into it to resume)")] = Path("eval"),
    planner: Annotated[str, typer.Option(help="classical | llm | llm+p | auto")] = "auto",
    llm: Annotated[str | None, typer.Option(help="openai:MODEL, ollama:MODEL, hf:PATH or scripted:FILE")] = None,
    perception: Annotated[str, typer.Option(help="vision | ground_truth")] = "vision",
    env: Annotated[EnvName, typer.Option(help="simulator backend")] = EnvName.tabletop,
    families: Annotated[list[str] | None, typer.Option("--family", help="only these families (repeatable)")] = None,
    timeout: Annotated[float, typer.Option(min=1, help="seconds before an episode counts as hung")] = 600.0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="record every episode's video")] = False,
    memory: Annotated[
        Path | None, typer.Option("--memory", help="memory file the workers share (default: none, nothing learned)")
    ] = None,
    embedder: EmbedderOption = EmbedderName.auto,
) -> None:
    """Run a suite of seeded episodes in parallel; write results.jsonl, results.md and report.html."""
    from embodied.evaluation.results_report import summarise, write_reports
    from embodied.evaluation.runner import EvalOptions, evaluate
    from embodied.evaluation.suites import build_suite
    from embodied.factory import EpisodeConfig
    from envs.tasks import FAMILIES

    try:
        unknown = sorted(set(families or ()) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown families {unknown}; valid: {', '.join(sorted(FAMILIES))}")
        specs = build_suite(suite, episodes, tuple(families) if families else None)
        EpisodeConfig("stack", 0, None, planner, llm, perception)  # validates the planner options
        if memory is not None:
            _open_memory(memory, EmbedderName.lexical).close()  # fails here, not in every worker
        options = EvalOptions(
            planner,
            llm,
            perception,
            env.value,
            timeout_s=timeout,
            video=video,
            memory=str(memory) if memory else None,
            embedder=embedder.value,
        )
    except (ValueError, EmbodiedError) as e:
        _fail_usage(str(e))
        return
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]suite[/] {suite}  [bold]episodes[/] {len(specs)}  [bold]workers[/] {ray or workers}")
    wins, seen = [0], [0]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("starting", total=len(specs))

        def on_result(row: dict[str, Any]) -> None:
            seen[0] += 1
            wins[0] += bool(row["success"])
            progress.update(bar, advance=1, description=f"success {100 * wins[0] / seen[0]:.0f}%")

        done_before = len(specs)
        rows = evaluate(specs, options, out, workers, ray, on_result)
        progress.update(bar, completed=done_before)
    wanted = {s.id for s in specs}
    rows = [r for r in rows if r["id"] in wanted]
    md, report = write_reports(out, rows, f"{suite} suite: {len(rows)} episodes")
    total = summarise(rows)["all"]
    console.print(f"success {100 * total['success_rate']:.1f}% of {total['episodes']} episodes")
    console.print(f" results  {md}", soft_wrap=True, highlight=False)
    console.print(f" report   {report}", soft_wrap=True, highlight=False)


BENCHMARKS: dict[str, list[str]] = {
    # script -> arguments of the quick run (`embodied bench --quick`)
    "sim_overhead": ["--rounds", "5", "--full-steps", "100"],
    "perception": ["--scenes", "20"],
    "skills": ["--episodes", "5"],
    "agent": ["--seeds", "2", "--repeats", "5"],
    "recording": ["--rounds", "1"],
    "eval_throughput": ["--episodes", "2"],
    "backends": ["--seeds", "1"],
    "memory": ["--quick"],
}


@app.command("bench")
def bench(
    quick: Annotated[bool, typer.Option(help="small runs (minutes) instead of the full ones")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", help="run only these benchmarks (repeatable)")] = None,
) -> None:
    """Run every benchmark in benchmarks/ and collect the figures in benchmarks/results.md."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    unknown = sorted(set(only or ()) - set(BENCHMARKS))
    if unknown:
        _fail_usage(f"unknown benchmarks {unknown}; valid: {', '.join(BENCHMARKS)}")
    failed = []
    for name, quick_args in BENCHMARKS.items():
        if only and name not in only:
            continue
        if not (root / "benchmarks" / f"{name}.py").is_file():
            console.print(f"[yellow]skip[/] {name}: benchmarks/{name}.py not found")
            continue
        console.print(f"[bold]bench[/] {name}")
        cmd = [sys.executable, "-m", f"benchmarks.{name}", *(quick_args if quick else [])]
        if subprocess.run(cmd, cwd=root, check=False).returncode != 0:
            failed.append(name)
    path = _write_bench_summary(root / "benchmarks")
    console.print(f" summary  {path}", soft_wrap=True, highlight=False)
    if failed:
        console.print(f"[bold red]failed:[/] {', '.join(failed)}")
        raise typer.Exit(code=1)


def _write_bench_summary(folder: Path) -> Path:
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


@app.command("tasks")
def list_tasks() -> None:
    """List the task families and an example instruction of each."""
    from envs.tasks import FAMILIES, sample_task

    table = Table("task", "description", "example instruction")
    for name, family in sorted(FAMILIES.items()):
        table.add_row(name, family.description, sample_task(name, 0).instruction)
    console.print(table)


def _open_memory(path: Path | None, embedder: EmbedderName) -> Any:
    """The memory file (raises EmbodiedError with what is wrong)."""
    from embodied.memory import Memory

    return Memory(path, embedder.value)


skills_app = typer.Typer(
    help="Composite skills in the agent's memory: list, show, remove, export, import.", no_args_is_help=True
)
memory_app = typer.Typer(help="The agent's memory file: search it, see what it holds.", no_args_is_help=True)
app.add_typer(skills_app, name="skills")
app.add_typer(memory_app, name="memory")


def _store(path: Path | None) -> Any:
    """The memory store for the skills commands (no embedder needed); exits 2 with the reason on failure."""
    from embodied.memory import MemoryStore, default_memory_path

    try:
        return MemoryStore(path or default_memory_path())
    except EmbodiedError as e:
        _fail_usage(str(e))


def _no_such_skill(store: Any, name: str) -> None:
    names = ", ".join(s.name for s in store.skills()) or "none (run episodes to learn some)"
    _fail_usage(f"no skill named {name!r} in {store.path}; stored skills: {names}")


@skills_app.command("list")
def skills_list(memory: MemoryOption = None) -> None:
    """List the composite skills: parameters, steps, how often they worked, an instruction they worked for."""
    store = _store(memory)
    with store:
        skills = store.skills()
        table = Table(
            "skill", "parameters", "steps", "worked", "learned from", title=f"{len(skills)} skills in {store.path}"
        )
        for s in skills:
            steps = s.program.get("steps", [])
            table.add_row(
                s.name,
                ", ".join(s.program.get("parameters", {}).get("properties", {})),
                " > ".join(str(st.get("skill")) for st in steps),
                f"{s.successes}/{s.uses}",
                s.examples[-1] if s.examples else s.source,
            )
        console.print(table)


@skills_app.command("show")
def skills_show(
    name: Annotated[str, typer.Argument(help="the skill's name (see `embodied skills list`)")],
    memory: MemoryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the stored program as JSON")] = False,
) -> None:
    """Show one composite skill: its description, parameters, steps and where it worked."""
    import json

    store = _store(memory)
    with store:
        s = store.skill(name)
        if s is None:
            _no_such_skill(store, name)
            return
    if as_json:
        print(
            json.dumps(
                {**s.program, "examples": list(s.examples), "successes": s.successes, "failures": s.failures}, indent=2
            )
        )
        return
    console.print(f"[bold]{s.name}[/]  ({s.source}, worked {s.successes} of {s.uses} times)", highlight=False)
    console.print(s.program.get("description", ""), highlight=False)
    params = Table("parameter", "type", "description", title="parameters")
    for p, schema in s.program.get("parameters", {}).get("properties", {}).items():
        kind = str(schema.get("type", "")) + (f" {schema['enum']}" if "enum" in schema else "")
        params.add_row(p, kind, str(schema.get("description", "")))
    console.print(params)
    steps = Table("#", "skill", "arguments", title="steps")
    for i, step in enumerate(s.program.get("steps", []), start=1):
        args = ", ".join(
            f"{k}=<{v['$param']}>" if isinstance(v, dict) and "$param" in v else f"{k}={v!r}"
            for k, v in step.get("arguments", {}).items()
        )
        steps.add_row(str(i), str(step.get("skill")), args)
    console.print(steps)
    for example in s.examples:
        console.print(f" worked for: {example}", highlight=False)


@skills_app.command("remove")
def skills_remove(name: Annotated[str, typer.Argument(help="the skill's name")], memory: MemoryOption = None) -> None:
    """Remove one composite skill from memory (export it first to keep a copy)."""
    store = _store(memory)
    with store:
        if not store.remove_skill(name):
            _no_such_skill(store, name)
    console.print(f"removed {name}", highlight=False)


@skills_app.command("export")
def skills_export(
    file: Annotated[Path, typer.Argument(help="JSON file to write")],
    memory: MemoryOption = None,
    names: Annotated[list[str] | None, typer.Option("--name", help="only these skills (repeatable)")] = None,
) -> None:
    """Write the composite skills to a readable JSON file."""
    from embodied.memory.transfer import export_skills

    store = _store(memory)
    with store:
        try:
            count = export_skills(store, file, names)
        except (EmbodiedError, OSError) as e:
            _fail_usage(str(e))
            return
    console.print(f"exported {count} skills to {file}", highlight=False)


@skills_app.command("import")
def skills_import(
    file: Annotated[Path, typer.Argument(help="JSON file written by `embodied skills export`")],
    memory: MemoryOption = None,
    skills: Annotated[
        list[str] | None, typer.Option("--skills", help="module with the @skill functions they call (repeatable)")
    ] = None,
) -> None:
    """Validate and add the skills of an export file; skills with the same steps as stored ones are merged."""
    from embodied.factory import make_registry
    from embodied.memory.transfer import import_skills

    try:
        registry = make_registry(tuple(skills or ()))
    except EmbodiedError as e:
        _fail_usage(str(e))
        return
    store = _store(memory)
    with store:
        try:
            report = import_skills(store, file, registry)
        except EmbodiedError as e:
            _fail_usage(str(e))
            return
    console.print(
        f"imported {len(report.created)} new, merged {len(report.merged)} into stored skills", highlight=False
    )
    for name, why in report.rejected:
        console.print(f"[yellow]rejected[/] {name}: {why}", highlight=False)
    if report.rejected:
        raise typer.Exit(code=1)


@memory_app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="what to look for, in words")],
    memory: MemoryOption = None,
    kinds: Annotated[
        list[str] | None, typer.Option("--kind", help="skill | episode | reflection | fact (repeatable; default all)")
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="how many results")] = 5,
    embedder: EmbedderOption = EmbedderName.auto,
) -> None:
    """Search skills, episodes, reflections and facts by meaning (MiniLM) or words (FTS5)."""
    from embodied.memory import KINDS

    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        _fail_usage(f"unknown kinds {unknown}; valid: {', '.join(KINDS)}")
    try:
        mem = _open_memory(memory, embedder)
    except EmbodiedError as e:
        _fail_usage(str(e))
        return
    with mem:
        hits = mem.store.search(query, tuple(kinds or KINDS), k)
        table = Table("kind", "score", "text", title=f"{query!r} in {mem.path} ({mem.retrieval})")
        for h in hits:
            table.add_row(h.kind, f"{h.score:.3f}", h.text)
    console.print(table if hits else f"nothing in {mem.path} matches {query!r}")


@memory_app.command("info")
def memory_info(memory: MemoryOption = None) -> None:
    """Where the memory file is and what it holds."""
    store = _store(memory)
    with store:
        console.print(f" [bold]file[/]  {store.path}", soft_wrap=True, highlight=False)  # whole, to copy
        table = Table(show_header=False, box=None)
        table.add_column()
        table.add_column()
        table.add_row("size", f"{store.path.stat().st_size / 1e6:.2f} MB")
        table.add_row("schema", str(store.schema_version))
        for kind, n in store.counts().items():
            table.add_row(f"{kind}s", str(n))
        console.print(table)
