"""Tiny look-alike chat models: a real tokenizer and chat template on a small random network.

The offline counterpart of the Hub's tiny-random models: :func:`tiny_model` puts a real vocabulary
(a ``.gguf`` file, e.g. llama.cpp's ``ggml-vocab-qwen2.gguf``, see :mod:`toolace_r.models.realvocab`)
and a real chat template on a randomly initialised Qwen2 or Llama network of a few layers, and saves
a folder that ``AutoTokenizer`` / ``AutoModelForCausalLM`` load like the real model. A recipe for
Qwen2.5 or Llama 3.x (prompts, tool-call format, loss masks, LoRA, serving) can then be smoke-tested
on a CPU in minutes before GPU hours go into the real one. It answers nonsense: its weights are random.

Launch::

    toolace-r model tiny --vocab ggml-vocab-qwen2.gguf --chat-template Qwen-Qwen2.5-7B-Instruct.jinja \\
        --arch qwen2 --out models/tiny-qwen

(``--vocab qwen2 --chat-template qwen2.5``: the short names of :mod:`~toolace_r.models.realvocab`,
fetched into its cache.) The folder's ``toolace_r.json`` records the tool-call format the template
writes (``hermes`` for Qwen2.5), which training, probing and evaluation then use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ARCHS = ("qwen2", "llama")

# Small enough for a CPU; the embedding table (vocabulary x hidden) holds most of the parameters.
TINY_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=4096)


def tiny_model(vocab: str | Path, chat_template: str | Path, out_dir: str | Path, *, arch: str = "qwen2",
               seed: int = 0, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build and save the tiny model (see the module docstring); a summary of what was saved."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from toolace_r.calls import detect_tool_format
    from toolace_r.models.prompting import native_config, write_prompt_config
    from toolace_r.models.realvocab import chat_tokenizer

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    tok = chat_tokenizer(vocab, chat_template)
    config_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if arch == "qwen2" else (LlamaConfig, LlamaForCausalLM)
    # generation stops at the end of a turn, and at the vocabulary's own end of text
    stop = sorted({i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None})
    config = config_cls(**{**TINY_SHAPE, **(overrides or {})}, vocab_size=len(tok), tie_word_embeddings=True,
                        bos_token_id=tok.bos_token_id, eos_token_id=stop, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=stop,
                                               pad_token_id=tok.pad_token_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    fmt = detect_tool_format(tok.chat_template)
    write_prompt_config(out, native_config(fmt))
    return {"out_dir": str(out), "arch": arch, "tool_format": fmt, "vocab_size": len(tok),
            "n_params": sum(p.numel() for p in model.parameters()), "eos_token": tok.eos_token}
