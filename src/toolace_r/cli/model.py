"""`toolace-r model ...` and `toolace-r train ...` subcommands.

torch / transformers / trl (and the SFT module) are imported inside the commands, so
`toolace-r --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn, Optional

import typer

from toolace_r import distributed
from toolace_r.calls import parse_calls
from toolace_r.checker import check
from toolace_r.cli._common import die
from toolace_r.data.io import DataError, RecordError, read_samples
from toolace_r.data.schema import Sample
from toolace_r.models import prompting
from toolace_r.models.adapters import AdapterError
from toolace_r.models.embedded import SIZES, init_model
from toolace_r.models.generation import make_generator, vllm_engine_kw
from toolace_r.models.refs import ModelRefError, resolve_model
from toolace_r.progress import generate_in_chunks

model_app = typer.Typer(no_args_is_help=True)
train_app = typer.Typer(no_args_is_help=True)


def _fail(msg: str) -> NoReturn:
    die(msg, 1, color=typer.colors.RED)


def _samples(data: Path) -> list[Sample]:
    """The samples of ``--data``; a bad record ends the command with its file, line and reason."""
    try:
        return read_samples(data)
    except DataError as e:
        _fail(f"{e} (fix or remove that record)" if isinstance(e, RecordError) else str(e))


@model_app.command("init")
def model_init(
    data: Path = typer.Option(..., "--data", help="Training corpus (JSONL of samples) to train the tokenizer on."),
    out: Path = typer.Option(..., "--out", help="Directory to write the model and tokenizer to."),
    size: str = typer.Option("tiny", "--size", help="tiny (~2M parameters) or small (~6M)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
) -> None:
    """Create the embedded from-scratch model: BPE tokenizer + chat template + random Llama."""
    if size not in SIZES:
        _fail(f"--size must be one of {sorted(SIZES)}, got {size!r}")
    if not data.is_file():
        _fail(f"--data {data} does not exist")
    info = init_model(_samples(data), out, size=size, seed=seed)
    typer.echo(json.dumps(info, indent=2))


@model_app.command("base")
def model_base(
    out: Path = typer.Option(..., "--out", help="Folder to write the base model to (replaced if it exists)."),
    size: str = typer.Option("tiny", "--size", help="Model size: micro (tests), tiny (~2.3M parameters) or small."),
    corpus_n: int = typer.Option(60000, "--corpus-n", help="Samples in the base's own synthetic corpus (80% train)."),
    steps: int = typer.Option(6000, "--steps", help="SFT optimizer steps."),
    batch_size: int = typer.Option(32, "--batch-size", help="Examples per step."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate (cosine schedule)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights' init and the data order."),
) -> None:
    """Make the embedded base model (the recipe of the one shipped in the package; docs/run.md)."""
    from toolace_r.models.base import train_base

    if size not in SIZES:
        _fail(f"--size must be one of {sorted(SIZES)}, got {size!r}")
    if corpus_n < 50 or steps < 1 or batch_size < 1 or lr <= 0:
        _fail("--corpus-n must be >= 50, --steps and --batch-size >= 1, --lr > 0")
    recipe = train_base(out, size=size, corpus_n=corpus_n, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    typer.echo(json.dumps(recipe, indent=2))


@model_app.command("tiny")
def model_tiny(
    out: Path = typer.Option(..., "--out", help="Folder to write the model and tokenizer to."),
    vocab: Optional[str] = typer.Option(None, "--vocab", help="A .gguf vocabulary file, or a short name fetched from "
                                        "the llama-cpp-python sdist (qwen2, llama-bpe; see README)."),
    chat_template: Optional[str] = typer.Option(None, "--chat-template", help="A .jinja chat template file, or a "
                                                "short name (qwen2.5, qwen3, llama3.1, hermes3, ...)."),
    arch: str = typer.Option("qwen2", "--arch", help="Network architecture with --vocab: qwen2 or llama."),
    like: Optional[str] = typer.Option(None, "--like", help="Instead of --vocab/--chat-template: a model folder or "
                                       "hub id whose tokenizer, chat template and architecture to copy."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights."),
) -> None:
    """A tiny random model with a real tokenizer and chat template, for smoke-testing a recipe on CPU."""
    from toolace_r.models.realvocab import VocabUnavailable
    from toolace_r.models.tiny import ARCHS, tiny_like, tiny_model

    if (like is not None and (vocab or chat_template)) or (like is None and not (vocab and chat_template)):
        _fail("give either --vocab and --chat-template, or --like")
    if arch not in ARCHS:
        _fail(f"--arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    try:
        info = (tiny_like(like, out, seed=seed) if like else
                tiny_model(vocab, chat_template, out, arch=arch, seed=seed))  # type: ignore[arg-type]
    except (VocabUnavailable, ModelRefError, FileNotFoundError, ValueError, ImportError) as e:
        _fail(str(e).splitlines()[0])
    typer.echo(json.dumps(info, indent=2))


@model_app.command("generate")
def model_generate(
    model: str = typer.Option(..., "--model", help="Model directory (or hub id; served model name for openai)."),
    data: Path = typer.Option(..., "--data", help="JSONL of samples to prompt with."),
    n: int = typer.Option(1, "--n", help="Completions per prompt."),
    limit: int = typer.Option(5, "--limit", help="How many samples to prompt with."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p"),
    max_new_tokens: int = typer.Option(96, "--max-new-tokens"),
    seed: int = typer.Option(0, "--seed"),
    backend: str = typer.Option("hf", "--backend", help="hf, vllm or openai."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="openai backend: endpoint (else OPENAI_BASE_URL)."),
    tools_in: Optional[str] = typer.Option(
        None, "--tools-in", help="system or template (default: what the model directory records, else system)."
    ),
    tensor_parallel_size: Optional[int] = typer.Option(None, "--tensor-parallel-size",
                                                       help="vllm backend: GPUs per engine (default 1)."),
    gpu_memory_utilization: Optional[float] = typer.Option(None, "--gpu-memory-utilization", help="vllm backend: "
                                                           "share of each GPU's memory, in (0, 1] (default 0.9)."),
    max_model_len: Optional[int] = typer.Option(None, "--max-model-len", help="vllm backend: longest prompt + "
                                                "answer in tokens (default: the model's context length)."),
) -> None:
    """Print a few completions next to the gold answers (= right, x wrong by the checker)."""
    try:
        engine_kw = vllm_engine_kw(backend, tensor_parallel_size=tensor_parallel_size,
                                   gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len)
    except ValueError as e:
        _fail(str(e))
    if not data.is_file():
        _fail(f"--data {data} does not exist")
    samples = _samples(data)[: max(0, limit)]
    local = None
    if backend != "openai":
        try:
            local = resolve_model(model, what="--model")
        except ModelRefError as e:
            _fail(str(e))
        model = str(local)
    cfg = prompting.load_prompt_config(local)
    if tools_in:
        try:
            cfg = prompting.prompt_style_config(cfg, tools_in)
        except ValueError as e:
            _fail(f"--tools-in: {e}")
    kw = {"base_url": base_url} if backend == "openai" else engine_kw
    with make_generator(backend, model, **kw) as gen:
        prompts = [prompting.build_messages(s, cfg) for s in samples]
        outs = generate_in_chunks(gen, prompts, "generating", n=n, temperature=temperature, top_p=top_p,
                                  max_new_tokens=max_new_tokens, seed=seed)
    for s, comps in zip(samples, outs):
        gold = prompting.target_text(s, cfg)
        typer.secho(f"--- {s.id} [{s.category}]", bold=True)
        typer.echo(f"request: {s.messages[-1].content[:200]}")
        typer.echo(f"gold:    {gold}")
        functions = [t.model_dump() for t in s.tools]
        for c in comps:
            status = parse_calls(c.text).status
            ok = check(c.text, functions, s.answer, s.checker_category()).valid if s.answer is not None else None
            mark = {True: "=", False: "x", None: "?"}[ok]  # ? = a text turn: nothing to check
            typer.echo(f"  {mark} [{c.n_tokens} tok, {status}] {c.text}")


@train_app.command("sft")
def train_sft_cmd(
    model: str = typer.Option(..., "--model", help="Model to start from: a folder, or a hub id (HF cache; HF_HUB_OFFLINE)."),
    data: Path = typer.Option(..., "--data", help="Training JSONL (samples)."),
    out: Path = typer.Option(..., "--out", help="Output directory (model + tokenizer + train_log.jsonl)."),
    lora: bool = typer.Option(False, "--lora", help="Train a LoRA adapter instead of all weights (an adapter "
                                                    "folder as --model: that adapter trains on)."),
    merge_lora: bool = typer.Option(False, "--merge-lora", help="Merge the LoRA adapter into the saved model "
                                                                "(else --out is an adapter folder)."),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank."),
    lora_alpha: int = typer.Option(32, "--lora-alpha", help="LoRA scaling numerator (updates x alpha / r)."),
    lora_target_modules: str = typer.Option("all-linear", "--lora-target-modules",
                                            help="all-linear, or module names separated by commas (q_proj,v_proj)."),
    save_steps: int = typer.Option(0, "--save-steps", help="Checkpoint every N steps into OUT/checkpoints; the "
                                                           "same command again continues from it. 0: none."),
    report_to: str = typer.Option("none", "--report-to", help="none, all, or integrations separated by commas "
                                                              "(tensorboard,wandb)."),
    epochs: float = typer.Option(3.0, "--epochs"),
    max_steps: int = typer.Option(-1, "--max-steps", help="> 0 overrides --epochs."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Default: 1e-3 small from-scratch, 2e-4 LoRA, 1e-5 full."),
    batch_size: int = typer.Option(32, "--batch-size"),
    grad_accum: int = typer.Option(1, "--grad-accum"),
    max_length: int = typer.Option(1024, "--max-length", help="Longer examples are truncated (then dropped if no answer is left)."),
    seed: int = typer.Option(0, "--seed"),
    logging_steps: int = typer.Option(10, "--logging-steps", help="Write a train_log.jsonl line every N steps."),
    warmup_ratio: float = typer.Option(0.03, "--warmup-ratio", help="Share of the steps with a rising learning rate."),
    group_by_length: bool = typer.Option(True, "--group-by-length/--random-order",
                                         help="Batches of similar length (less padding), or plain random batches."),
    pad_to_multiple_of: int = typer.Option(0, "--pad-to-multiple-of",
                                           help="Pad batches to a multiple of N tokens; 0: auto (32 under CPU bf16 "
                                                "autocast, which keeps kernels per shape), 1: no padding."),
    precision: str = typer.Option("auto", "--precision",
                                  help="auto: bf16 on CUDA and on CPUs with bf16 instructions (autocast), else fp32; or fp32 / bf16."),
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer), loss on the assistant answer only.

    Runs as a multi-process job too, e.g. `accelerate launch --num_processes 2 -m toolace_r train sft ...`
    or `torchrun --nproc_per_node 8 -m toolace_r train sft ...`: --batch-size is per process."""
    from toolace_r.models.sft import SFTSettings, train_sft  # the training stack loads only to train

    try:
        model_dir = resolve_model(model, what="--model")
    except ModelRefError as e:
        _fail(str(e))
    if not data.is_file():
        _fail(f"--data {data} does not exist")
    if merge_lora and not lora:
        _fail("--merge-lora needs --lora")
    try:
        cfg = SFTSettings(epochs=epochs, max_steps=max_steps, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
                          seed=seed, lora=lora, merge_lora=merge_lora, max_length=max_length,
                          logging_steps=logging_steps, warmup_ratio=warmup_ratio, group_by_length=group_by_length,
                          precision=precision, pad_to_multiple_of=pad_to_multiple_of, lora_r=lora_r,
                          lora_alpha=lora_alpha, lora_target_modules=_names(lora_target_modules),
                          save_steps=save_steps, report_to=_names(report_to), progress=distributed.is_main())
    except ValueError as e:
        _fail(f"bad training settings: {e}")
    try:
        # a hub id as given: an adapter trained from it records it as its base
        metrics = train_sft(model if not Path(model).expanduser().is_dir() else model_dir, _samples(data), out, cfg)
    except AdapterError as e:
        _fail(str(e))
    if distributed.is_main():
        typer.echo(json.dumps({k: v for k, v in metrics.items() if k != "settings"}, indent=2))


def _names(text: str) -> list[str]:
    """A comma-separated option as a list of names."""
    return [part.strip() for part in text.split(",") if part.strip()]
