"""``embodied memory``: the agent's memory file (search it, see what it holds)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from embodied.cli.console import console, fail_usage
from embodied.cli.options import EmbedderName, EmbedderOption, MemoryOption, open_memory, open_store
from embodied.errors import EmbodiedError

memory_app = typer.Typer(help="The agent's memory file: search it, see what it holds.", no_args_is_help=True)


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
        fail_usage(f"unknown kinds {unknown}; valid: {', '.join(KINDS)}")
    try:
        mem = open_memory(memory, embedder)
    except EmbodiedError as e:
        fail_usage(str(e))
    with mem:
        hits = mem.store.search(query, tuple(kinds or KINDS), k)
        table = Table("kind", "score", "text", title=f"{query!r} in {mem.path} ({mem.retrieval})")
        for h in hits:
            table.add_row(h.kind, f"{h.score:.3f}", h.text)
    console.print(table if hits else f"nothing in {mem.path} matches {query!r}")


@memory_app.command("info")
def memory_info(memory: MemoryOption = None) -> None:
    """Where the memory file is and what it holds."""
    store = open_store(memory)
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
