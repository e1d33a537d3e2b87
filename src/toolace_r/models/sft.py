"""Supervised fine-tuning through TRL's ``SFTTrainer``, with loss on the assistant answer only.

What it does
------------
:func:`train_sft` takes training examples in any of these forms:

* :class:`~toolace_r.data.schema.Sample` (rendered with :func:`prompting.build_messages` and
  :func:`prompting.target_text`, in the prompt style recorded in the model directory);
* :class:`~toolace_r.models.prompting.Example` or a dict ``{"messages", "tools", "target"}``, e.g. the
  refinement examples the pipeline builds with :func:`prompting.refine_messages`;
* a dict ``{"input_ids", "loss_mask"}`` already rendered.

Each one becomes ``input_ids`` plus ``assistant_masks`` (1 on the answer and its end-of-turn token,
0 elsewhere) from :func:`prompting.render`. TRL 1.16 recognises a dataset with an ``input_ids``
column as pre-tokenized, skips its own chat templating, and builds ``labels`` from the
``assistant_masks`` column (-100 where the mask is 0) before truncating to ``max_length`` and
dropping examples left without answer tokens. So the system text, the tools, user turns, tool
results and earlier assistant turns never carry loss, whatever the chat template looks like.

Precision (``precision="auto"``) is chosen from the hardware: bf16 on CUDA when supported; on a CPU
with native bf16 instructions (AVX512-BF16 or AMX), fp32 weights with bf16 autocast (1.65x the fp32
steps per second for the embedded model on one AMD EPYC core); else fp32. With ``lora``, a
peft LoRA adapter (on ``lora_target_modules``, by default every linear layer) is trained;
``merge_lora`` folds it into the weights so that the output is a plain model, else the output is an
adapter folder (:mod:`toolace_r.models.adapters`). A model folder that is an adapter folder is
trained on: with ``lora`` the same adapter trains further on the same base, without it all weights
of base + adapter. The output directory holds a model (or adapter) + tokenizer,
``train_log.jsonl`` (one line per logging step, and a final summary line), ``train_loss.png`` and
the prompt configuration of the input model.

Checkpoints (``save_steps > 0``): every ``save_steps`` steps a trainer checkpoint goes to
``<out>/checkpoints/`` (the newest only); an SFT into the same folder with the same start model,
settings and examples continues from it instead of starting over, and ends as an uninterrupted one
would (:mod:`toolace_r.models.checkpoints`). ``report_to`` sends the logs to TensorBoard, W&B, ...
as transformers does (TensorBoard's event files end up in ``<out>/runs/``).

Launch::

    toolace-r train sft --model models/tiny --data corpus/train.jsonl --out models/tiny-sft --epochs 4

or ``train_sft("models/tiny", samples, "models/tiny-sft", SFTSettings(epochs=4))`` from Python.

Several processes (data parallel, FSDP, DeepSpeed ZeRO; see docs/scale.md)::

    accelerate launch --config_file configs/accelerate/ddp.yaml -m toolace_r train sft ... --batch-size 4
    torchrun --nproc_per_node 8 -m toolace_r train sft ...

``batch_size`` is per process: the global batch is ``batch_size x grad_accum x processes``. Every
process renders the examples and the Trainer gives each its share of every batch; only rank 0
writes the log, the plot and the model. With FSDP or DeepSpeed the weights are sharded, so the
model is saved through ``Trainer.save_model`` (which gathers them) and a LoRA adapter is merged
after reloading it on rank 0. On CPU (gloo) a launched job is data parallel.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from toolace_r import distributed
from toolace_r.models import adapters, checkpoints
from toolace_r.models.trainer_parts import JsonlLog, lean_logprob_tiles, plot_loss, trainer_class


PRECISIONS = ("auto", "fp32", "bf16")
# transformers' report_to integrations (INTEGRATION_TO_CALLBACK) and the module each needs
REPORTERS = {"azure_ml": "azureml", "clearml": "clearml", "codecarbon": "codecarbon", "comet_ml": "comet_ml",
             "dagshub": "dagshub", "dvclive": "dvclive", "flyte": "flytekit", "mlflow": "mlflow",
             "neptune": "neptune", "swanlab": "swanlab", "tensorboard": "tensorboard", "trackio": "trackio",
             "wandb": "wandb"}
REPORT_TO = ("none", "all", *REPORTERS)


def report_to_problem(values: list[str]) -> str | None:
    """What is wrong with a ``report_to`` list (None: nothing): unknown names, none/all with others,
    or an integration whose package is not installed (checked without importing it)."""
    import importlib.util

    if not values:
        return "name at least one: none, all or integrations such as tensorboard or wandb"
    for v in values:
        if v not in REPORT_TO:
            return f"unknown integration {v!r}; use none, all or some of {', '.join(REPORTERS)}"
    if len(values) > 1 and {"none", "all"} & set(values):
        return f"none and all stand alone, got {values}"
    for v in values:
        # tensorboard's writer also comes from tensorboardX
        mods = ("tensorboard", "tensorboardX") if v == "tensorboard" else (REPORTERS.get(v, ""),)
        if v in REPORTERS and not any(importlib.util.find_spec(m) for m in mods):
            return f"{v} is not installed here: pip install {mods[0]}, or leave it out"
    return None


def target_modules_problem(values: list[str]) -> str | None:
    """What is wrong with a ``lora_target_modules`` list (None: nothing)."""
    if not values or any(not v.strip() for v in values):
        return "name all-linear or the model's module names (e.g. q_proj, v_proj); got an empty name"
    if "all-linear" in values and len(values) > 1:
        return f"all-linear already takes every linear layer: give it alone, got {values}"
    return None


@dataclass
class SFTSettings:
    """Training settings of :func:`train_sft`, each passed to TRL's ``SFTConfig`` (or to peft's
    ``LoraConfig``) as its help says; ``__post_init__`` rejects values that cannot train."""

    epochs: float = dataclasses.field(default=3.0, metadata={
        "help": "Passes over the examples (> 0 unless max_steps > 0)."})
    max_steps: int = dataclasses.field(default=-1, metadata={
        "help": "Optimizer steps; > 0 overrides epochs, <= 0: use epochs."})
    lr: float | None = dataclasses.field(default=None, metadata={"help": (
        "Peak learning rate (> 0). None: 2e-4 for LoRA, 1e-3 for a from-scratch model under 50M parameters "
        "(the embedded model), 1e-5 for a full fine-tune of anything larger.")})
    batch_size: int = dataclasses.field(default=32, metadata={"help": (
        "Examples per process per micro-batch (>= 1); the global batch is batch_size x grad_accum x processes.")})
    grad_accum: int = dataclasses.field(default=1, metadata={"help": "Micro-batches per optimizer step (>= 1)."})
    seed: int = dataclasses.field(default=0, metadata={
        "help": "Seed of the LoRA weights' init, the data order and dropout."})
    lora: bool = dataclasses.field(default=False, metadata={
        "help": "Train a peft LoRA adapter (on lora_target_modules) instead of all weights."})
    merge_lora: bool = dataclasses.field(default=False, metadata={"help": (
        "Fold the trained adapter into the weights, so the output is a plain model (needs lora); else the "
        "output is an adapter folder.")})
    lora_r: int = dataclasses.field(default=16, metadata={"help": "LoRA rank (>= 1)."})
    lora_alpha: int = dataclasses.field(default=32, metadata={
        "help": "LoRA scaling numerator: updates are scaled by lora_alpha / lora_r (> 0)."})
    lora_dropout: float = dataclasses.field(default=0.05, metadata={"help": "Dropout on the LoRA branch, in [0, 1)."})
    lora_target_modules: list[str] = dataclasses.field(default_factory=lambda: ["all-linear"], metadata={"help": (
        "Layers that get a LoRA adapter, as peft's target_modules: [all-linear] (every linear layer but the "
        "output head) or module names such as [q_proj, v_proj].")})
    max_length: int = dataclasses.field(default=1024, metadata={
        "help": "Examples are truncated to this many tokens (>= 1)."})
    warmup_ratio: float = dataclasses.field(default=0.03, metadata={
        "help": "Share of the steps over which the learning rate rises to lr, in [0, 1)."})
    scheduler: str = dataclasses.field(default="cosine", metadata={"help": (
        "Learning-rate schedule after the warm-up: a transformers SchedulerType name (cosine, linear, "
        "constant, ...).")})
    weight_decay: float = dataclasses.field(default=0.0, metadata={"help": "AdamW weight decay (>= 0)."})
    logging_steps: int = dataclasses.field(default=10, metadata={
        "help": "Steps between lines of train_log.jsonl (>= 1)."})
    gradient_checkpointing: bool = dataclasses.field(default=False, metadata={"help": (
        "Recompute activations in the backward pass: less memory, more time; only worth it for big models on "
        "small GPUs.")})
    group_by_length: bool = dataclasses.field(default=True, metadata={
        "help": "Batch examples of similar length, so little compute goes to padding."})
    pad_to_multiple_of: int = dataclasses.field(default=0, metadata={"help": (
        "Pad each batch to a multiple of this many tokens (>= 0). 0: auto, which is 32 where the CPU trains "
        "with bf16 autocast (its kernels are built and kept per input shape: unpadded batches of every "
        "length made a 2M-parameter model's SFT grow by ~7 MB a step, to 1.8 GB after 50 steps) and no "
        "padding elsewhere; 1: never pad.")})
    precision: str = dataclasses.field(default="auto", metadata={"help": (
        f"{' | '.join(PRECISIONS)}. auto: bf16 on CUDA when supported and on CPUs with bf16 instructions, else "
        "fp32; on a CPU, bf16 means fp32 weights with bf16 autocast.")})
    save_steps: int = dataclasses.field(default=0, metadata={"help": (
        "Write a trainer checkpoint to <out>/checkpoints/ every N steps, the newest kept; an SFT of the same "
        "model, settings and examples into the same folder continues from it (>= 0; 0: none).")})
    report_to: list[str] = dataclasses.field(default_factory=lambda: ["none"], metadata={"help": (
        f"transformers' report_to: [none], [all] or integrations among {', '.join(REPORTERS)}.")})
    progress: bool = dataclasses.field(default=True, metadata={
        "help": "Show the Trainer's progress bar (else stdout stays quiet)."})
    plot: bool = dataclasses.field(default=True, metadata={"help": "Write train_loss.png next to the model."})

    def __post_init__(self) -> None:
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError(f"set epochs > 0 or max_steps > 0 (got {self.epochs}, {self.max_steps})")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError(f"batch_size and grad_accum must be >= 1 (got {self.batch_size}, {self.grad_accum})")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, or None for the default by model size, got {self.lr}")
        if self.merge_lora and not self.lora:
            raise ValueError("merge_lora needs lora: set lora=True, or merge_lora=False")
        if self.lora_r < 1 or self.lora_alpha <= 0 or not 0 <= self.lora_dropout < 1:
            raise ValueError(f"LoRA needs lora_r >= 1, lora_alpha > 0 and lora_dropout in [0, 1) (got {self.lora_r}, "
                             f"{self.lora_alpha}, {self.lora_dropout})")
        if self.max_length < 1 or self.logging_steps < 1:
            raise ValueError(f"max_length and logging_steps must be >= 1 (got {self.max_length}, {self.logging_steps})")
        # a warmup_ratio >= 1 would reach TRL as a number of steps (see build_trainer)
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio is a share of the steps, in [0, 1); got {self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.pad_to_multiple_of < 0:
            raise ValueError(f"pad_to_multiple_of must be >= 0 (0: auto, 1: no padding), got {self.pad_to_multiple_of}")
        if self.save_steps < 0:
            raise ValueError(f"save_steps must be >= 0 (0: no checkpoints), got {self.save_steps}")
        for name, problem in (("lora_target_modules", target_modules_problem(list(self.lora_target_modules))),
                              ("report_to", report_to_problem(list(self.report_to)))):
            if problem:
                raise ValueError(f"{name}: {problem}")


def _pad_multiple(setting: int, cpu_autocast: bool) -> int | None:
    """TRL's ``pad_to_multiple_of`` for :attr:`SFTSettings.pad_to_multiple_of`."""
    if setting == 0:
        return 32 if cpu_autocast else None
    return None if setting == 1 else setting


