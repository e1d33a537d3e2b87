"""Tiny look-alike chat models: a real tokenizer and chat template on a small random network.

The offline counterpart of the Hub's tiny-random models: :func:`tiny_model` puts a real vocabulary
(a ``.gguf`` file, e.g. llama.cpp's ``ggml-vocab-qwen2.gguf``, see :mod:`toolace_r.models.realvocab`)
and a real chat template on a randomly initialised Qwen2 or Llama network of a few layers, and saves
a folder that ``AutoTokenizer`` / ``AutoModelForCausalLM`` load like the real model. A recipe for
Qwen2.5 or Llama 3.x (prompts, tool-call format, loss masks, LoRA, serving) can then be smoke-tested
on a CPU in minutes before GPU hours go into the real one. It answers nonsense: its weights are random.

``toolace-r model tiny --like FOLDER_OR_HUB_ID`` (:func:`tiny_like`) does the same for a model at
hand: its tokenizer, chat template, prompt config and architecture, with tiny shapes. Launch::

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
    from transformers import GenerationConfig, LlamaConfig, Qwen2Config

    from toolace_r.calls import detect_tool_format
    from toolace_r.models.prompting import native_config
    from toolace_r.models.realvocab import chat_tokenizer

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    tok = chat_tokenizer(vocab, chat_template)
    # generation stops at the end of a turn, and at the vocabulary's own end of text
    stop = sorted({i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None})
    config = (Qwen2Config if arch == "qwen2" else LlamaConfig)(
        **{**TINY_SHAPE, **(overrides or {})}, vocab_size=len(tok), tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=stop, pad_token_id=tok.pad_token_id)
    generation = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=stop, pad_token_id=tok.pad_token_id)
    return _save(config, generation, tok, native_config(detect_tool_format(tok.chat_template)), out_dir, seed)


def tiny_like(ref: str | Path, out_dir: str | Path, *, seed: int = 0,
              overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tiny counterpart of the model ``ref`` (a folder or a hub id, :mod:`~toolace_r.models.refs`):
    its tokenizer, chat template, prompt config and architecture, shrunk to :data:`TINY_SHAPE`."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from toolace_r.models.prompting import load_prompt_config
    from toolace_r.models.refs import resolve_model

    folder = resolve_model(ref, what="--like")
    tok = AutoTokenizer.from_pretrained(str(folder))
    config = AutoConfig.from_pretrained(str(folder))
    shape = {**TINY_SHAPE, **(overrides or {})}
    for key, value in shape.items():
        setattr(config, key, value)
    if getattr(config, "head_dim", None):  # set explicitly by some (Qwen3): follow the new width
        config.head_dim = shape["hidden_size"] // shape["num_attention_heads"]
    if getattr(config, "layer_types", None):  # one entry per layer
        config.layer_types = config.layer_types[: shape["num_hidden_layers"]]
    config.vocab_size = max(config.vocab_size or 0, len(tok))
    try:
        generation = GenerationConfig.from_pretrained(str(folder))
    except OSError:  # no generation_config.json: the model config's ids
        generation = GenerationConfig.from_model_config(config)
    return _save(config, generation, tok, load_prompt_config(folder), out_dir, seed)


def _save(config: Any, generation: Any, tok: Any, prompt_cfg: Any, out_dir: str | Path, seed: int) -> dict[str, Any]:
    """A randomly initialised model of ``config`` saved with ``tok`` and ``prompt_cfg``; a summary."""
    import torch
    from transformers import AutoModelForCausalLM

    from toolace_r.models.prompting import write_prompt_config

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = generation
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    write_prompt_config(out, prompt_cfg)
    return {"out_dir": str(out), "arch": config.model_type, "tool_format": prompt_cfg.tool_format,
            "vocab_size": config.vocab_size, "n_params": sum(p.numel() for p in model.parameters()),
            "eos_token": tok.eos_token}
