"""``embodied lm``: the local language model (fine-tune it on the goal-grounding pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embodied.cli.console import fail_usage, say
from embodied.cli.options import in_range
from embodied.errors import EmbodiedError

lm_app = typer.Typer(help="The local language model: fine-tune it on the task language.", no_args_is_help=True)


@lm_app.command("train")
def lm_train(
    out: Annotated[
        Path, typer.Option(help="folder for the adapter (the shipped one: embodied/llm/adapters/smollm2-goals)")
    ],
    steps: Annotated[int, typer.Option(callback=in_range(1, 100_000), help="optimizer steps")] = 300,
    batch_size: Annotated[int, typer.Option(callback=in_range(1, 512), help="examples per step")] = 8,
    examples: Annotated[int, typer.Option(callback=in_range(1, 900_000), help="generated training pairs")] = 8000,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate of the LoRA weights")] = 1e-3,
    rank: Annotated[int, typer.Option(callback=in_range(1, 256), help="LoRA rank")] = 16,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (auto: a GPU when there is one)")] = "auto",
    seed: Annotated[int, typer.Option(callback=in_range(0), help="seed of the batch order and the adapter init")] = 0,
) -> None:
    """Fine-tune SmolLM2 with LoRA on generated instruction -> goal pairs (reproduces the shipped adapter)."""
    from embodied.finetune.lora import TrainConfig, train
    from embodied.llm.local import local_model_dir

    try:
        config = TrainConfig(
            examples=examples,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            rank=rank,
            alpha=2 * rank,
            device=device,
            seed=seed,
        )
    except ValueError as e:
        fail_usage(str(e))
    if out.exists() and not out.is_dir():
        fail_usage(f"--out {out} is a file; give a folder for the adapter")
    try:
        base = local_model_dir()
    except EmbodiedError as e:
        fail_usage(str(e))
    say("[bold]training[/] a LoRA adapter on {} for {} steps of {} examples", base.name, steps, batch_size)
    every = max(1, steps // 20)

    def progress(step: int, loss: float) -> None:
        if step % every == 0 or step == steps - 1:
            say("step {}/{}  loss {}", step + 1, steps, f"{loss:.4f}")

    report = train(config, base, out, progress=progress)
    say(
        "[bold green]saved[/] {} ({} KB) in {} s on {} ({} s per step); dev loss {} -> {}",
        out,
        report.adapter_bytes // 1024,
        report.seconds,
        report.device,
        report.seconds_per_step,
        report.dev_loss_before,
        report.dev_loss_after,
    )
    say("use it with [bold]--llm local:{}[/]", out, soft_wrap=True)
