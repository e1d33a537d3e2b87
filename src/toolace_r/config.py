"""Typed run configuration of ``toolace-r run``: one dataclass per section, each field defined and
documented once (``field(default=..., metadata={"help": ...})``, as TRL's config classes do).

A config is the defaults, then a YAML file, then ``key=value`` overrides (dotted keys, values read
as YAML: ``mait.rounds=3``, ``eval.modes=[none,adaptive]``). :func:`load_config` merges the file and
the overrides into one mapping and builds the dataclasses from it, so every section's
``__post_init__`` converts and checks its own values and :class:`RunConfig` checks what spans
sections. Every error is a :class:`ConfigError` that starts with the full dotted key
(``mait.k: ...``), says what is wrong and what to do. The sections' shared base class and the
conversion of YAML values to field types are :mod:`toolace_r.config_base`'s.

``configs/default.yaml`` and ``docs/config.md`` are rendered from these dataclasses by
:mod:`toolace_r.config_docs` (``python -m toolace_r.config_docs [--markdown]``), and tests keep both
equal to the code. The resolved config is written into every run folder
(``config.yaml``) and read back by ``--resume`` with :func:`config_from_dict`.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from toolace_r import mait
from toolace_r.calls import TOOL_FORMATS
from toolace_r.config_base import ConfigError, _build, _names, _Section
from toolace_r.data.split import DEFAULT_DEV, DEFAULT_TEST
from toolace_r.models.embedded import SIZES
from toolace_r.models.generation import BACKENDS
from toolace_r.models.prompting import CONFIRM_MODES
from toolace_r.models.sft import PRECISIONS, REPORTERS, report_to_problem, target_modules_problem
from toolace_r.refine import DEFAULT_CONFIRM_BIAS, parse_mode

POLICIES = ("frontier", "progressive", "all")
ARMS = tuple(mait.ARMS)  # the arm values and their titles live in mait.py
LAUNCHERS = ("none", "process", "accelerate", "torchrun")
MODEL_SIZES = tuple(SIZES)
# A run trains its own model, so it generates from local weights: not from a served model (openai).
RUN_BACKENDS = tuple(b for b in BACKENDS if b != "openai")
CONTINUE_FROM = ("previous", "initial")

# Keys that no longer exist: a user config that sets one is stopped with this advice; a saved run
# config (``--resume`` on an old run folder) drops it silently.
REMOVED_KEYS = {
    "refine_corpus.enabled": "it never switched anything: the refinement corpus is built for arm mait_refine "
                             "only. Delete the key; to train without the corpus, drop mait_refine from "
                             "arms (e.g. arms=[plain,mait])",
}


@dataclass
class DataConfig(_Section):
    """Where the samples come from and how many of each split the run uses."""

    SECTION: ClassVar[str] = "data"
    source: str = field(default="synth", metadata={"help": (
        "'synth': generate the synthetic corpus (toolace-r data synth); a folder holding train.jsonl, "
        "dev.jsonl and test.jsonl in toolace-r's sample format; or one .jsonl file of samples (e.g. from "
        "toolace-r data convert), split in the data stage as toolace-r data split does with its defaults "
        f"(dev {DEFAULT_DEV:.0%}, test {DEFAULT_TEST:.0%}, stratified by category, dialogues kept whole; "
        "the split is in the stage's metrics); or a Hugging Face data set of samples, org/name[:config] or a "
        "save_to_disk folder, loaded with the datasets library (its train/validation/test splits, or its "
        "train split split as above). Samples without an answer are dropped.")})
    synth_n: int = field(default=12000, metadata={"help": (
        "Samples in the synthetic corpus, split by the generator into train / dev / test "
        "(source=synth only; >= 50).")})
    synth_shares: str = field(default="", metadata={"help": (
        "Category shares of the synthetic corpus, CATEGORY=FRACTION,... (source=synth only; e.g. "
        "'multi_step=0.15': the categories not named share the rest in their default proportions). Empty: "
        "the generator's defaults, which hold no multi_step (one call after an earlier call and its tool "
        "result).")})
    warmup_size: int = field(default=0, metadata={"help": (
        "The first N train samples are the warm-up SFT set (train.warmup_steps > 0 only; 0: the whole "
        "train split).")})
    pool_size: int = field(default=3200, metadata={"help": (
        "The first N train samples are the MAIT pool D, probed every round (samples; >= 1; "
        "the whole train split when it holds fewer).")})
    dev_size: int = field(default=400, metadata={"help": (
        "Dev samples kept, a seeded random sample when the split holds more (>= 1). Dev accuracy "
        "picks each arm's best round and stops a mait / mait_refine arm when it drops.")})
    test_size: int = field(default=1200, metadata={"help": (
        "Test samples kept for the final evaluation, a seeded random sample when the split holds more (>= 1).")})

    def __post_init__(self) -> None:
        self._convert()
        if not self.source:
            self._fail("source", "name 'synth', a folder with train.jsonl, dev.jsonl and test.jsonl, "
                                 "or one .jsonl file")
        if self.source == "synth" and self.synth_n < 50:
            self._fail("synth_n", f"too small to split into train/dev/test ({self.synth_n}); use >= 50")
        if self.synth_shares:
            from toolace_r.data.synth import parse_shares, resolve_shares

            try:
                resolve_shares(parse_shares(self.synth_shares))
            except ValueError as e:
                self._fail("synth_shares", str(e))
        self._at_least("warmup_size", 0)
        for name in ("pool_size", "dev_size", "test_size"):
            self._at_least(name, 1)


@dataclass
class ModelConfig(_Section):
    """The model M_0 and how it generates."""

    SECTION: ClassVar[str] = "model"
    init: str = field(default="embedded", metadata={"help": (
        "'embedded': the base model shipped in the package (a 2.3M-parameter Llama trained on synthetic "
        "tool calls of its own seed, docs/run.md); 'scratch': build a byte-level BPE tokenizer and a small "
        "Llama with random weights on the train split (needs train.warmup_steps > 0); or a local model "
        "folder / Hugging Face hub id (with its own chat template).")})
    size: str = field(default="tiny", metadata={"help": (
        f"Size of the from-scratch model (model.init=scratch only): {_names(MODEL_SIZES)}. micro is for tests "
        "(learns little), tiny has about 2.3M parameters, small about 6M.")})
    backend: str = field(default="hf", metadata={"help": (
        f"Generation backend of the probe and the evaluation: {_names(RUN_BACKENDS)}. hf: transformers with "
        "toolace-r's decoding loop; vllm: vLLM on a GPU (settings under vllm). A served model (openai) "
        "is for toolace-r eval only: a run trains its own.")})
    lora: bool = field(default=False, metadata={"help": (
        "true: every SFT trains a LoRA adapter (on model.lora_target_modules) instead of all weights; "
        "false: full fine-tune.")})
    merge_lora: bool = field(default=True, metadata={"help": (
        "With model.lora: true folds each SFT's adapter into the weights (every round's model is a whole "
        "model); false keeps each round's adapter folder (the LoRA weights, tokenizer and prompt config, not a "
        "model copy): the next round trains the same adapter on from base + adapter, and the probe, dev and "
        "test evaluation, toolace-r eval and toolace-r serve load base + adapter (hf: through peft; vllm: "
        "enable_lora and a LoRARequest).")})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (model.lora only; >= 1)."})
    lora_alpha: int = field(default=32, metadata={"help": (
        "LoRA scaling numerator: updates are scaled by lora_alpha / lora_r (model.lora only; >= 1).")})
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"], metadata={"help": (
        "Layers that get a LoRA adapter, as peft's target_modules: [all-linear] (every linear layer but the "
        "output head) or module names of the model, e.g. [q_proj, k_proj, v_proj, o_proj].")})
    tool_format: str = field(default="auto", metadata={"help": (
        f"Tool-call format the model is trained and evaluated in: {_names(('auto', *TOOL_FORMATS))}. auto: what "
        "the model folder's toolace_r.json records, else what its chat template writes (<tool_call> JSON: "
        "hermes; Llama 3's JSON with \"parameters\": llama3_json; else pythonic, our system prompt asking for "
        "a Python list of calls). hermes and llama3_json: the tools, earlier calls and the answer are "
        "written by the model's own chat template, so the trained folder serves with vLLM's tool parser of "
        "the same name (docs/models.md).")})

    def __post_init__(self) -> None:
        self._convert()
        if not self.init:
            self._fail("init", "name 'embedded', 'scratch' or a model folder / hub id")
        self._one_of("size", MODEL_SIZES)
        self._one_of("backend", RUN_BACKENDS)
        self._one_of("tool_format", ("auto", *TOOL_FORMATS))
        self._at_least("lora_r", 1)
        self._at_least("lora_alpha", 1)
        problem = target_modules_problem(self.lora_target_modules)
        if problem:
            self._fail("lora_target_modules", problem)
        if not self.merge_lora and not self.lora:
            self._fail("merge_lora", "false keeps LoRA adapters, and there are none without model.lora: true; "
                                     "set model.lora=true, or leave merge_lora at true")


@dataclass
class TrainConfig(_Section):
    """The SFT stages: the warm-up of M_0 and the SFT of every round."""

    SECTION: ClassVar[str] = "train"
    warmup_steps: int = field(default=0, metadata={"help": (
        "Optimizer steps of a warm-up SFT of M_0 on data.warmup_size samples before the arms (0: none; "
        "model.init=scratch needs > 0).")})
    steps_per_round: int = field(default=100, metadata={"help": (
        "Optimizer steps of each round's SFT, the same in every arm (>= 1).")})
    batch_size: int = field(default=16, metadata={"help": (
        "Global batch: examples per optimizer step, split evenly over launch.num_processes (>= 1).")})
    lr: float = field(default=1e-3, metadata={"help": (
        "Peak learning rate of each round's SFT (cosine schedule, 3% warm-up; > 0).")})
    round_lr_decay: float = field(default=0.5, metadata={"help": (
        "Round t's SFT peaks at lr x round_lr_decay^t, so later rounds refine what earlier ones learnt "
        "instead of restarting at full rate; in (0, 1].")})
    replay_size: int = field(default=800, metadata={"help": (
        "Fresh train samples (outside the MAIT pool, a new seeded draw every round, the same in every arm) "
        "added to each round's SFT set, so a round's steps do not overfit the pool and the model keeps "
        "what it knew (>= 0; 0: none).")})
    warmup_lr: float = field(default=3e-3, metadata={"help": "Peak learning rate of the warm-up SFT (> 0)."})
    continue_from: str = field(default="previous", metadata={"help": (
        f"Where each round's SFT starts: {_names(CONTINUE_FROM)}. previous: from the model of the round "
        "before (M_t); initial: from the warm-up model M_0 every round.")})
    precision: str = field(default="auto", metadata={"help": (
        f"Training precision: {_names(PRECISIONS)}. auto: bf16 on CUDA when supported and on CPUs with bf16 "
        "instructions (fp32 weights, bf16 autocast), else fp32.")})
    max_length: int = field(default=1024, metadata={"help": (
        "TRL's max_length: training examples are cut to this many tokens (>= 16).")})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": (
        "Micro-batches per optimizer step: each process runs train.batch_size / (launch.num_processes x this) "
        "examples at a time, so the global batch stays train.batch_size and memory goes down (>= 1; "
        "train.batch_size must be a multiple of launch.num_processes x this).")})
    gradient_checkpointing: bool = field(default=False, metadata={"help": (
        "Recompute activations in the backward pass: less memory, more time; for big models on small GPUs.")})
    report_to: list[str] = field(default_factory=lambda: ["none"], metadata={"help": (
        f"Where the Trainer also sends its logs (transformers' report_to): [none], [all] or some of "
        f"{_names(REPORTERS)} (installed). TensorBoard's event files go to the stage's model/runs/.")})
    save_steps: int = field(default=0, metadata={"help": (
        "Write a trainer checkpoint every N optimizer steps into the stage's model/checkpoints/ (the newest "
        "only; removed once the model is saved). A run resumed after a kill mid-SFT (toolace-r run --resume) "
        "then continues that SFT from its checkpoint and ends as an uninterrupted run (>= 0; 0: none).")})

    def __post_init__(self) -> None:
        self._convert()
        self._at_least("warmup_steps", 0)
        self._at_least("steps_per_round", 1)
        self._at_least("batch_size", 1)
        self._at_least("max_length", 16, " (tokens; an example needs room for its prompt and answer)")
        self._at_least("gradient_accumulation_steps", 1)
        self._at_least("save_steps", 0)
        problem = report_to_problem(self.report_to)
        if problem:
            self._fail("report_to", problem)
        if self.batch_size % self.gradient_accumulation_steps:
            self._fail("gradient_accumulation_steps", f"train.batch_size ({self.batch_size}) is split into this many "
                                                      "micro-batches per step: make it a multiple of "
                                                      f"{self.gradient_accumulation_steps}")
        self._at_least("replay_size", 0)
        for name in ("lr", "warmup_lr"):
            if getattr(self, name) <= 0:
                self._fail(name, f"a learning rate must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.round_lr_decay <= 1:
            self._fail("round_lr_decay", f"must be in (0, 1], got {self.round_lr_decay!r}")
        self._one_of("continue_from", CONTINUE_FROM)
        self._one_of("precision", PRECISIONS)


@dataclass
class MaitConfig(_Section):
    """Model-aware iterative training: the probe and the selection of each round."""

    SECTION: ClassVar[str] = "mait"
    rounds: int = field(default=2, metadata={"help": (
        "Rounds per arm (>= 1), at most: a mait / mait_refine arm stops early by mait.stop_when_unchanged "
        "or when its dev accuracy drops.")})
    k: int = field(default=4, metadata={"help": (
        "Answers the probe samples per pool item; c(x) counts the right ones, p(x) = c(x) / k (>= 1).")})
    temperature: float = field(default=0.8, metadata={"help": (
        "Sampling temperature of the probe (>= 0; > 0 when k > 1, else all k answers are the same).")})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling of the probe, in (0, 1] (1: off)."})
    policy: str = field(default="frontier", metadata={"help": (
        f"Selection policy of the arms mait and mait_refine: {_names(POLICIES)}. frontier: the items with "
        "0 < p < 1, plus replays (mait.replay_share); progressive: the items answered right at least once "
        "(pass@k = 1); all: the whole pool.")})
    replay_share: float = field(default=0.1, metadata={"help": (
        "frontier: from the mastered (p = 1) and from the unsolved (p = 0) items, this share of the frontier "
        "set's size each (at least 1 when > 0) joins the selection; in [0, 1].")})
    min_selected_share: float = field(default=0.25, metadata={"help": (
        "A smaller selection is topped up with random other pool items to this share of the pool, so a "
        "round's fixed steps do not overfit a tiny set; in [0, 1].")})
    max_new_tokens: int = field(default=48, metadata={"help": "Longest answer the probe generates, in tokens (>= 1)."})
    stop_when_unchanged: bool = field(default=True, metadata={"help": (
        "Stop a mait / mait_refine arm when its selected set stops changing (policy progressive: stops "
        "growing).")})

    def __post_init__(self) -> None:
        self._convert()
        self._at_least("rounds", 1)
        self._at_least("k", 1, " (the probe needs k >= 1 samples per item)")
        self._at_least("temperature", 0)
        if self.k > 1 and self.temperature <= 0:
            self._fail("temperature", "k > 1 samples at temperature 0 are all the same answer; use a temperature > 0")
        self._share("top_p", open_low=True)
        self._one_of("policy", POLICIES)
        self._share("replay_share")
        self._share("min_selected_share")
        self._at_least("max_new_tokens", 1)


@dataclass
class RefineCorpusConfig(_Section):
    """The self-refinement corpus, built from the probe's own answers for arm mait_refine."""

    SECTION: ClassVar[str] = "refine_corpus"
    ratio: float = field(default=0.5, metadata={"help": (
        "Refinement examples per selected sample (round(ratio x selected)); 0: none; in [0, 10].")})
    correct_share: float = field(default=0.7, metadata={"help": (
        "Share of the refinement examples whose previous answer was right (target: the same answer, "
        "unchanged), as far as there are such answers; a weak judge of its own answers needs more; in [0, 1].")})
    gold_keep: bool = field(default=False, metadata={"help": (
        "When the model's own right answers are fewer than correct_share asks, gold answers stand in as "
        "right previous answers (target: the confirmation, or the same answer).")})
    greedy_share: float = field(default=0.5, metadata={"help": (
        "Share of the previous answers taken from the probe's greedy answers (the ones refinement at inference "
        "starts from), the rest from its sampled ones, as far as there are such answers; 0: sampled only (the "
        "probe then skips its greedy pass); in [0, 1].")})
    follow_up: bool = field(default=False, metadata={"help": (
        "Each example with a wrong previous answer also gets the next round's, on top of ratio: the conversation "
        "continued by the gold answer, target the confirmation (or the gold answer again), which is what round 2 "
        "sees after a fix.")})

    def __post_init__(self) -> None:
        self._convert()
        if not 0 <= self.ratio <= 10:
            self._fail("ratio", f"must be in [0, 10], got {self.ratio!r}")
        self._share("correct_share")
        self._share("greedy_share")