def cpu_has_bf16() -> bool:
    """Does this CPU run bf16 matrix products natively (AVX512-BF16 or AMX-BF16)? Without them, bf16
    autocast on the CPU is emulated and slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, on_cuda: bool) -> str:
    """``"bf16"`` or ``"fp32"`` for ``precision`` on this machine."""
    import torch

    if precision != "auto":
        return precision
    if on_cuda:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def _to_rendered(tokenizer: Any, examples: Iterable[Any], prompt_cfg: Any) -> tuple[list[list[int]], list[list[int]]]:
    from toolace_r.data.schema import Sample
    from toolace_r.models import prompting

    ids_all, masks_all = [], []
    for i, ex in enumerate(examples):
        if isinstance(ex, Sample):
            ex = prompting.example_from_sample(ex, prompt_cfg)
        if isinstance(ex, prompting.Example):
            ids, mask = prompting.render_example(tokenizer, ex)
        elif isinstance(ex, dict) and "input_ids" in ex:
            ids, mask = list(ex["input_ids"]), list(ex.get("loss_mask") or ex.get("assistant_masks") or [])
            if len(mask) != len(ids):
                raise ValueError(f"example {i}: loss_mask must be as long as input_ids")
        elif isinstance(ex, dict) and "messages" in ex and "target" in ex:
            ids, mask = prompting.render(tokenizer, ex["messages"], ex.get("tools"), ex["target"],
                                         getattr(prompt_cfg, "tool_format", "pythonic"))
        else:
            raise TypeError(
                f"example {i}: expected a Sample, an Example, a dict with messages/tools/target, "
                f"or a dict with input_ids/loss_mask; got {type(ex).__name__}"
            )
        ids_all.append(ids)
        masks_all.append(mask)
    if not ids_all:
        raise ValueError("no training examples")
    return ids_all, masks_all


def build_trainer(
    model_path: str | Path,
    examples: Iterable[Any],
    out_dir: str | Path,
    cfg: SFTSettings | None = None,
    prompt_cfg: Any = None,
    callbacks: list[Any] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """The ready ``SFTTrainer`` (its ``train_dataset`` already holds TRL's labels), the tokenizer,
    and facts about the run. :func:`train_sft` trains it; tests inspect it. ``callbacks``: more
    transformers ``TrainerCallback`` objects."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from toolace_r.models.prompting import load_prompt_config
    from toolace_r.models.refs import resolve_model

    cfg = cfg or SFTSettings()
    given, model_path, out = model_path, Path(model_path), Path(out_dir)
    if not model_path.is_dir():  # a hub id: its folder in the HF cache, or one line saying why not
        model_path = resolve_model(model_path)
    from_adapter = adapters.is_adapter(model_path)
    if from_adapter and cfg.lora:
        _check_same_lora(model_path, cfg)
    # what an adapter trained here records as its base: the start model's, or the start adapter's base
    base_ref = adapters.adapter_base(model_path) if from_adapter else adapters.base_reference(given, model_path)
    out.mkdir(parents=True, exist_ok=True)
    prompt_cfg = prompt_cfg or load_prompt_config(model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(adapters.tokenizer_folder(model_path)))
    ids, masks = _to_rendered(tokenizer, examples, prompt_cfg)
    # Pre-tokenized data: TRL turns `assistant_masks` into labels (-100 where 0); see module docstring.
    dataset = Dataset.from_dict({"input_ids": ids, "assistant_masks": masks})

    on_cuda = torch.cuda.is_available()
    bf16 = resolve_precision(cfg.precision, on_cuda) == "bf16"
    # On CUDA the weights are bf16; on a CPU they stay fp32 and the Trainer autocasts the products.
    dtype = torch.bfloat16 if bf16 and on_cuda else torch.float32
    if from_adapter:  # lora: the adapter trains on; else all weights of base + adapter
        model = adapters.load_hf(model_path, dtype, merge=not cfg.lora, trainable=True)
        if not cfg.lora:
            model.requires_grad_(True)  # peft froze the base weights; merged, all of them train
    else:
        model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=dtype)
    n_params = sum(p.numel() for p in model.parameters())
    lr = cfg.lr if cfg.lr is not None else (2e-4 if cfg.lora else 1e-3 if n_params < 50_000_000 else 1e-5)

    peft_config = None
    if cfg.lora and not from_adapter:
        from peft import LoraConfig

        targets = list(cfg.lora_target_modules)
        peft_config = LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules="all-linear" if targets == ["all-linear"] else targets, task_type="CAUSAL_LM",
        )

    # TRL turns checkpointing on by default; transformers 5 renamed the switch.
    ckpt_field = "activation_checkpointing" if "activation_checkpointing" in {
        f.name for f in dataclasses.fields(SFTConfig)} else "gradient_checkpointing"
    args = SFTConfig(
        output_dir=str(out / checkpoints.CHECKPOINTS),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=lr,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a share of the total steps
        lr_scheduler_type=cfg.scheduler,
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=bf16,  # TRL defaults bf16 to True, which CPUs without bf16 instructions run slowly
        **{ckpt_field: cfg.gradient_checkpointing},
        max_length=cfg.max_length,
        pad_to_multiple_of=_pad_multiple(cfg.pad_to_multiple_of, bf16 and not on_cuda),
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,  # read only with save_strategy "steps"
        save_total_limit=1,
        report_to=list(cfg.report_to),
        disable_tqdm=not cfg.progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_cuda,
        # A short last batch per epoch would be split differently over N processes (accelerate fills it
        # up from the start of the data); dropping it keeps the batches those of one process.
        dataloader_drop_last=len(ids) >= cfg.batch_size * cfg.grad_accum * distributed.world_size(),
        # a launched job on a machine without CUDA: data parallel over gloo on the CPU; and the
        # Trainer accepts bf16 without a GPU only when told it runs on the CPU
        use_cpu=not on_cuda and (distributed.world_size() > 1 or bf16),
        ddp_find_unused_parameters=False,  # every parameter (or LoRA weight) takes part in every step
    )
    log_cb = JsonlLog.make(out / "train_log.jsonl")
    lean_logprob_tiles()
    try:
        trainer = trainer_class(SFTTrainer)(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
            peft_config=peft_config, callbacks=[log_cb, *(callbacks or [])],
        )
    except ValueError as e:  # e.g. peft: target modules that the model does not have
        if "target" in str(e).lower() and cfg.lora:
            raise ValueError(f"lora_target_modules {list(cfg.lora_target_modules)} do not fit {model_path}: "
                             f"{str(e).splitlines()[0]}") from None
        raise
    if not cfg.progress:
        # without a progress bar, transformers prints every log dict instead: keep stdout quiet
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    info = {"n_params": n_params, "lr": lr, "device": "cuda" if on_cuda else "cpu",
            "dtype": ("bf16" if on_cuda else "bf16-autocast") if bf16 else "fp32", "log": log_cb,
            "prompt_cfg": prompt_cfg, "base_ref": base_ref,
            "fingerprint": checkpoints.fingerprint(str(model_path.resolve()), asdict(cfg), ids, masks,
                                                   distributed.world_size())}
    return trainer, tokenizer, info


