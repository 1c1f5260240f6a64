"""``embodied memory``: the agent's memory file (search it, see what it holds)."""

from __future__ import annotations

from typing import Annotated

import typer

from embodied.cli.console import fail_usage, say, show, table
from embodied.cli.options import (
    EmbedderName,
    EmbedderOption,
    MemoryOption,
    in_range,
    memory_errors_are_usage_errors,
    open_memory,
    open_store,
)
from embodied.errors import EmbodiedError

memory_app = typer.Typer(help="The agent's memory file: search it, see what it holds.", no_args_is_help=True)

MAX_RESULTS = 1000


@memory_app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="what to look for, in words")],
    memory: MemoryOption = None,
    kinds: Annotated[
        list[str] | None, typer.Option("--kind", help="skill | episode | reflection | fact (repeatable; default all)")
    ] = None,
    k: Annotated[
        int, typer.Option("-k", callback=in_range(1, MAX_RESULTS), help=f"how many results (1 to {MAX_RESULTS})")
    ] = 5,
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
    with memory_errors_are_usage_errors(), mem:
        hits = mem.store.search(query, tuple(kinds or KINDS), k)
        found = table("kind", "score", "text", title=f"{query!r} in {mem.path} ({mem.retrieval})")
        for h in hits:
            found.add_row(h.kind, f"{h.score:.3f}", h.text)
    if hits:
        show(found)
    else:
        say("nothing in {} matches {!r}", mem.path, query)


@memory_app.command("info")
def memory_info(memory: MemoryOption = None) -> None:
    """Where the memory file is and what it holds."""
    store = open_store(memory)
    with memory_errors_are_usage_errors(), store:
        rows = [("size", f"{store.path.stat().st_size / 1e6:.2f} MB"), ("schema", str(store.schema_version))]
        rows += [(f"{kind}s", str(n)) for kind, n in store.counts().items()]
    say(" [bold]file[/]  {}", store.path, soft_wrap=True)  # whole, to copy
    held = table(show_header=False, box=None)
    held.add_column()
    held.add_column()
    for row in rows:
        held.add_row(*row)
    show(held)