@dataclass
class RefineConfig(_Section):
    """Self-refinement: how the model keeps a right answer, at inference and in the refinement corpus."""

    SECTION: ClassVar[str] = "refine"
    confirm: str = field(default="token", metadata={"help": (
        f"{_names(CONFIRM_MODES)}. repeat (the paper's rule): the model keeps an answer by repeating it, and "
        "adaptive refinement stops when the calls come back unchanged; token: it answers the confirmation "
        "(its tokenizer's <|confirm|> token, else 'Confirmed.'), refinement stops there and keeps the previous "
        "answer, so a right first answer costs one short pass. The refinement corpus teaches the same rule.")})
    confirm_bias: float = field(default=DEFAULT_CONFIRM_BIAS, metadata={"help": (
        "confirm=token, hf backend: added to the confirmation's logit at a refinement pass's first token, so "
        "the model rewrites an answer only where it prefers the rewrite by more than this many nats; 0: the "
        "plain greedy choice (the paper's rule). The default was chosen on the embedded run's dev split "
        "(benchmarks/README.md); other backends ignore it; >= 0.")})

    def __post_init__(self) -> None:
        self._convert()
        self._one_of("confirm", CONFIRM_MODES)
        self._at_least("confirm_bias", 0)


@dataclass
class EvalConfig(_Section):
    """The final evaluation of each arm's best model on the test split."""

    SECTION: ClassVar[str] = "eval"
    modes: list[str] = field(default_factory=lambda: ["none", "adaptive", "fixed:3", "rewrite"], metadata={"help": (
        "Refinement modes, each evaluated: none (the first answer), adaptive (refine until the model keeps its "
        "answer, refine.confirm, at most eval.max_rounds rounds), fixed:N (N refinement rounds, N >= 1, fewer "
        "only when the model confirms its answer), rewrite (a diagnostic: one round in which the model may not "
        "confirm; its first answers fixed bound what a perfect stop rule could gain).")})
    max_rounds: int = field(default=3, metadata={
        "help": "Most refinement rounds of mode adaptive (>= 1 when adaptive is used)."})
    max_new_tokens: int = field(default=48, metadata={"help": "Longest answer per generation, in tokens (>= 1)."})
    refine_arms: list[str] = field(default_factory=lambda: ["mait_refine"], metadata={"help": (
        "Arms evaluated in every mode of eval.modes; the other arms in mode none only. The default keeps the "
        "refinement modes for the arm trained to refine: the others were never taught to check an answer (on the "
        "embedded default refinement broke 16 of their right answers per fixed one, at 4x the tokens of one pass, "
        "a third of the run's time). all: every arm.")})

    def __post_init__(self) -> None:
        self._convert()
        if self.refine_arms == ["all"]:
            self.refine_arms = list(ARMS)
        for arm in self.refine_arms:
            if arm not in ARMS:
                self._fail("refine_arms", f"unknown arm {arm!r}; arms are {list(ARMS)} (or all)")
        if not self.modes:
            self._fail("modes", "name at least one mode (none, adaptive, fixed:N, rewrite)")
        for mode in self.modes:
            try:
                parse_mode(mode, self.max_rounds)
            except ValueError as e:
                self._fail("modes", str(e))
        self._at_least("max_rounds", 0)
        self._at_least("max_new_tokens", 1)


