"""``toolace-r eval`` as a library call: :class:`EvalOptions` (what to evaluate, checked when
made) and :func:`run_eval` (load the bench and the model, evaluate, write the files)."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from toolace_r import bfcl
from toolace_r.bfcl_results import check_export_name
from toolace_r.evaluation.core import (EvalError, Log, add_wall_seconds, bfcl_items, category_order, jsonl_items,
                                       parse_modes, run_modes, score_outputs, summarize_modes)
from toolace_r.evaluation.files import MULTI_TURN_FILE, default_name, export_bfcl, write_results
from toolace_r.evaluation.multiturn import evaluate_multi_turn, multi_turn_entries, summarize_multi_turn
from toolace_r.models.generation import BACKENDS, make_generator, vllm_engine_kw
from toolace_r.models.prompting import CONFIRM_MODES, prompt_style_config
from toolace_r.models.refs import ModelRefError, resolve_model
from toolace_r.refine import DEFAULT_CONFIRM_BIAS, effective_confirm_bias

if TYPE_CHECKING:
    from toolace_r.models.generation import Generator

CHECKER_MODES = ("bfcl", "strict")
PROMPT_STYLES = ("auto", "system", "template")


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class EvalOptions:
    """The options of ``toolace-r eval`` (one field per flag). Checked when made:
    :class:`EvalError` names the flag and what is wrong."""

    model: str = field(metadata={"help": "Model directory or hub id (served model name for --backend openai)."})
    bench: str = field(metadata={"help": "'bfcl' (BFCL v4) or a JSONL file of samples in our format."})
    categories: Optional[str] = _opt(None, "Comma list. BFCL: simple_python, multiple, parallel, parallel_multiple, "
                                     "irrelevance, live_simple, live_multiple, live_parallel, live_parallel_multiple, "
                                     "live_irrelevance, live_relevance, or all / live / non_live (default all); multi-turn (not in all): "
                                     "multi_turn_base, multi_turn_miss_func, multi_turn_miss_param, "
                                     "multi_turn_long_context, or the group multi_turn. "
                                     "Samples: simple, multiple, ... (default all).")
    limit: Optional[int] = _opt(None, "BFCL: first N entries per category. Samples: first N samples.")
    refine_modes: Optional[list[str]] = _opt(None, "Refinement modes: none, adaptive, fixed:N, rewrite "
                                             "(one round that may not confirm: the most a perfect stop rule "
                                             "could fix); repeat or comma-separate (default none,adaptive).")
    max_rounds: int = _opt(3, "Most refinement rounds for adaptive.")
    confirm: str = _opt("token", "How the model keeps a right answer: token (it answers the confirmation, "
                        "<|confirm|> or 'Confirmed.'; refinement stops and keeps the previous answer) or repeat "
                        "(it repeats the answer; adaptive stops when the calls come back unchanged).")
    confirm_bias: float = _opt(DEFAULT_CONFIRM_BIAS, "confirm=token, hf backend: added to the confirmation's logit "
                               "at a refinement pass's first token (nats; a rewrite must be preferred by more); "
                               "0: the plain greedy choice. Other backends ignore it.")
    backend: str = _opt("hf", "hf, vllm or openai.")
    base_url: Optional[str] = _opt(None, "openai backend: the endpoint (else OPENAI_BASE_URL).")
    api_key_env: Optional[str] = _opt(None, "openai backend: the environment variable holding the API key.")
    tensor_parallel_size: Optional[int] = _opt(None, "vllm backend: GPUs per engine (tensor parallelism; default 1).")
    gpu_memory_utilization: Optional[float] = _opt(None, "vllm backend: share of each GPU's memory the engine "
                                                   "takes, in (0, 1] (default 0.9).")
    max_model_len: Optional[int] = _opt(None, "vllm backend: longest prompt + answer in tokens (default: the "
                                        "model's context length).")
    bfcl_data: Optional[str] = _opt(None, "bfcl-eval wheel, unpacked wheel, its data folder, or a gorilla "
                                    "checkout (default: cached download).")
    prompt_style: str = _opt("auto", "auto (what the model directory records), system or template.")
    max_new_tokens: int = _opt(128, "Most tokens generated per pass.")
    max_steps: int = _opt(20, "Multi-turn categories: most executed steps (answers with calls) per turn before "
                          "the entry is force-quit (BFCL's MAXIMUM_STEP_LIMIT, 20).")
    out: Optional[Path] = _opt(None, "Output folder (default runs/eval-<date>-<time>).")
    export_bfcl_dir: Optional[Path] = _opt(None, "Also write one refinement mode's outputs as `bfcl generate` result "
                                           "files under this folder, for `bfcl evaluate` (single-turn and multi-turn "
                                           "categories; a multi-turn result holds the step texts of each turn run): "
                                           "under --name, which must be a prompt-mode model name BFCL knows (checked "
                                           "against its model list).")
    export_mode: Optional[str] = _opt(None, "The refinement mode --export-bfcl writes (default: the only one run).")
    checker_mode: str = _opt("bfcl", "Checker mode: bfcl (official verdicts) or strict.")
    name: Optional[str] = _opt(None, "Label for the model in reports and export folders (default from --model).")
    modes: list[str] = field(init=False, metadata={"help": "The refinement modes, parsed from refine_modes."})
    engine_kw: dict[str, Any] = field(init=False, metadata={"help": "The vLLM engine settings given, checked."})

    def __post_init__(self) -> None:
        # Cheap checks first, before any data or model is loaded.
        if self.checker_mode not in CHECKER_MODES:
            raise EvalError(f"--mode must be 'bfcl' or 'strict', not {self.checker_mode!r}")
        if self.prompt_style not in PROMPT_STYLES:
            raise EvalError(f"--prompt-style must be auto, system or template, not {self.prompt_style!r}")
        if self.limit is not None and self.limit < 1:
            raise EvalError(f"--limit must be >= 1, got {self.limit}")
        if self.max_steps < 0:
            raise EvalError(f"--max-steps must be >= 0, got {self.max_steps}")
        if self.max_new_tokens < 1:
            raise EvalError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if self.confirm not in CONFIRM_MODES:
            raise EvalError(f"--confirm must be token or repeat, not {self.confirm!r}")
        if not self.confirm_bias >= 0:
            raise EvalError(f"--confirm-bias must be >= 0, got {self.confirm_bias}")
        self.modes = parse_modes(self.refine_modes, self.max_rounds)
        try:
            self.engine_kw = vllm_engine_kw(self.backend, tensor_parallel_size=self.tensor_parallel_size,
                                            gpu_memory_utilization=self.gpu_memory_utilization,
                                            max_model_len=self.max_model_len)
        except ValueError as e:
            raise EvalError(str(e)) from None
        if self.bench != "bfcl" and (self.bfcl_data is not None or self.export_bfcl_dir is not None):
            raise EvalError("--bfcl-data and --export-bfcl are for --bench bfcl")
        if self.export_bfcl_dir is None:
            if self.export_mode is not None:
                raise EvalError("--export-mode is for --export-bfcl")
        elif self.export_mode is None:
            if len(self.modes) > 1:
                raise EvalError(f"--export-bfcl writes one refinement mode (BFCL scores one output per entry): "
                                f"pass --export-mode, one of {', '.join(self.modes)}")
            self.export_mode = self.modes[0]
        elif self.export_mode not in self.modes:
            raise EvalError(f"--export-mode {self.export_mode!r} is not among the modes run ({', '.join(self.modes)})")

    @classmethod
    def help(cls, name: str) -> str:
        """The help text of field ``name``."""
        return next(f.metadata["help"] for f in fields(cls) if f.name == name)


def model_folder(opts: EvalOptions) -> str:
    """The local folder of ``--model`` (a folder or a hub id, :mod:`toolace_r.models.refs`); the
    openai backend's model is a name on the server, used as it is."""
    if opts.backend == "openai":
        return opts.model
    try:
        return str(resolve_model(opts.model, what="--model"))
    except ModelRefError as e:
        raise EvalError(str(e)) from None


