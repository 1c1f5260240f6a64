"""``embodied lm train``'s pipeline, a few steps on a tiny random Llama: the adapter is saved and changes the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embodied.finetune.lora import IGNORE, TrainConfig, encode, train
from embodied.finetune.pairs import examples

torch = pytest.importorskip("torch", reason="fine-tuning needs torch (extra `local`)")
transformers = pytest.importorskip("transformers", reason="fine-tuning needs transformers (extra `local`)")
pytest.importorskip("peft", reason="fine-tuning needs peft (extra `local`)")


def test_labels_score_the_answer_only(tiny_model_dir: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_model_dir))
    pair = examples(1)[0]
    ids, labels = encode(tokenizer, pair)
    scored = [t for t, label in zip(ids, labels, strict=True) if label != IGNORE]
    assert tokenizer.decode(scored[:-1]) == pair.answer
    assert scored[-1] == tokenizer.eos_token_id
    assert pair.instruction in tokenizer.decode(ids[: len(ids) - len(scored)])


def test_a_few_steps_save_an_adapter_that_lowers_the_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    from embodied.llm.local import merged_adapter

    data = examples(4)
    config = TrainConfig(steps=12, batch_size=4, learning_rate=0.01, warmup_steps=1, first_layer=0, device="cpu")
    report = train(config, tiny_model_dir, tmp_path / "adapter", data=data)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    saved = json.loads((tmp_path / "adapter" / "training.json").read_text())
    assert len(saved["losses"]) == 12 and saved["config"]["steps"] == 12
    assert report.dev_loss_after < report.dev_loss_before  # the same 4 pairs: it learns them
    assert 0 < report.adapter_bytes < 20_000_000

    base = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    merged = merged_adapter(base, tmp_path / "adapter")
    changed = [k for k, v in merged.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert any("q_proj" in k for k in changed)
    assert not any("lora" in k for k in merged.state_dict())  # merged: plain weights again


def test_bad_settings_say_what_is_valid() -> None:
    with pytest.raises(ValueError, match="steps=0"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")
