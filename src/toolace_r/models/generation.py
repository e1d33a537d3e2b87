"""Generation: one interface, three backends (local transformers, vLLM, an OpenAI-compatible server).

``Generator.generate(prompts, n, temperature, top_p, max_new_tokens, seed, positions)`` takes prompts as
``(messages, tools)`` pairs, exactly what :func:`toolace_r.models.prompting.build_messages` and
:func:`~toolace_r.models.prompting.refine_messages` return, and gives back, per prompt, ``n``
:class:`Completion` objects (text without the end-of-turn token, and the number of generated tokens,
end token included: the cost). ``temperature == 0`` is greedy decoding.

Seeding: every prompt samples from its own random stream, seeded by :func:`prompt_seed` from
``(seed, position)``, where ``position`` is the prompt's place in the list (or ``positions[i]``
when the caller passes a share of a longer list, as a rank of a multi-process probe does). So a
prompt's answers do not depend on which other prompts share the call, the batch or the process:
a probe split over N processes returns exactly what one process returns.

Backends (:func:`make_generator`):

* ``hf`` (default): a transformers causal LM run by our own decoding loop. The MAIT probe samples
  k answers per prompt, so the loop prefills each distinct prompt once and then repeats its KV cache
  k times (``Cache.batch_repeat_interleave``) instead of prefilling k copies. Prompts are sorted by
  length and left-padded into batches of at most ``max_batch_rows`` sequences (64 on CPU, where the
  calibration found larger batches slower; 512 on CUDA), halved on out-of-memory. Rows that hit the
  end-of-turn token are dropped from the batch as they finish. The KV cache has room for the
  answer from the prefill on, so a step writes into place (:mod:`toolace_r.models.kv_buffer`), and
  the nucleus (``top_p``) is cut from the 64 most likely tokens whenever it provably lies among
  them (a whole-vocabulary sort otherwise). Sampling is inverse-CDF sampling
  with one uniform number per row and step, drawn ahead from the row's own numpy stream (seeded
  with ``(prompt_seed, sample index)``), so batching never changes what a row samples.
  ``generate(..., cache=PrefixCache())``: the KV of each prompt and its answer is kept (within a
  memory budget) and a later prompt that continues them, such as a refinement round's, prefills
  only its new tokens (:mod:`toolace_r.models.prefix_cache`; ``Completion.prefill_tokens``).
  ``generate(..., constraints=[...])``: one :class:`~toolace_r.models.constrain.CallConstraint`
  (or None) per prompt; a constrained prompt's answers can only be calls of its functions
  (``tool_choice``; xgrammar masks each step's logits).
* ``vllm`` (optional extra, GPU): ``SamplingParams(n=k, seed=prompt_seed)`` per prompt, prefix
  caching, ``tensor_parallel_size`` GPUs per engine, LoRA adapters via ``LoRARequest``
  (:meth:`VLLMGenerator.set_adapter` swaps the adapter without restarting the engine), and
  :meth:`~VLLMGenerator.close` frees the GPU memory (call it before training on the same GPU).
  Imported only when used.
* ``openai``: any OpenAI-compatible ``/v1/chat/completions`` endpoint (``OPENAI_BASE_URL`` /
  ``OPENAI_API_KEY`` or arguments), called through the ``openai`` SDK's client from a thread pool
  with a concurrency limit; the client does the timeouts and the retries (connection errors,
  408/409/429 and 5xx, Retry-After or exponential backoff).

Launch a quick look from the command line::

    toolace-r model generate --model models/tiny --data corpus/test.jsonl --n 2 --limit 5
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from toolace_r.calls import format_calls, parse_calls
from toolace_r.models import adapters
# The interface, re-exported: callers import everything generation-related from here.
from toolace_r.models.backend import Completion, Generator, Prompt, _check_args, _positions, prompt_seed
from toolace_r.models.prefix_cache import PrefixCache, past_cache, plan_prefill, store_rows, supports_prefix_reuse
from toolace_r.models.prompting import (PromptConfig, confirm_first_id, confirm_token_id, confirmation, decode_answer,
                                        encode_prompt, kept_token_ids, model_prompt_config)
# The vLLM backend (optional, GPU) lives in its own module; re-exported here with the others.
from toolace_r.models.vllm_backend import VLLMGenerator, vllm_engine_kw  # noqa: F401

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


# --------------------------------------------------------------------------------------------
# hf: transformers model, our own batched decoding loop


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model_and_tokenizer(model_path: str | Path, device: str | None = None,
                             dtype: Any = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model (eval mode, on ``device``) and tokenizer; bf16 on CUDA when supported, fp32 on CPU.
    A LoRA adapter folder loads its base model with the adapter folded in (:func:`adapters.load_hf`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolace_r.models.refs import resolve_model

    if not Path(model_path).is_dir():  # a folder is loaded as it is (an adapter folder too)
        model_path = resolve_model(model_path)
    device = device or _default_device()
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(str(adapters.tokenizer_folder(model_path)))
    if adapters.is_adapter(model_path):  # base + PeftModel, folded into the weights in memory
        model = adapters.load_hf(model_path, dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=dtype)
    model.to(device).eval()
    return model, tokenizer


def _stop_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos])
    return {i for i in ids if i is not None}


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


class HFGenerator(Generator):
    """Local transformers model; see the module docstring for how sampling is batched."""

    confirm_bias_ok = True  # generate(confirm_bias=) raises the confirmation's first token at step 0

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model: PreTrainedModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        device: str | None = None,
        dtype: Any = None,
        max_batch_rows: int | None = None,
        prune_every: int = 8,
    ):
        if model is None or tokenizer is None:
            if model_path is None:
                raise ValueError("HFGenerator needs model_path, or both model and tokenizer")
            model, tokenizer = load_model_and_tokenizer(model_path, device=device, dtype=dtype)
        self.model, self.tokenizer = model, tokenizer
        self.prompt_config = model_prompt_config(model_path, tokenizer)  # how this model must be prompted
        self.device = next(model.parameters()).device
        self.max_batch_rows = max_batch_rows or (512 if self.device.type == "cuda" else 64)
        self.prune_every = max(1, prune_every)
        self.prefix_reuse = supports_prefix_reuse(model)  # else a PrefixCache is ignored
        # transformers 5 renamed the forward's `past_key_values` to `cache`; use what this model takes.
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.confirm_id, self.confirm_text = confirm_token_id(tokenizer), confirmation(tokenizer)
        self.confirm_first_id = confirm_first_id(tokenizer)  # what refine.confirm_bias raises
        self.keep_ids = kept_token_ids(tokenizer)  # special tokens the answer text must show
        self.stop_ids = _stop_ids(model, tokenizer)
        if not self.stop_ids:
            raise ValueError("the tokenizer has no EOS token: generation could not stop at the end of a turn")
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else min(self.stop_ids)
        self._masker: Any = None  # constrained decoding (tool_choice), made when first needed

    def encode(self, prompt: Prompt) -> list[int]:
        messages, tools = prompt
        return encode_prompt(self.tokenizer, messages, tools)

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None, constraints=None, confirm_bias=0.0):
        _check_args(prompts, n, temperature, top_p, max_new_tokens)
        return self.generate_ids([self.encode(p) for p in prompts], n, temperature, top_p, max_new_tokens, seed,
                                 positions, cache=cache, constraints=constraints, confirm_bias=confirm_bias)

    def constraint_problem(self) -> str | None:
        from toolace_r.models.constrain import xgrammar_problem

        return xgrammar_problem()

    def _call_masker(self) -> Any:
        """The xgrammar masker of this model's tokenizer, made on the first constrained call."""
        if self._masker is None:
            from toolace_r.models.constrain import CallMasker

            width = self.model.get_output_embeddings().weight.shape[0]  # the logits' width
            self._masker = CallMasker(self.tokenizer, max(width, len(self.tokenizer)), self.stop_ids,
                                      self.confirm_id if self.confirm_id is not None else self.confirm_text)
        return self._masker

    def generate_ids(
        self, prompt_ids: Sequence[list[int]], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
        max_new_tokens: int = 128, seed: int = 0, positions: Sequence[int] | None = None,
        cache: PrefixCache | None = None, constraints: Sequence[Any] | None = None, confirm_bias: float = 0.0,
    ) -> list[list[Completion]]:
        """Like :meth:`generate`, for prompts already tokenized."""
        import torch

        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("an empty prompt cannot be continued")
        if constraints is not None and len(constraints) != len(prompt_ids):
            raise ValueError(f"constraints has {len(constraints)} entries for {len(prompt_ids)} prompts")
        if constraints is not None and not any(c is not None for c in constraints):
            constraints = None
        if cache is not None and not isinstance(cache, PrefixCache):
            raise TypeError(f"cache must be a PrefixCache, got {type(cache).__name__}")
        pcache = cache if cache is not None and self.prefix_reuse else None
        if pcache is not None:
            pcache.bind(self.model)
        seeds = [prompt_seed(seed, pos) for pos in _positions(len(prompt_ids), positions)]
        # Longest first: batches of similar length waste little on padding, and an OOM shows early.
        # With a cache, what is left to prefill is the length that counts.
        todo = [len(p) - (pcache.match(p) if pcache is not None else 0) for p in prompt_ids]
        order = sorted(range(len(prompt_ids)), key=lambda i: (-todo[i], -len(prompt_ids[i])))
        if pcache is not None:
            pcache.reserve([prompt_ids[i] for i in order])  # answers stored on the way do not evict them
        results: list[list[Completion] | None] = [None] * len(prompt_ids)
        rows = self.max_batch_rows
        start = 0
        try:
            while start < len(order):
                per_chunk = max(1, rows // n)
                chunk = order[start:start + per_chunk]
                try:
                    out = self._generate_chunk([prompt_ids[i] for i in chunk], n, temperature, top_p, max_new_tokens,
                                               [seeds[i] for i in chunk], pcache,
                                               None if constraints is None else [constraints[i] for i in chunk],
                                               confirm_bias)
                except (RuntimeError, torch.OutOfMemoryError) as e:
                    if not _is_oom(e) or per_chunk == 1:
                        raise
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    rows = max(n, rows // 2)  # back off and retry the same prompts
                    continue
                for i, comps in zip(chunk, out):
                    results[i] = comps
                start += len(chunk)
        finally:
            if pcache is not None:
                pcache.release()
        return results  # type: ignore[return-value]

    @staticmethod
    def _uniforms(seeds: Sequence[int], n: int, steps: int, device: Any) -> Any:
        """One uniform number in [0, 1) per (row, step), row ``i * n + j`` being sample j of
        prompt i, from a numpy stream seeded with ``(seeds[i], j)``: what a row samples depends
        only on its own prompt's seed."""
        import numpy as np
        import torch

        rows = [np.random.default_rng([s, j]).random(steps) for s in seeds for j in range(n)]
        return torch.from_numpy(np.stack(rows)).to(device)

    @staticmethod
    def _pick(logits: Any, temperature: float, top_p: float, u: Any) -> Any:
        """The next token per row: argmax when greedy, else the token where the row's uniform
        ``u`` falls in the cumulative distribution (inverse-CDF sampling, in float64)."""
        import torch

        if temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.double() / temperature, dim=-1)
        if top_p < 1.0:
            probs, idx = HFGenerator._nucleus(probs, top_p)
        cdf = probs.cumsum(dim=-1)
        pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True).clamp(max=cdf.shape[-1] - 1)
        return (idx.gather(-1, pick) if top_p < 1.0 else pick).squeeze(-1)

    @staticmethod
    def _nucleus(probs: Any, top_p: float, head: int = 64) -> tuple[Any, Any]:
        """``probs`` in descending order (ties by token id) with every token after the smallest
        prefix of mass top_p zeroed, and the token ids of that order. Sorting a whole vocabulary per
        row per step was the probe's largest single cost; the nucleus of a trained model is a
        handful of tokens, so the ``head`` largest are sorted instead whenever every row's nucleus
        provably lies inside them, which gives the very same numbers as the full sort."""

        def cut(p: Any) -> Any:  # the top token always stays
            return p.masked_fill(p.cumsum(dim=-1) - p > top_p, 0.0)

        if probs.shape[-1] > head:
            vals, ids = probs.topk(head, dim=-1)
            ids, order = ids.sort(dim=-1)  # ties end up in token order by the stable sort below
            vals, pos = vals.gather(-1, order).sort(dim=-1, descending=True, stable=True)
            ids, kept = ids.gather(-1, pos), cut(vals)
            last = (kept > 0).sum(dim=-1, keepdim=True) - 1
            # Exact when each row keeps only values above the head's smallest: all of those are in
            # the head, whatever topk did with ties at its edge.
            if bool((vals.gather(-1, last) > vals[:, -1:]).all()):
                return kept, ids
        vals, ids = probs.sort(dim=-1, descending=True, stable=True)
        return cut(vals), ids

    def _generate_chunk(self, prompt_ids, n, temperature, top_p, max_new_tokens, seeds, pcache=None,
                        constraints=None, confirm_bias=0.0) -> list[list[Completion]]:
        import torch

        from toolace_r.models.kv_buffer import buffered

        dev = self.device
        # one grammar matcher per constrained row (row r answers prompt r // n)
        masker = self._call_masker() if constraints is not None else None
        matchers = masker.matchers([constraints[r // n] for r in range(len(prompt_ids) * n)]) if masker else None
        u = self._uniforms(seeds, n, max_new_tokens, dev) if temperature > 0 else None
        b, width = len(prompt_ids), max(len(p) for p in prompt_ids)
        input_ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((b, width), dtype=torch.long)
        for r, p in enumerate(prompt_ids):  # left padding: every prompt ends at the same column
            input_ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
            attn[r, width - len(p):] = 1
        input_ids, attn = input_ids.to(dev), attn.to(dev)
        # Positions count real tokens only, so a prompt's keys do not depend on its padding
        # (which is what lets a PrefixCache reuse them in another batch).
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        stop = torch.tensor(sorted(self.stop_ids), device=dev)
        # With a prefix cache, the first `past` columns come from it (a row's first reused[i] tokens).
        reused, past = plan_prefill(pcache, prompt_ids) if pcache is not None else ([0] * b, 0)
        with torch.inference_mode():
            kw = {self._cache_kw: past_cache(self.model, pcache, prompt_ids, reused, past)} if past else {}
            out = self.model(input_ids=input_ids[:, past:], attention_mask=attn, position_ids=pos[:, past:],
                             use_cache=True, logits_to_keep=1, **kw)
            # room for the answer: decoding then writes into place instead of copying the cache each step
            cache, logits = buffered(_cache_of(out), max_new_tokens), out.logits[:, -1, :].float()
            next_pos = pos[:, -1] + 1
            if n > 1:
                # Share the prefill: the n samples of a prompt start from copies of its cache.
                cache.batch_repeat_interleave(n)
                attn, logits, next_pos = (t.repeat_interleave(n, dim=0) for t in (attn, logits, next_pos))
            total = b * n
            alive = torch.arange(total, device=dev)  # original row of each batch row
            finished = torch.zeros(total, dtype=torch.bool, device=dev)
            generated: list[list[int]] = [[] for _ in range(total)]

            def keep(batch_rows: list[int], fed: int) -> None:
                # Store prompt + generated ids as far as fed through the model (`fed` decode steps;
                # a finished row's later columns hold padding) before the rows leave the batch.
                if pcache is not None:
                    rows = [(j, prompt_ids[r // n], r) for j, r in zip(batch_rows, alive[batch_rows].tolist())]
                    store_rows(pcache, cache, [(j, p + generated[r][:fed], width - len(p)) for j, p, r in rows])

            for step in range(max_new_tokens):
                if step == 0 and confirm_bias and self.confirm_first_id is not None:
                    logits[:, self.confirm_first_id] += confirm_bias  # before the mask: it still rules
                if masker is not None:
                    masker.mask(logits, [matchers[r] for r in alive.tolist()])
                tok = self._pick(logits, temperature, top_p, None if u is None else u[alive, step])
                tok = torch.where(finished, torch.full_like(tok, self.pad_id), tok)
                for r, t in zip(alive[~finished].tolist(), tok[~finished].tolist()):
                    generated[r].append(t)
                    if matchers is not None:
                        masker.accept(matchers[r:r + 1], [t])
                finished |= torch.isin(tok, stop)
                if step == 0 and confirm_bias and self.confirm_id is not None:
                    finished |= tok == self.confirm_id  # the pass chose to confirm: nothing may follow
                if bool(finished.all()) or step == max_new_tokens - 1:
                    break
                if int(finished.sum()) >= max(1, finished.numel() // self.prune_every):
                    # Drop finished rows from the batch (a cache copy, so not at every single step).
                    keep(finished.nonzero().squeeze(-1).tolist(), step)
                    kept = (~finished).nonzero().squeeze(-1)
                    cache.batch_select_indices(kept)
                    attn, tok, next_pos, alive = attn[kept], tok[kept], next_pos[kept], alive[kept]
                    finished = finished[kept]
                attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=1)
                out = self.model(
                    input_ids=tok[:, None], attention_mask=attn, position_ids=next_pos[:, None],
                    use_cache=True, **{self._cache_kw: cache},
                )
                cache, logits = _cache_of(out), out.logits[:, -1, :].float()
                next_pos = next_pos + 1
            keep(list(range(len(alive))), step)
        if matchers is not None:
            # a constrained answer the budget cut inside a call is closed within the budget
            for r, m in enumerate(matchers):
                if m is not None and not m.is_terminated():
                    generated[r] = masker.close(m, generated[r], max_new_tokens)
        results = []
        for i, p in enumerate(prompt_ids):
            comps = []
            for r in range(i * n, (i + 1) * n):
                ids = generated[r]
                body = ids[:-1] if ids and ids[-1] in self.stop_ids else ids
                # The prompt was prefilled once for its n samples: its cost goes on the first.
                prefill = len(p) - reused[i] if r == i * n else 0
                comps.append(Completion(decode_answer(self.tokenizer, body, self.keep_ids), len(ids), tuple(ids),
                                        prompt_tokens=len(p), prefill_tokens=prefill))
            results.append(comps)
        return results


# --------------------------------------------------------------------------------------------
# openai-compatible HTTP endpoint


class EndpointError(RuntimeError):
    """A request to the OpenAI-compatible endpoint failed for good (after retries, or not retryable)."""


def message_text(message: dict[str, Any]) -> str:
    """The answer text of a chat-completions ``message``. Structured ``tool_calls`` (what servers
    with a tool parser, hosted APIs and ``toolace-r serve`` return) become the Python-call text
    the rest of the project reads (``[f(a=1)]``); the content beside them, if any, is dropped.
    Calls whose arguments are not valid JSON are kept as raw JSON text (a malformed answer)."""
    calls = message.get("tool_calls")
    if calls:
        raw = json.dumps(calls, ensure_ascii=False)
        parsed = parse_calls(raw)
        return format_calls(parsed.calls) if parsed.status == "calls" and parsed.calls else raw
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def upstream_tool_choice(constraint: Any, tools: list[dict[str, Any]]) -> Any:
    """The ``tool_choice`` that asks an upstream for what ``constraint`` enforces here: the named
    function when it is the only one of the constraint, else ``"required"``."""
    if len(constraint.names) == 1 and len(tools) == 1:
        return {"type": "function", "function": {"name": constraint.names[0]}}
    return "required"


def _snippet(data: Any) -> str:
    """The start of a reply, for an error message (never raises)."""
    try:
        return json.dumps(data)[:300]
    except (ValueError, TypeError, RecursionError):
        return f"<{type(data).__name__}>"


class OpenAIGenerator(Generator):
    """Chat completions from an OpenAI-compatible server, ``concurrency`` requests at a time.

    Requests go through the ``openai`` SDK's client, which does the timeouts and the retries
    (``max_retries`` more attempts on connection errors, timeouts, 408/409/429 and 5xx; the server's
    Retry-After when it sends one, else exponential backoff with jitter from 0.5 s up to 8 s). The
    response is read as the server's JSON, so servers that add to or bend the schema still work."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        extra_body: dict[str, Any] | None = None,
        prompt_style: str = "system",
    ):
        import openai

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("the openai backend needs a base URL (argument or OPENAI_BASE_URL)")
        self.model = model
        # A served model: by default the tools go in our system prompt (BFCL's prompt mode), which
        # any chat model follows; "template" sends them in the request's `tools` field instead, for
        # servers that render them with the model's own chat template (vLLM, toolace-r serve, APIs).
        self.prompt_config = PromptConfig(tools_in=prompt_style)  # type: ignore[arg-type]
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.extra_body = extra_body or {}
        self._lock = threading.Lock()
        self._attempts = self._calls = 0
        self.client = openai.OpenAI(
            base_url=base_url,
            # Local servers (vLLM, llama.cpp) accept any key; "EMPTY" is their convention.
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            max_retries=max_retries,
            timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
            # the SDK's own HTTP client, with a hook that counts every attempt (for n_retries)
            http_client=openai.DefaultHttpxClient(event_hooks={"request": [self._count_attempt]}),
        )

    def _count_attempt(self, request: Any) -> None:
        with self._lock:
            self._attempts += 1

    @property
    def n_retries(self) -> int:
        """How many requests were sent again after a failure (for logs and tests)."""
        with self._lock:
            return self._attempts - self._calls

    def constraint_problem(self) -> str | None:
        if self.prompt_config is not None and self.prompt_config.tools_in == "template":
            return None  # sent upstream as the request's tool_choice
        return ("tool_choice 'required' or a named function cannot be enforced with --upstream-prompt-style "
                "system: the tools travel in the system prompt, not as tools the upstream can enforce")

    def close(self) -> None:
        self.client.close()

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """One chat completion (the SDK retries it); its JSON, or :class:`EndpointError` in one line."""
        import openai

        try:
            raw = self.client.chat.completions.with_raw_response.create(**body, extra_body=self.extra_body)
            text = raw.text
            try:
                data = json.loads(text)
            except (ValueError, RecursionError) as e:  # not JSON (or beyond the parser): a protocol error
                raise EndpointError(f"{self.url} answered 200 with a body that is not JSON "
                                    f"({type(e).__name__}: {str(e)[:200]}): {text[:200]!r}") from None
            if not isinstance(data, dict):
                raise EndpointError(f"{self.url} answered 200 with JSON that is not an object: {text[:200]!r}")
            return data
        except openai.APIStatusError as e:
            if e.status_code not in (408, 409, 429) and e.status_code < 500:  # what the SDK does not retry
                raise EndpointError(f"{self.url} answered {e.status_code}: {e.response.text[:500]}") from None
            problem = f"HTTP {e.status_code}: {e.response.text[:200]}"
        except openai.APIConnectionError as e:  # connection refused/reset, timeouts
            cause = e.__cause__ or e
            problem = f"{type(cause).__name__}: {cause}"
        finally:
            with self._lock:
                self._calls += 1
        raise EndpointError(f"{self.url} failed after {self.max_retries + 1} attempts; last: {problem}")

    def _one(self, prompt: Prompt, position: int, n, temperature, top_p, max_new_tokens, seed,
             constraint: Any = None) -> list[Completion]:
        messages, tools = prompt
        comps: list[Completion] = []
        while len(comps) < n:
            want = n - len(comps)
            body = {
                "model": self.model, "messages": messages, "n": want, "temperature": temperature,
                "top_p": top_p, "max_tokens": max_new_tokens,
                # A per-prompt, per-request seed: reproducible where the server honours seeds.
                "seed": prompt_seed(seed, position) + len(comps),
            }
            if tools:
                body["tools"] = tools
                if constraint is not None:  # the upstream enforces tool_choice (refinement passes too)
                    body["tool_choice"] = upstream_tool_choice(constraint, tools)
                    if constraint.max_calls == 1:
                        body["parallel_tool_calls"] = False
            data = self._post(body)
            choices = data.get("choices") or []
            if not choices or not isinstance(choices, list):
                raise EndpointError(f"{self.url} returned no choices: {_snippet(data)}")
            replies = [ch.get("message") if isinstance(ch, dict) else ch for ch in choices[:want]]
            if not all(isinstance(m, dict) for m in replies):  # e.g. "message": "hi"
                raise EndpointError(f"{self.url} returned a choice without a message object: {_snippet(data)}")
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            used, n_prompt = usage.get("completion_tokens"), usage.get("prompt_tokens")
            used = used if isinstance(used, int) and not isinstance(used, bool) and used >= 0 else None
            n_prompt = n_prompt if isinstance(n_prompt, int) and not isinstance(n_prompt, bool) and n_prompt >= 0 else 0
            for j, msg in enumerate(replies):
                try:
                    text = message_text(msg)
                except (ValueError, TypeError, AttributeError, RecursionError) as e:
                    raise EndpointError(f"{self.url} returned a message that cannot be read "
                                        f"({type(e).__name__}: {str(e)[:200]})") from None
                # Per-choice token counts are not in the API; split the usage total evenly.
                n_tok = round(used / len(choices)) if isinstance(used, int) else 0
                # One request prefills its prompt once for its choices: counted on the first.
                comps.append(Completion(text, n_tok, prompt_tokens=n_prompt,
                                        prefill_tokens=n_prompt if j == 0 else 0))
        return comps

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0, positions=None,
                 cache=None, constraints=None):
        """``cache`` is ignored: the server manages its own prefix caching. ``constraints``: sent as
        the request's ``tool_choice`` where the tools travel in the request (template style)."""
        _check_args(prompts, n, temperature, top_p, max_new_tokens)
        where = _positions(len(prompts), positions)
        cons = list(constraints) if constraints is not None else [None] * len(prompts)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [
                pool.submit(self._one, p, pos, n, temperature, top_p, max_new_tokens, seed, c)
                for p, pos, c in zip(prompts, where, cons)
            ]
            return [f.result() for f in futures]


# --------------------------------------------------------------------------------------------

BACKENDS = ("hf", "vllm", "openai")


def make_generator(backend: str = "hf", model_path: str | Path | None = None, **kw: Any) -> Generator:
    """``hf`` / ``vllm``: ``model_path`` is a model directory or hub id; ``openai``: it is the served
    model name. Extra keywords go to the backend's constructor."""
    if backend == "hf":
        return HFGenerator(model_path, **kw)
    if model_path is None:
        raise ValueError(f"the {backend} backend needs a model")
    if backend == "vllm":
        return VLLMGenerator(model_path, **kw)
    if backend == "openai":
        return OpenAIGenerator(str(model_path), **kw)
    raise ValueError(f"unknown generation backend {backend!r}; choose one of {BACKENDS}")
