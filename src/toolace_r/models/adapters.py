"""LoRA adapter folders: what an SFT with ``lora`` and without ``merge_lora`` writes, and how the
generation backends and a further SFT load one.

An adapter folder holds peft's ``adapter_config.json`` and ``adapter_model.safetensors`` (the LoRA
weights only: tens of MB for a 7B model at rank 16, not a copy of the model), the tokenizer with
its chat template and ``toolace_r.json`` (how the model is prompted). Its base model is the
``base_model_name_or_path`` of ``adapter_config.json``, which :func:`toolace_r.models.sft.train_sft`
records as the hub id the base was given as, or else as the base's absolute folder, so that the
adapter loads from any working directory. An SFT that starts from an adapter folder trains the same
adapter further on the same base, so the adapters of every round of a run share one base model.

Loading (:func:`load_hf`): the base model, then ``peft.PeftModel`` with the adapter, folded into the
weights in memory (``merge_and_unload``) so the decoding loop runs a plain model at full speed; the
folder on disk stays small. vLLM (:func:`vllm_engine_args`) starts its engine on the base model with
``enable_lora=True`` and serves the adapter through a ``LoRARequest``.

Nothing here imports torch, transformers or peft at module level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ADAPTER_CONFIG = "adapter_config.json"
# the ranks vLLM accepts as max_lora_rank
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class AdapterError(ValueError):
    """An adapter folder that cannot be used; the message is one line saying what to do."""


def is_adapter(folder: str | Path) -> bool:
    """Does ``folder`` hold a peft adapter (rather than a whole model)?"""
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def adapter_config(folder: str | Path) -> dict[str, Any]:
    """The adapter's ``adapter_config.json`` as a dict, or :class:`AdapterError`."""
    path = Path(folder) / ADAPTER_CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AdapterError(f"{path} cannot be read ({type(e).__name__}: {e}); it is not a usable LoRA adapter") from None
    if not isinstance(data, dict):
        raise AdapterError(f"{path} is not a JSON object; it is not a usable LoRA adapter")
    return data


def adapter_base(folder: str | Path) -> str:
    """The reference of the adapter's base model (a folder or a hub id), as recorded."""
    base = adapter_config(folder).get("base_model_name_or_path")
    if not isinstance(base, str) or not base.strip():
        raise AdapterError(f"{Path(folder) / ADAPTER_CONFIG} names no base model (base_model_name_or_path); "
                           "set it to the base model's folder or hub id")
    return base


def resolve_base(folder: str | Path) -> Path:
    """The local folder of the adapter's base model; one-line :class:`AdapterError` when it is gone."""
    from toolace_r.models.refs import ModelRefError, resolve_model

    base = adapter_base(folder)
    try:
        path = resolve_model(base, what=f"the base model of the adapter in {folder}")
    except ModelRefError as e:
        raise AdapterError(f"{e} (recorded as base_model_name_or_path in {Path(folder) / ADAPTER_CONFIG}: "
                           "point it at the base model)") from None
    if is_adapter(path):
        raise AdapterError(f"the base model of the adapter in {folder} is itself an adapter ({path}); "
                           "an adapter needs a whole model as its base")
    return path


def base_reference(given: str | Path, resolved: Path) -> str:
    """What an adapter records as its base: the hub id when the base was given as one (``given`` is
    no folder here), else the absolute folder."""
    if not Path(given).expanduser().is_dir():
        return str(given)
    return str(Path(resolved).expanduser().resolve())


def record_base(folder: str | Path, base: str) -> None:
    """Write ``base`` as the adapter's ``base_model_name_or_path``."""
    data = adapter_config(folder)
    data["base_model_name_or_path"] = base
    (Path(folder) / ADAPTER_CONFIG).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_hf(folder: str | Path, dtype: Any = None, *, merge: bool = True, trainable: bool = False) -> Any:
    """The base model with the adapter of ``folder`` applied through ``peft.PeftModel``;
    ``merge``: folded into the weights (a plain transformers model), else the ``PeftModel``
    (``trainable``: its LoRA weights train on)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(resolve_base(folder)), dtype=dtype)
    model = PeftModel.from_pretrained(base, str(folder), is_trainable=trainable and not merge)
    return model.merge_and_unload() if merge else model


def tokenizer_folder(folder: str | Path) -> Path:
    """Where the tokenizer of a model folder lies: the folder itself, or for an adapter folder
    saved without one, its base model's."""
    folder = Path(folder)
    if is_adapter(folder) and not (folder / "tokenizer_config.json").is_file():
        return resolve_base(folder)
    return folder


def vllm_engine_args(model_path: str | Path, lora_path: str | Path | None, enable_lora: bool,
                     max_lora_rank: int) -> tuple[str, str | None, dict[str, Any]]:
    """``(model the engine loads, adapter to serve or None, LoRA engine settings)`` for vLLM: an
    adapter folder as ``model_path`` starts the engine on its base model and serves the adapter;
    with an adapter, ``max_lora_rank`` is raised to the adapter's rank (to a rank vLLM accepts)."""
    base = str(model_path)
    if lora_path is None and is_adapter(model_path):
        lora_path, base = str(model_path), str(resolve_base(model_path))
    if lora_path is None and not enable_lora:
        return base, None, {}
    rank = max_lora_rank
    if lora_path is not None:
        r = adapter_config(lora_path).get("r")
        rank = max(rank, r if isinstance(r, int) else 0)
    rank = next((x for x in VLLM_LORA_RANKS if x >= rank), rank)
    return base, None if lora_path is None else str(lora_path), {"enable_lora": True, "max_lora_rank": rank}


def lora_request_args(n: int, lora_path: str | Path) -> tuple[str, int, str]:
    """``LoRARequest(name, id, path)`` arguments for the ``n``-th adapter an engine serves (ids
    start at 1; a new id per adapter, so vLLM loads new weights instead of a cached adapter)."""
    if n < 1:
        raise ValueError(f"vLLM LoRA ids start at 1, got {n}")
    if not is_adapter(lora_path):
        raise AdapterError(f"{lora_path} holds no {ADAPTER_CONFIG}: not a LoRA adapter folder")
    return f"toolace_r_adapter_{n}", n, str(Path(lora_path).expanduser().resolve())