@dataclass
class VllmConfig(_Section):
    """Engine settings for model.backend=vllm: one engine per process of a probe or evaluation job."""

    SECTION: ClassVar[str] = "vllm"
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per engine (>= 1)."})
    gpu_memory_utilization: float = field(default=0.85, metadata={"help": (
        "Share of each GPU's memory the engine takes for weights and KV cache, in (0, 1].")})
    max_model_len: int = field(default=0, metadata={"help": (
        "Longest sequence (prompt + answer) in tokens; 0: the model's own context length.")})

    def __post_init__(self) -> None:
        self._convert()
        self._at_least("tensor_parallel_size", 1)
        self._share("gpu_memory_utilization", open_low=True)
        self._at_least("max_model_len", 0, " (0: the model's own)")


@dataclass
class LaunchConfig(_Section):
    """How the SFT, probe and evaluation stages run (docs/scale.md); this process stays the driver."""

    SECTION: ClassVar[str] = "launch"
    launcher: str = field(default="none", metadata={"help": (
        f"{_names(LAUNCHERS)}. none: every stage in the toolace-r run process (memory given back after each, "
        "docs/run.md); process: every stage in a child process of its own; accelerate / torchrun: every stage as "
        "a job of launch.num_processes processes on this machine.")})
    num_processes: int = field(default=1, metadata={"help": (
        "Processes per stage job, usually one per GPU (>= 1; > 1 needs a launcher).")})
    accelerate_config: str = field(default="", metadata={"help": (
        "accelerate config file for launcher accelerate, e.g. configs/accelerate/fsdp.yaml (one machine); "
        "'': plain data parallel.")})
    jobs: int = field(default=0, metadata={"help": (
        "Stages run at once (launcher none only): the arms and training seeds go side by side, each stage in one "
        "of `jobs` worker processes with the cores shared out between them. 0: auto, 2 on a machine with 2 or "
        "more cores and no GPU, backend hf (on 2 cores two one-thread stages of the embedded model get 1.44x the "
        "work of one two-thread stage done: benchmarks/README.md), 1 otherwise. Results do not depend on the order "
        "the stages finish in; the thread count changes float rounding, so --jobs 1 and 2 are not the same run.")})

    def __post_init__(self) -> None:
        self._convert()
        self._one_of("launcher", LAUNCHERS)
        self._at_least("num_processes", 1)
        self._at_least("jobs", 0)
        if self.jobs > 1 and self.launcher != "none":
            self._fail("jobs", "stages side by side need launcher none (a launched job takes the machine's "
                               "processes itself): set launch.jobs=1 or launch.launcher=none")
        if self.launcher in ("none", "process") and self.num_processes > 1:
            self._fail("num_processes", "more than one process needs a launcher: set launch.launcher to accelerate "
                                        "or torchrun (toolace-r run --launcher accelerate --num-processes N)")
        if self.accelerate_config:
            self._check_accelerate_config()

    def _check_accelerate_config(self) -> None:
        import yaml

        if self.launcher != "accelerate":
            self._fail("accelerate_config", "is read by accelerate only: set launch.launcher=accelerate")
        path = Path(self.accelerate_config)
        if not path.is_file():
            self._fail("accelerate_config", f"file not found: {self.accelerate_config}")
        machines = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("num_machines", 1)
        if machines != 1:
            self._fail("accelerate_config", f"{path} is for {machines} machines; toolace-r run starts its jobs on "
                                            "this machine only (multi-node: docs/scale.md)")