def _check_same_lora(folder: Path, cfg: SFTSettings) -> None:
    """An adapter trains on with its own shape: settings asking for another are an error, not ignored."""
    have = adapters.adapter_config(folder)
    if (have.get("r"), have.get("lora_alpha")) != (cfg.lora_r, cfg.lora_alpha):
        raise adapters.AdapterError(
            f"{folder} holds a LoRA adapter of r={have.get('r')}, lora_alpha={have.get('lora_alpha')}, which trains on "
            f"as it is: set lora_r={have.get('r')} and lora_alpha={have.get('lora_alpha')} (not {cfg.lora_r}, "
            f"{cfg.lora_alpha}), or start from its base model {have.get('base_model_name_or_path')}")


def train_sft(
    model_path: str | Path,
    examples: Iterable[Any],
    out_dir: str | Path,
    cfg: SFTSettings | None = None,
    prompt_cfg: Any = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune the model at ``model_path`` on ``examples``; save to ``out_dir``; return metrics.
    With a checkpoint of this very SFT in ``out_dir/checkpoints``, it continues from there."""
    cfg = cfg or SFTSettings()
    model_path, out = Path(model_path), Path(out_dir)
    trainer, tokenizer, info = build_trainer(model_path, examples, out, cfg, prompt_cfg, callbacks)
    log_cb, prompt_cfg, base_ref = info.pop("log"), info.pop("prompt_cfg"), info.pop("base_ref")
    resume = _prepare_checkpoints(out, cfg, info.pop("fingerprint"), log_cb)
    # read now: the checkpoint goes when the Trainer saves the next one
    before = checkpoints.read_loss_sum(resume, distributed.rank()) if resume is not None else None
    n_train = len(trainer.train_dataset)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    wall = time.perf_counter() - t0
    train_loss = result.training_loss
    done_before = checkpoints.step_of(resume) if resume is not None else 0
    if resume is not None:
        # the Trainer's figure covers the steps after the checkpoint: add the sum up to it
        if before is not None and result.global_step > 0:
            train_loss = (before + train_loss * (result.global_step - done_before)) / result.global_step
    if distributed.world_size() > 1:
        # The Trainer's final figure holds this rank's share of the loss for steps not logged yet:
        # the mean over ranks is the loss of the global batches.
        import torch

        acc = trainer.accelerator
        train_loss = acc.reduce(torch.tensor(train_loss, device=acc.device), reduction="mean").item()

    _save(trainer, tokenizer, model_path, out, cfg, info["dtype"], prompt_cfg, base_ref)

    seen = max((r.get("num_tokens", 0) for r in log_cb.records), default=0)
    metrics = {
        "train_loss": train_loss,
        "steps": result.global_step,
        "n_examples": n_train,
        "resumed_from_step": done_before,
        **info,
        "train_seconds": round(wall, 2),
        "tokens_seen": int(seen),
        "tokens_per_s": round(seen / wall, 1) if wall > 0 else None,
        "processes": distributed.world_size(),
        "settings": asdict(cfg),
    }
    if distributed.is_main():
        with (out / "train_log.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"summary": metrics}) + "\n")
        if cfg.plot:
            plot_loss(log_cb.records, out / "train_loss.png")
    trainer.accelerator.wait_for_everyone()  # nobody goes on before rank 0 has written the model
    return metrics


def _prepare_checkpoints(out: Path, cfg: SFTSettings, fp: str, log_cb: Any) -> Path | None:
    """The checkpoint this SFT continues from (None: it starts over, with ``<out>/checkpoints``
    emptied and ``train_log.jsonl`` begun anew); every process agrees on it."""
    ckpt_dir, log = out / checkpoints.CHECKPOINTS, out / "train_log.jsonl"
    resume = checkpoints.resumable(ckpt_dir, fp)
    distributed.barrier()  # everyone has looked before rank 0 changes anything
    if distributed.is_main():
        if resume is not None:
            checkpoints.log_until(resume, log)
        else:
            log.write_text("", encoding="utf-8")
            if cfg.save_steps:
                checkpoints.start_fresh(ckpt_dir, fp)
            else:
                shutil.rmtree(ckpt_dir, ignore_errors=True)
    distributed.barrier()
    if resume is not None:
        log_cb.records[:] = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return resume


def _save(trainer: Any, tokenizer: Any, model_path: Path, out: Path, cfg: SFTSettings, dtype: str,
          prompt_cfg: Any, base_ref: str) -> None:
    """Write the trained model (LoRA merged if asked; else the adapter, its base recorded as
    ``base_ref``), tokenizer (with its chat template) and prompt config to ``out`` from rank 0;
    then remove the checkpoints (TensorBoard's event files move to ``out/runs``)."""
    from toolace_r.models.prompting import write_prompt_config

    merge = cfg.lora and cfg.merge_lora
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        # Sharded weights: every rank takes part in gathering them; rank 0 writes.
        trainer.save_model(str(out / "adapter" if merge else out))
        trainer.accelerator.wait_for_everyone()
        if merge and distributed.is_main():
            import torch

            adapters.record_base(out / "adapter", base_ref)  # the start model may itself be an adapter
            adapters.load_hf(out / "adapter", torch.bfloat16 if dtype == "bf16" else torch.float32).save_pretrained(str(out))
            shutil.rmtree(out / "adapter")
    elif distributed.is_main():
        final = trainer.model
        if merge:
            final = final.merge_and_unload()
        final.save_pretrained(str(out))
    if distributed.is_main():
        if adapters.is_adapter(out):
            adapters.record_base(out, base_ref)  # loadable from any working directory
        tokenizer.save_pretrained(str(out))
        (out / "training_args.bin").unlink(missing_ok=True)  # written by Trainer.save_model; not needed
        write_prompt_config(out, prompt_cfg, model_path)  # how this model must be prompted
        runs = out / checkpoints.CHECKPOINTS / "runs"  # TensorBoard's event files (report_to)
        if runs.is_dir():
            shutil.rmtree(out / "runs", ignore_errors=True)
            runs.rename(out / "runs")
        shutil.rmtree(out / checkpoints.CHECKPOINTS, ignore_errors=True)