def make_eval_generator(opts: EvalOptions, model: str | None = None) -> "Generator":
    """The generator ``opts`` asks for (``model``: :func:`model_folder`, when already resolved);
    :class:`EvalError` with a one-line reason when it cannot be made."""
    backend = opts.backend
    if backend not in BACKENDS:
        raise EvalError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    kw: dict[str, Any] = {}
    if backend == "openai":
        if opts.base_url:
            kw["base_url"] = opts.base_url
        if opts.api_key_env:
            if not os.environ.get(opts.api_key_env):
                raise EvalError(f"--api-key-env {opts.api_key_env}: that environment variable is not set")
            kw["api_key"] = os.environ[opts.api_key_env]
    elif opts.base_url or opts.api_key_env:
        raise EvalError("--base-url and --api-key-env are for --backend openai")
    model = model or model_folder(opts)
    kw.update(opts.engine_kw)  # vllm only (checked when opts was made)
    try:
        return make_generator(backend, model, **kw)
    except (OSError, ValueError, ImportError, RuntimeError) as e:
        raise EvalError(f"cannot load model {model!r} with the {backend} backend: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def run_eval(opts: EvalOptions, log: Log | None = None) -> dict[str, Any]:
    """The whole evaluation: returns the results dict (also written to ``results.json``). Raises
    :class:`EvalError` (or :class:`toolace_r.bfcl.BfclError`) on bad arguments or data."""
    modes = opts.modes
    mt_entries: list = []  # BFCL multi-turn entries: run by the multi-turn loop, not as items
    if opts.bench == "bfcl":
        cats = bfcl.parse_categories(opts.categories, multi_turn=True)
        source = bfcl.locate(opts.bfcl_data, log=log)
        items = bfcl_items(source, [c for c in cats if c not in bfcl.MULTI_TURN], opts.limit)
        mt_entries = multi_turn_entries(source, [c for c in cats if c in bfcl.MULTI_TURN], opts.limit)
        bench_label = f"bfcl ({source.describe()})"
    else:
        path = Path(opts.bench)
        if not path.is_file():
            raise EvalError(f"--bench must be 'bfcl' or a JSONL file of samples; {opts.bench} is neither")
        items = jsonl_items(path, opts.categories, opts.limit)
        bench_label = str(path)
    if not items and not mt_entries:
        raise EvalError("nothing to evaluate: no entry matches --categories / --limit")
    ids = Counter([it.id for it in items] + [e.id for e in mt_entries])
    dup = next((i for i, k in ids.items() if k > 1), None)
    if dup is not None:
        raise EvalError(f"duplicate entry id {dup!r} in --bench")
    out = opts.out or Path("runs") / time.strftime("eval-%Y%m%d-%H%M%S")
    for flag, folder in (("--out", out), ("--export-bfcl", opts.export_bfcl_dir)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise EvalError(f"{flag} {folder} is a file, not a folder")  # found now, not after generating
    export_name = None
    if opts.export_bfcl_dir is not None:  # checked now, not after generating
        flag = "--name" if opts.name else "--model (pass --name to export under a BFCL model name)"
        export_name, note = check_export_name(opts.name or opts.model, source, flag)
        if note and log:
            log(f"note: {note}")
    model = model_folder(opts)  # a bad --model is one line now, before anything loads
    name = opts.name or default_name(opts.model)
    if log:
        log(f"{len(items) + len(mt_entries)} entries, refinement modes {', '.join(modes)}; loading {opts.model} ({opts.backend})")

    t0 = time.perf_counter()
    gen = make_eval_generator(opts, model)
    load_s = time.perf_counter() - t0
    try:
        cfg = prompt_style_config(gen.prompt_config, opts.prompt_style)
        try:
            if items:
                outputs, timing = run_modes(gen, [it.sample for it in items], modes, max_rounds=opts.max_rounds,
                                            max_new_tokens=opts.max_new_tokens, prompt_cfg=cfg, confirm=opts.confirm,
                                            confirm_bias=opts.confirm_bias, log=log)
            else:
                outputs = {m: [] for m in modes}
                timing = {"first_pass_s": 0.0, "modes": {m: {"refine_s": 0.0, "total_s": 0.0} for m in modes}}
            mt_rows: list = []
            if mt_entries:
                mt_rows, mt_seconds = evaluate_multi_turn(gen, mt_entries, modes, prompt_cfg=cfg,
                                                          max_new_tokens=opts.max_new_tokens, max_rounds=opts.max_rounds,
                                                          confirm=opts.confirm, confirm_bias=opts.confirm_bias,
                                                          max_steps=opts.max_steps, source=source)
                timing["multi_turn_s"] = mt_seconds
                if log:
                    log(f"multi-turn: {len(mt_entries)} entries in {sum(mt_seconds.values()):.1f} s")
            n = len(items) + len(mt_entries)
            for m, t in timing["modes"].items():  # a mode's cost includes its multi-turn loop
                t["total_s"] += timing.get("multi_turn_s", {}).get(m, 0.0)
                t["entries_per_s"] = n / t["total_s"] if t["total_s"] > 0 else None
        except (ValueError, RuntimeError) as e:
            raise EvalError(f"generation failed: {_first_line(e)}") from None
    finally:
        gen.close()
    confirm_bias = effective_confirm_bias(gen, opts.confirm, opts.confirm_bias)  # 0 where the backend cannot
    timing["load_s"] = load_s
    rows = score_outputs(items, outputs, opts.checker_mode)

    kind = "bfcl" if opts.bench == "bfcl" else "samples"
    results: dict[str, Any] = {
        "name": name, "model": opts.model, "backend": opts.backend,
        **({"vllm": opts.engine_kw} if opts.engine_kw else {}),  # the engine settings given
        "bench": bench_label, "bench_kind": kind,
        "checker_mode": opts.checker_mode, "prompt_style": f"{opts.prompt_style} -> {cfg.tools_in}",
        "modes": modes, "max_rounds": opts.max_rounds, "confirm": opts.confirm,
        "confirm_bias": confirm_bias, "max_new_tokens": opts.max_new_tokens,
        "limit": opts.limit,
        "categories": sorted({it.category for it in items},
                             key=lambda c: (c not in bfcl.CATEGORIES, category_order(c), c)),
        "n_entries": len(items) + len(mt_entries), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "out_dir": str(out),
        "by_mode": summarize_modes(rows + mt_rows, modes, bench=kind),
        "timing": timing,
    }
    if mt_entries:
        results["multi_turn"] = {"file": MULTI_TURN_FILE, "entries": len(mt_entries), "max_steps": opts.max_steps,
                                 "by_mode": summarize_multi_turn(mt_rows, modes)}
    add_wall_seconds(results["by_mode"], [timing])
    if export_name is not None:
        results["export_bfcl"] = {"dir": str(opts.export_bfcl_dir), "model": export_name, "mode": opts.export_mode}
    write_results(out, results, rows, mt_rows)
    if opts.export_bfcl_dir is not None and export_name is not None and opts.export_mode is not None:
        export_bfcl(opts.export_bfcl_dir, export_name, rows, opts.export_mode, mt_rows)
    return results