@dataclass
class RunConfig(_Section):
    """The whole run: seed, arms and one field per section."""

    seed: int = field(default=0, metadata={"help": (
        "Run seed: the synthetic corpus and every stage's seed derive from it (and the stage name), so a "
        "resumed run ends as an uninterrupted one.")})
    seeds: int = field(default=1, metadata={"help": (
        "Training seeds (>= 1; `toolace-r run --seeds N`). The data, init and warm-up stages are shared; every "
        "seed trains and evaluates every arm with its own stage seeds (seed 0 is the run seed's own stages, "
        "seed i >= 1 prefixes its stage names with s<i>/). The report gives each accuracy and arm difference "
        "as the mean over seeds with a 95% bootstrap interval over test samples and seeds.")})
    arms: list[str] = field(default_factory=lambda: list(ARMS), metadata={"help": (
        f"Ablation arms, each trained from the same warm-up model: {_names(ARMS)}. plain: policy all, no "
        "refinement corpus (plain iterated SFT); mait: model-aware selection; mait_refine: selection plus "
        "the self-refinement corpus. For a big model keep only [mait_refine].")})
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": DataConfig.__doc__})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": ModelConfig.__doc__})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": TrainConfig.__doc__})
    mait: MaitConfig = field(default_factory=MaitConfig, metadata={"help": MaitConfig.__doc__})
    refine_corpus: RefineCorpusConfig = field(default_factory=RefineCorpusConfig,
                                              metadata={"help": RefineCorpusConfig.__doc__})
    refine: RefineConfig = field(default_factory=RefineConfig, metadata={"help": RefineConfig.__doc__})
    eval: EvalConfig = field(default_factory=EvalConfig, metadata={"help": EvalConfig.__doc__})
    vllm: VllmConfig = field(default_factory=VllmConfig, metadata={"help": VllmConfig.__doc__})
    launch: LaunchConfig = field(default_factory=LaunchConfig, metadata={"help": LaunchConfig.__doc__})

    def __post_init__(self) -> None:
        self._convert()  # builds the sections from mappings; each checks itself
        if self.seeds < 1:
            self._fail("seeds", f"must be >= 1 (got {self.seeds})")
        if not self.arms:
            self._fail("arms", f"name at least one arm ({_names(ARMS)})")
        for arm in self.arms:
            if arm not in ARMS:
                self._fail("arms", f"unknown arm {arm!r}; arms are {ARMS}")
        # checks across sections: the key named is the one to change
        if self.model.init == "scratch" and self.train.warmup_steps == 0:
            raise ConfigError("train.warmup_steps: model.init=scratch starts from random weights: it needs a "
                              "warm-up SFT (> 0 steps)")
        if self.train.batch_size % self.launch.num_processes:
            raise ConfigError(f"train.batch_size: the global batch is split over the processes: make it a multiple "
                              f"of launch.num_processes ({self.launch.num_processes})")
        shares = self.launch.num_processes * self.train.gradient_accumulation_steps
        if self.train.batch_size % shares:
            raise ConfigError(f"train.batch_size: each of launch.num_processes ({self.launch.num_processes}) runs "
                              f"train.gradient_accumulation_steps ({self.train.gradient_accumulation_steps}) "
                              f"micro-batches per step: make it a multiple of {shares}")

    def validate(self) -> RunConfig:
        """Check every section and the whole again (after attributes were changed in place);
        returns ``self``."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Section):
                value.__post_init__()
        self.__post_init__()
        return self


# the sections of a run config, by key
SECTIONS: dict[str, type[_Section]] = {
    name: typ for name, typ in typing.get_type_hints(RunConfig).items()
    if isinstance(typ, type) and issubclass(typ, _Section)
}


# ------------------------------------------------------------------------------------------
# Loading: defaults, file, overrides


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, mappings merged key by key."""
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _removed(data: Any, strict: bool) -> Any:
    """``data`` without the removed keys; with ``strict``, a removed key is an error."""
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    for dotted, advice in REMOVED_KEYS.items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            if strict:
                raise ConfigError(f"{dotted}: this key was removed: {advice}")
            del node[last]
    return data


def _override(text: str) -> dict[str, Any]:
    """``a.b=value`` as ``{"a": {"b": value}}``, the value read as YAML."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"override {text!r}: write key=value, e.g. mait.rounds=3")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults, then the YAML file, then ``key=value`` overrides, built and checked."""
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of keys at the top, got {loaded!r}")
        data = _removed(loaded or {}, strict=True)
    for ov in overrides or []:
        data = _merge(data, _removed(_override(ov), strict=True))
    return _build(RunConfig, data)


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """A saved config (``to_dict``), built and checked; keys removed since it was saved are dropped."""
    return _build(RunConfig, _removed(data, strict=False))


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def save_config(cfg: RunConfig, path: str | Path) -> None:
    import yaml

    from toolace_r.data.io import atomic_write_text

    atomic_write_text(path, [yaml.safe_dump(to_dict(cfg), sort_keys=False)])
