"""The vLLM backend (optional extra, GPU): :class:`VLLMGenerator` and the engine flags it takes
(:func:`vllm_engine_kw`). :mod:`toolace_r.models.generation` re-exports both; vllm itself is
imported only when an engine is made."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from toolace_r.models import adapters
from toolace_r.models.backend import Completion, Generator, _check_args, _positions, prompt_seed
from toolace_r.models.prompting import (PROMPT_CONFIG_FILE, confirm_token_id, confirmation, decode_answer,
                                        encode_prompt, kept_token_ids, load_prompt_config, model_prompt_config)


class VLLMGenerator(Generator):
    """vLLM offline engine with prefix caching.

    ``tensor_parallel_size`` GPUs hold one copy of the model; ``gpu_memory_utilization`` is the
    share of each GPU's memory the engine may take (weights + KV cache). ``lora_path`` (or an
    adapter directory as ``model_path``) serves a LoRA adapter on top of its base model; with
    ``enable_lora=True`` the engine starts ready for adapters and :meth:`set_adapter` switches to
    a new one (e.g. each MAIT round's) without reloading the base model. :meth:`close` shuts the
    engine down and frees its GPU memory, so that training can use the GPU next."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        lora_path: str | Path | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        enable_lora: bool = False,
        max_lora_rank: int = 64,
        **engine_kw: Any,
    ):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("the vllm backend needs the optional extra: pip install 'toolace-r[vllm]'") from e
        base, lora_path, lora_kw = adapters.vllm_engine_args(model_path, lora_path, enable_lora, max_lora_rank)
        self.lora_enabled = bool(lora_kw)
        engine_kw.update(lora_kw)
        engine_kw.setdefault("enable_prefix_caching", True)
        self.llm: Any = LLM(model=base, tensor_parallel_size=tensor_parallel_size,
                            gpu_memory_utilization=gpu_memory_utilization, **engine_kw)
        self.tokenizer = self.llm.get_tokenizer()
        self.prompt_config = model_prompt_config(model_path, self.tokenizer)
        self.confirm_id, self.confirm_text = confirm_token_id(self.tokenizer), confirmation(self.tokenizer)
        self.keep_ids = kept_token_ids(self.tokenizer)
        self.lora_request: Any = None
        self._masker: Any = None  # closes constrained answers cut by max_tokens, made when first needed
        self._n_adapters = 0
        if lora_path is not None:
            self.set_adapter(lora_path)

    def set_adapter(self, lora_path: str | Path | None) -> None:
        """Serve this LoRA adapter (of the engine's base model) from the next call on; ``None``
        serves the base model. The engine keeps running; each adapter gets a new id, so vLLM
        loads the new weights instead of reusing a cached adapter."""
        if lora_path is None:
            self.lora_request = None
            return
        if not self.lora_enabled:
            raise ValueError("this engine was started without LoRA support: create it with enable_lora=True")
        from vllm.lora.request import LoRARequest

        self._n_adapters += 1
        self.lora_request = LoRARequest(*adapters.lora_request_args(self._n_adapters, lora_path))
        if (Path(lora_path) / PROMPT_CONFIG_FILE).is_file():
            self.prompt_config = load_prompt_config(lora_path)

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None, constraints=None):
        """``cache`` is ignored: the engine caches prefixes itself (``enable_prefix_caching``).
        ``constraints``: vLLM's structured outputs (:func:`~toolace_r.models.constrain.vllm_structured_kw`)."""
        from vllm import SamplingParams

        from toolace_r.models.constrain import vllm_structured_kw

        _check_args(prompts, n, temperature, top_p, max_new_tokens)
        if self.llm is None:
            raise RuntimeError("the vllm engine was closed")
        cons = list(constraints) if constraints is not None else [None] * len(prompts)
        confirm = self.confirm_id if self.confirm_id is not None else self.confirm_text
        params = [SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens,
                                 seed=prompt_seed(seed, pos), **vllm_structured_kw(c, confirm))
                  for pos, c in zip(_positions(len(prompts), positions), cons)]
        inputs = [{"prompt_token_ids": encode_prompt(self.tokenizer, m, t)} for m, t in prompts]
        outs = self.llm.generate(inputs, params, lora_request=self.lora_request, use_tqdm=False)
        results = []
        for inp, req, c in zip(inputs, outs, cons):
            n_prompt = len(inp["prompt_token_ids"])
            # What the engine's prefix cache served is not computed (reported by recent vLLM).
            prefill = n_prompt - (getattr(req, "num_cached_tokens", None) or 0)
            comps = []
            for j, o in enumerate(req.outputs):
                ids, text = list(o.token_ids), o.text
                if c is not None and getattr(o, "finish_reason", None) == "length":
                    # cut inside a call by max_tokens: closed within the budget, as the hf backend does
                    ids = self._closed(c, ids, max_new_tokens)
                    stop = self.tokenizer.eos_token_id
                    text = decode_answer(self.tokenizer, ids[:-1] if ids and ids[-1] == stop else ids, self.keep_ids)
                elif self.keep_ids.intersection(ids):  # vLLM's text drops special tokens: decoded again
                    text = decode_answer(self.tokenizer, ids, self.keep_ids)
                comps.append(Completion(text, len(ids), tuple(ids), prompt_tokens=n_prompt,
                                        prefill_tokens=prefill if j == 0 else 0))
            results.append(comps)
        return results

    def _closed(self, c: Any, ids: list[int], budget: int) -> list[int]:
        """``ids`` (a constrained answer the budget cut) made a complete call within ``budget``
        (:meth:`~toolace_r.models.constrain.CallMasker.close`); unchanged if it already ends."""
        from toolace_r.models.constrain import CallMasker

        if self._masker is None:
            confirm = self.confirm_id if self.confirm_id is not None else self.confirm_text
            self._masker = CallMasker(self.tokenizer, len(self.tokenizer), {self.tokenizer.eos_token_id}, confirm)
        (matcher,) = self._masker.matchers([c])
        for k, t in enumerate(ids):
            if not matcher.accept_token(t):  # not what the grammar allows: leave the answer as it is
                return ids
            if matcher.is_terminated():
                return ids[:k + 1]
        return ids if matcher.is_terminated() else self._masker.close(matcher, ids, budget)

    def constraint_problem(self) -> str | None:
        return None  # structured outputs (vllm_structured_kw)

    def close(self) -> None:
        """Shut the engine down and give its GPU memory back (weights, KV cache, NCCL groups)."""
        if self.llm is None:
            return
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if callable(getattr(core, "shutdown", None)):
            core.shutdown()  # the V1 engine runs in its own process: stop it
        self.llm = None
        gc.collect()
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
        except ImportError:  # older vLLM: the same steps by hand
            import torch
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

            destroy_model_parallel()
            destroy_distributed_environment()
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        else:
            cleanup_dist_env_and_memory()


