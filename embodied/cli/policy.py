"""``embodied policy``: train learned skill policies on recorded demonstrations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embodied.cli.console import fail_usage, say
from embodied.cli.options import in_range, usable_out
from embodied.errors import EmbodiedError

policy_app = typer.Typer(
    help="Learned skill policies: train one on a dataset (`embodied record`).", no_args_is_help=True
)


@policy_app.command("train")
def train(
    dataset: Annotated[Path, typer.Argument(help="a dataset folder written by `embodied record`")],
    skill: Annotated[str, typer.Option(help="the skill to learn: pick or place")] = "pick",
    out: Annotated[
        Path | None,
        typer.Option(callback=lambda p: p and usable_out(p), help="checkpoint folder (default: checkpoints/SKILL)"),
    ] = None,
    epochs: Annotated[int, typer.Option(callback=in_range(1, 10_000), help="passes over the training samples")] = 30,
    batch_size: Annotated[int, typer.Option(callback=in_range(1, 65_536), help="samples per gradient step")] = 64,
    learning_rate: Annotated[float, typer.Option(help="peak learning rate (one-cycle schedule)")] = 1e-3,
    chunk: Annotated[int, typer.Option(callback=in_range(1, 100), help="actions predicted per step (ACT chunk)")] = 10,
    max_episodes: Annotated[
        int | None, typer.Option(callback=lambda v: v and in_range(1)(v), help="use only the first N episodes")
    ] = None,
    seed: Annotated[
        int, typer.Option(callback=in_range(0), help="seed of the split, the shuffles and the weights")
    ] = 0,
    threads: Annotated[
        int, typer.Option(callback=in_range(1, 256), help="CPU threads (more help only on cores nothing else uses)")
    ] = 1,
) -> None:
    """Train a visuomotor policy (two cameras + proprio + the call's target -> chunks of actions) on every
    successful call of SKILL in DATASET; writes model.safetensors and config.json."""
    from embodied.learning.train import TrainConfig
    from embodied.learning.train import train as run_train

    try:
        config = TrainConfig(
            skill=skill,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            chunk=chunk,
            max_episodes=max_episodes,
            seed=seed,
            threads=threads,
        )
        record = run_train(dataset, out or Path("checkpoints") / skill, config, progress=lambda t: say("{}", t))
    except EmbodiedError as e:
        fail_usage(str(e))
    say(
        "[bold]wrote[/] {} ({} training samples from {} episodes, {} epochs, {:.0f} s on the CPU)",
        out or Path("checkpoints") / skill,
        record["train_samples"],
        record["episodes_used"],
        record["epochs"],
        record["train_seconds"],
    )
