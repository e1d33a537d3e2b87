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
peft LoRA adapter (all linear layers) is trained; ``merge_lora`` folds it into the weights so that
the output is a plain model. The output directory holds a model + tokenizer loadable with
``AutoModelForCausalLM`` / ``AutoTokenizer``, ``train_log.jsonl`` (one line per logging step, and a
final summary line), ``train_loss.png`` and the prompt configuration of the input model.

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


PRECISIONS = ("auto", "fp32", "bf16")


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
        "help": "Train a peft LoRA adapter on all linear layers instead of all weights."})
    merge_lora: bool = dataclasses.field(default=False, metadata={
        "help": "Fold the trained adapter into the weights, so the output is a plain model (needs lora)."})
    lora_r: int = dataclasses.field(default=16, metadata={"help": "LoRA rank (>= 1)."})
    lora_alpha: int = dataclasses.field(default=32, metadata={
        "help": "LoRA scaling numerator: updates are scaled by lora_alpha / lora_r (> 0)."})
    lora_dropout: float = dataclasses.field(default=0.05, metadata={"help": "Dropout on the LoRA branch, in [0, 1)."})
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


class _JsonlLog:
    """A TrainerCallback (built lazily) that appends every log record to train_log.jsonl (rank 0
    writes; every rank keeps the records, which the Trainer has already averaged over ranks)."""

    @staticmethod
    def make(path: Path) -> Any:
        from transformers import TrainerCallback

        class Callback(TrainerCallback):
            def __init__(self) -> None:
                self.records: list[dict[str, Any]] = []
                if distributed.is_main():
                    path.write_text("", encoding="utf-8")

            def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
                rec = {"step": state.global_step, "epoch": state.epoch, **(logs or {})}
                self.records.append(rec)
                if state.is_world_process_zero:
                    with path.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(rec) + "\n")

        return Callback()


def _plot(records: list[dict[str, Any]], out: Path) -> None:
    pts = [(r["step"], r["loss"]) for r in records if "loss" in r]
    if len(pts) < 2:
        return
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(*zip(*pts))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (answer tokens)")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _trainer_class(base: type) -> type:
    """``SFTTrainer`` whose length grouping works on the global batch, as one process would: the
    Trainer groups by the per-process batch, so the batches (and the loss) would change with the
    number of processes. With this, N processes train on exactly the single-process batches."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class Trainer(base):  # type: ignore[misc, valid-type]
        def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
            sampler = super()._get_train_sampler(*args, **kwargs)
            if isinstance(sampler, LengthGroupedSampler):
                args = self.args
                sampler.batch_size = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
                # its own seeded generator: each epoch's shuffle then does not depend on what else
                # drew from torch's global generator (which differs between 1 and N processes)
                sampler.generator = torch.Generator().manual_seed(args.data_seed if args.data_seed is not None else args.seed)
            return sampler

    return Trainer


def build_trainer(
    model_path: str | Path,
    examples: Iterable[Any],
    out_dir: str | Path,
    cfg: SFTSettings | None = None,
    prompt_cfg: Any = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """The ready ``SFTTrainer`` (its ``train_dataset`` already holds TRL's labels), the tokenizer,
    and facts about the run. :func:`train_sft` trains it; tests inspect it."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from toolace_r.models.prompting import load_prompt_config
    from toolace_r.models.refs import resolve_model

    cfg = cfg or SFTSettings()
    model_path, out = Path(model_path), Path(out_dir)
    if not model_path.is_dir():  # a hub id: its folder in the HF cache, or one line saying why not
        model_path = resolve_model(model_path)
    if (model_path / "adapter_config.json").is_file():
        raise ValueError(
            f"{model_path} holds a LoRA adapter; continue training from a merged model (train with --merge-lora)"
        )
    out.mkdir(parents=True, exist_ok=True)
    prompt_cfg = prompt_cfg or load_prompt_config(model_path)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    ids, masks = _to_rendered(tokenizer, examples, prompt_cfg)
    # Pre-tokenized data: TRL turns `assistant_masks` into labels (-100 where 0); see module docstring.
    dataset = Dataset.from_dict({"input_ids": ids, "assistant_masks": masks})

    on_cuda = torch.cuda.is_available()
    bf16 = resolve_precision(cfg.precision, on_cuda) == "bf16"
    # On CUDA the weights are bf16; on a CPU they stay fp32 and the Trainer autocasts the products.
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.bfloat16 if bf16 and on_cuda else torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    lr = cfg.lr if cfg.lr is not None else (2e-4 if cfg.lora else 1e-3 if n_params < 50_000_000 else 1e-5)

    peft_config = None
    if cfg.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules="all-linear", task_type="CAUSAL_LM",
        )

    # TRL turns checkpointing on by default; transformers 5 renamed the switch.
    ckpt_field = "activation_checkpointing" if "activation_checkpointing" in {
        f.name for f in dataclasses.fields(SFTConfig)} else "gradient_checkpointing"
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
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
        save_strategy="no",
        report_to="none",
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
    log_cb = _JsonlLog.make(out / "train_log.jsonl")
    trainer = _trainer_class(SFTTrainer)(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
        peft_config=peft_config, callbacks=[log_cb],
    )
    if not cfg.progress:
        # without a progress bar, transformers prints every log dict instead: keep stdout quiet
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    info = {"n_params": n_params, "lr": lr, "device": "cuda" if on_cuda else "cpu",
            "dtype": ("bf16" if on_cuda else "bf16-autocast") if bf16 else "fp32", "log": log_cb,
            "prompt_cfg": prompt_cfg}
    return trainer, tokenizer, info