def vllm_engine_kw(backend: str, *, tensor_parallel_size: int | None = None,
                   gpu_memory_utilization: float | None = None, max_model_len: int | None = None) -> dict[str, Any]:
    """The vLLM engine settings a command was given (``None``: the engine's default), checked, as
    keywords for :class:`VLLMGenerator`. ``ValueError`` names the flag (vLLM's own names) when a
    value is out of range or a setting comes with another backend. Imports nothing: vllm loads only
    when the engine is made."""
    given = {name: value for name, value in (("tensor_parallel_size", tensor_parallel_size),
                                             ("gpu_memory_utilization", gpu_memory_utilization),
                                             ("max_model_len", max_model_len)) if value is not None}
    if given and backend != "vllm":
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ValueError(f"{flags} {'is' if len(given) == 1 else 'are'} for --backend vllm, not {backend}")
    if tensor_parallel_size is not None and tensor_parallel_size < 1:
        raise ValueError(f"--tensor-parallel-size must be >= 1 (GPUs per engine), got {tensor_parallel_size}")
    if gpu_memory_utilization is not None and not 0 < gpu_memory_utilization <= 1:
        raise ValueError("--gpu-memory-utilization must be in (0, 1] (the share of each GPU's memory the "
                         f"engine takes), got {gpu_memory_utilization}")
    if max_model_len is not None and max_model_len < 1:
        raise ValueError(f"--max-model-len must be >= 1 (tokens of prompt + answer), got {max_model_len}; "
                         "leave it out for the model's own context length")
    return given
