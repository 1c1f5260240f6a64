"""Fixtures shared by the tests of ``embodied``: a tiny randomly initialised Llama saved to a folder
(for the local model backends and for fine-tuning)."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = [
    '{"thoughts": "pick the red block first", "tool_calls": [{"name": "pick", "arguments": {"object": "red block"}}]}',
    "The robot arm picks up the blue block and places it on the green plate, then it is done.",
    '{"goal": [["on", "red block", "blue block"], ["in_region", "green bowl", "left side"]], "done": false}',
]
CHAT_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}]\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant]\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-wide random Llama and a byte-level BPE tokenizer trained here, saved to a folder."""
    torch = pytest.importorskip("torch", reason="the hf backend needs torch (extra `hf`)")
    transformers = pytest.importorskip("transformers", reason="the hf backend needs transformers (extra `hf`)")
    pytest.importorskip("tokenizers", reason="building the test tokenizer needs `tokenizers`")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>", "<pad>"], initial_alphabet=alphabet)
    tok.train_from_iterator(CORPUS * 3, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.chat_template = CHAT_TEMPLATE
    config = transformers.LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
