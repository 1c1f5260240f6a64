"""LoRA fine-tuning of the local model on the goal-grounding pairs (``embodied lm train``).

The base model is SmolLM2-135M-Instruct from the model cache (:func:`embodied.llm.local.local_model_dir`);
``peft`` adds low-rank adapters to the attention projections and only those are trained, with
AdamW, a linear warm-up then a constant rate. Each example is the exact prompt LLM+P sends
(:func:`embodied.planners.prompting.goal_messages` through the tokenizer's chat template) followed
by the answer a constrained decoder writes and the end-of-turn token; the loss counts the answer
tokens only. The adapter (``adapter_model.safetensors`` + ``adapter_config.json``) is saved with
``training.json``: the configuration, the loss curve, the device and how long it took.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embodied.finetune.pairs import DEV_SEEDS, TRAIN_SEEDS, GoalExample, examples
from embodied.llm.answers import REGION_NAMES
from embodied.llm.chat_template import render_chat
from embodied.planners.prompting import goal_messages

logger = logging.getLogger(__name__)

IGNORE = -100  # label of the prompt tokens: no loss


@dataclass(frozen=True)
class TrainConfig:
    """What ``embodied lm train`` trains; the defaults reproduce the shipped adapter."""

    examples: int = 8000
    steps: int = 250
    batch_size: int = 8
    learning_rate: float = 1.5e-3
    warmup_steps: int = 20
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    #: Adapt only the upper layers: backpropagation then stops there (a third less work per step).
    first_layer: int = 12
    seed: int = 0
    dev_examples: int = 64
    #: Save the adapter every this many steps (the rate is constant after warm-up, so the adapter
    #: saved at step N is the one ``steps=N`` trains).
    save_every: int = 25
    device: str = "auto"
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("examples", "steps", "batch_size", "rank", "alpha"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be >= 1")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"TrainConfig.learning_rate={self.learning_rate} must be in (0, 1)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"TrainConfig.device={self.device!r} must be auto, cpu or cuda")


@dataclass
class TrainReport:
    """What a training run did (also written to ``training.json`` beside the adapter)."""

    config: dict[str, Any]
    device: str
    seconds: float
    seconds_per_step: float
    losses: list[tuple[int, float]]
    dev_loss_before: float
    dev_loss_after: float
    trainable_parameters: int
    adapter_bytes: int
    machine: str = field(default_factory=platform.platform)


def encode(tokenizer: Any, example: GoalExample) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer + end of turn, and labels that score only the answer."""
    messages = goal_messages(example.instruction, example.names, REGION_NAMES)
    prompt = tokenizer(render_chat(tokenizer, messages), add_special_tokens=False).input_ids
    answer = tokenizer(example.answer, add_special_tokens=False).input_ids + [int(tokenizer.eos_token_id)]
    return prompt + answer, [IGNORE] * len(prompt) + answer


def _batch(torch: Any, rows: Sequence[tuple[list[int], list[int]]], pad: int, device: str) -> dict[str, Any]:
    width = max(len(ids) for ids, _ in rows)
    ids = [r[0] + [pad] * (width - len(r[0])) for r in rows]
    labels = [r[1] + [IGNORE] * (width - len(r[1])) for r in rows]
    mask = [[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def _mean_loss(torch: Any, model: Any, rows: Sequence[tuple[list[int], list[int]]], pad: int, device: str) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(rows), 16):
            part = rows[i : i + 16]
            total += float(model(**_batch(torch, part, pad, device)).loss) * len(part)
    model.train()
    return total / max(1, len(rows))


def train(
    config: TrainConfig,
    base: Path,
    out: Path,
    progress: Callable[[int, float], None] | None = None,
    data: Sequence[GoalExample] | None = None,
) -> TrainReport:
    """Train a LoRA adapter on ``base`` (a transformers model folder) and save it into ``out``.

    ``data`` replaces the generated pairs (tests pass a handful); ``progress(step, loss)`` is
    called every step.
    """
    import peft
    import torch
    import transformers

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    if config.threads:
        torch.set_num_threads(config.threads)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model: Any = transformers.AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
    model = model.to(device)
    lora = peft.LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        layers_to_transform=list(range(config.first_layer, int(model.config.num_hidden_layers))),
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(model, lora)
    model.train()
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    pairs = list(data) if data is not None else examples(config.examples, TRAIN_SEEDS)
    rows = [encode(tokenizer, e) for e in pairs]
    dev = [
        encode(tokenizer, e)
        for e in (pairs[: config.dev_examples] if data else examples(config.dev_examples, DEV_SEEDS))
    ]
    dev_before = _mean_loss(torch, model, dev, pad, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)

    def rate(step: int) -> float:
        return min(1.0, (step + 1) / config.warmup_steps)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    order: list[int] = []
    losses: list[tuple[int, float]] = []
    start = time.perf_counter()
    report: TrainReport | None = None
    for step in range(config.steps):
        if len(order) < config.batch_size:
            order += random.sample(range(len(rows)), len(rows))
        batch = [rows[order.pop()] for _ in range(min(config.batch_size, len(rows)))]
        loss = model(**_batch(torch, batch, pad, device)).loss
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"the training loss became {value} at step {step}; lower --learning-rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append((step, round(value, 5)))
        if progress is not None:
            progress(step, value)
        done = step + 1
        if done == config.steps or (config.save_every and done % config.save_every == 0):
            seconds = time.perf_counter() - start
            report = TrainReport(
                config={**asdict(config), "steps": done},
                device=device,
                seconds=round(seconds, 1),
                seconds_per_step=round(seconds / done, 3),
                losses=list(losses),
                dev_loss_before=round(dev_before, 5),
                dev_loss_after=round(_mean_loss(torch, model, dev, pad, device), 5),
                trainable_parameters=sum(p.numel() for p in params),
                adapter_bytes=0,
            )
            _save(model, report, out if done == config.steps else out / f"step-{done}")
    assert report is not None
    return report


def _save(model: Any, report: TrainReport, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for config in model.peft_config.values():  # the model's name, not this machine's cache path
        config.base_model_name_or_path = Path(str(config.base_model_name_or_path)).name.rsplit("-", 1)[0]
    model.save_pretrained(str(out))
    (out / "README.md").unlink(missing_ok=True)  # peft's empty model card
    report.adapter_bytes = sum(f.stat().st_size for f in out.iterdir() if f.name.startswith("adapter_"))
    (out / "training.json").write_text(json.dumps(asdict(report), indent=1) + "\n")