def train_sft(
    model_path: str | Path,
    examples: Iterable[Any],
    out_dir: str | Path,
    cfg: SFTSettings | None = None,
    prompt_cfg: Any = None,
) -> dict[str, Any]:
    """Fine-tune the model at ``model_path`` on ``examples``; save to ``out_dir``; return metrics."""
    cfg = cfg or SFTSettings()
    model_path, out = Path(model_path), Path(out_dir)
    trainer, tokenizer, info = build_trainer(model_path, examples, out, cfg, prompt_cfg)
    log_cb, prompt_cfg = info.pop("log"), info.pop("prompt_cfg")
    n_train = len(trainer.train_dataset)
    t0 = time.perf_counter()
    result = trainer.train()
    wall = time.perf_counter() - t0
    train_loss = result.training_loss
    if distributed.world_size() > 1:
        # The Trainer's final figure holds this rank's share of the loss for steps not logged yet:
        # the mean over ranks is the loss of the global batches.
        import torch

        acc = trainer.accelerator
        train_loss = acc.reduce(torch.tensor(train_loss, device=acc.device), reduction="mean").item()

    _save(trainer, tokenizer, model_path, out, cfg, info["dtype"], prompt_cfg)

    seen = max((r.get("num_tokens", 0) for r in log_cb.records), default=0)
    metrics = {
        "train_loss": train_loss,
        "steps": result.global_step,
        "n_examples": n_train,
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
            _plot(log_cb.records, out / "train_loss.png")
    trainer.accelerator.wait_for_everyone()  # nobody goes on before rank 0 has written the model
    return metrics


def _save(trainer: Any, tokenizer: Any, model_path: Path, out: Path, cfg: SFTSettings, dtype: str,
          prompt_cfg: Any) -> None:
    """Write the trained model (LoRA merged if asked), tokenizer (with its chat template) and prompt
    config to ``out`` from rank 0."""
    from toolace_r.models.prompting import write_prompt_config

    merge = cfg.lora and cfg.merge_lora
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        # Sharded weights: every rank takes part in gathering them; rank 0 writes.
        trainer.save_model(str(out / "adapter" if merge else out))
        trainer.accelerator.wait_for_everyone()
        if merge and distributed.is_main():
            import torch
            from peft import PeftModel
            from transformers import AutoModelForCausalLM

            base = AutoModelForCausalLM.from_pretrained(
                str(model_path), dtype=torch.bfloat16 if dtype == "bf16" else torch.float32)
            PeftModel.from_pretrained(base, str(out / "adapter")).merge_and_unload().save_pretrained(str(out))
            shutil.rmtree(out / "adapter")
    elif distributed.is_main():
        final = trainer.model
        if merge:
            final = final.merge_and_unload()
        final.save_pretrained(str(out))
    if distributed.is_main():
        tokenizer.save_pretrained(str(out))
        (out / "training_args.bin").unlink(missing_ok=True)  # written by Trainer.save_model; not needed
        write_prompt_config(out, prompt_cfg, model_path)  # how this model must be prompted
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
