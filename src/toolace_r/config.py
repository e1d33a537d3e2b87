"""Typed run configuration: dataclasses with defaults, loaded from YAML plus ``key=value``
overrides (dotted keys, values read as YAML: ``mait.rounds=3``, ``eval.modes=[none,adaptive]``).

Unknown keys, wrong types and invalid combinations are rejected with an error that says which
key and why. The resolved config is written into every run folder (``config.yaml``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLICIES = ("frontier", "progressive", "all")
ARMS = ("plain", "mait", "mait_refine")
LAUNCHERS = ("none", "accelerate", "torchrun")


class ConfigError(ValueError):
    pass


@dataclass
class DataConfig:
    source: str = "synth"  # "synth", or a folder holding train.jsonl / dev.jsonl / test.jsonl
    synth_n: int = 8000
    warmup_size: int = 6400  # warm-up SFT samples, taken from train
    pool_size: int = 800  # the MAIT pool D, taken from train
    dev_size: int = 200
    test_size: int = 400


@dataclass
class ModelConfig:
    init: str = "embedded"  # "embedded" (train from scratch here) or a model path / hub id
    size: str = "tiny"  # embedded model size: micro (tests) | tiny | small
    backend: str = "hf"  # generation backend for probe and eval: hf | vllm
    lora: bool = False


@dataclass
class TrainConfig:
    warmup_steps: int = 1800
    steps_per_round: int = 200
    batch_size: int = 16
    lr: float = 2e-3
    warmup_lr: float = 3e-3
    continue_from: str = "previous"  # previous (M_t) | initial (restart from M_0 each round)
    precision: str = "auto"  # auto (bf16 on CUDA / on CPUs with bf16 instructions, else fp32) | fp32 | bf16


@dataclass
class MaitConfig:
    rounds: int = 2
    k: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    policy: str = "frontier"
    replay_share: float = 0.1  # frontier: share of mastered and of unsolved samples kept
    min_selected_share: float = 0.25  # top a smaller selection up to this share of the pool
    max_new_tokens: int = 48
    stop_when_unchanged: bool = True  # stop when the selected set stops changing (progressive: growing)


@dataclass
class RefineCorpusConfig:
    enabled: bool = True
    ratio: float = 2.0  # refinement samples per selected sample
    correct_share: float = 0.7  # share of refinement samples whose previous answer was right (a weak judge: keep more)
    gold_keep: bool = False  # too few right answers of the model's own: gold answers stand in (target: unchanged)


@dataclass
class EvalConfig:
    modes: list[str] = field(default_factory=lambda: ["none", "adaptive", "fixed:3"])
    max_rounds: int = 3
    max_new_tokens: int = 48


@dataclass
class VllmConfig:
    """Engine settings for model.backend=vllm (one engine per process of the probe/eval job)."""

    tensor_parallel_size: int = 1  # GPUs per engine
    gpu_memory_utilization: float = 0.85  # share of each GPU the engine takes (weights + KV cache)
    max_model_len: int = 0  # 0: the model's own context length


@dataclass
class LaunchConfig:
    """How the training, probe and evaluation stages run (docs/scale.md)."""

    launcher: str = "none"  # none (in the `toolace-r run` process) | accelerate | torchrun
    num_processes: int = 1  # processes per stage job (usually one per GPU)
    accelerate_config: str = ""  # accelerate config file, e.g. configs/accelerate/fsdp.yaml; "" = data parallel


@dataclass
class RunConfig:
    seed: int = 0
    arms: list[str] = field(default_factory=lambda: list(ARMS))
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mait: MaitConfig = field(default_factory=MaitConfig)
    refine_corpus: RefineCorpusConfig = field(default_factory=RefineCorpusConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    vllm: VllmConfig = field(default_factory=VllmConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)

    def validate(self) -> "RunConfig":
        from toolace_r.refine import parse_mode

        def bad(key: str, why: str) -> None:
            raise ConfigError(f"{key}: {why}")

        if self.mait.policy not in POLICIES:
            bad("mait.policy", f"must be one of {POLICIES}, got {self.mait.policy!r}")
        if not self.arms:
            bad("arms", "name at least one arm")
        for a in self.arms:
            if a not in ARMS:
                bad("arms", f"unknown arm {a!r}; arms are {ARMS}")
        if self.mait.k < 1:
            bad("mait.k", "the probe needs k >= 1 samples per item")
        if self.mait.k > 1 and self.mait.temperature <= 0:
            bad("mait.temperature", "k > 1 samples at temperature 0 are all the same answer; use a temperature > 0")
        if not 0 < self.mait.top_p <= 1:
            bad("mait.top_p", "must be in (0, 1]")
        if self.mait.rounds < 1:
            bad("mait.rounds", "must be >= 1")
        if not 0 <= self.mait.min_selected_share <= 1:
            bad("mait.min_selected_share", "must be in [0, 1]")
        if not 0 <= self.mait.replay_share <= 1:
            bad("mait.replay_share", "must be in [0, 1]")
        if self.train.continue_from not in ("previous", "initial"):
            bad("train.continue_from", "must be 'previous' or 'initial'")
        for key in ("steps_per_round", "batch_size"):
            if getattr(self.train, key) < 1:
                bad(f"train.{key}", "must be >= 1")
        from toolace_r.models.sft import PRECISIONS

        if self.train.precision not in PRECISIONS:
            bad("train.precision", f"must be one of {PRECISIONS}, got {self.train.precision!r}")
        if self.train.warmup_steps < 0:
            bad("train.warmup_steps", "must be >= 0")
        if self.model.init == "embedded" and self.train.warmup_steps == 0:
            bad("train.warmup_steps", "the embedded model starts from random weights: it needs a warm-up SFT (> 0 steps)")
        if self.model.backend not in ("hf", "vllm"):
            bad("model.backend", "must be 'hf' or 'vllm'")
        if self.model.size not in ("micro", "tiny", "small"):
            bad("model.size", "must be 'micro' (tests), 'tiny' or 'small'")
        if self.data.source == "synth" and self.data.synth_n < 50:
            bad("data.synth_n", "too small to split into train/dev/test")
        for key in ("pool_size", "dev_size", "test_size"):
            if getattr(self.data, key) < 1:
                bad(f"data.{key}", "must be >= 1")
        if not 0 <= self.refine_corpus.ratio <= 10:
            bad("refine_corpus.ratio", "must be in [0, 10]")
        if not 0 <= self.refine_corpus.correct_share <= 1:
            bad("refine_corpus.correct_share", "must be in [0, 1]")
        if "mait_refine" in self.arms and not self.refine_corpus.enabled:
            bad("refine_corpus.enabled", "arm 'mait_refine' trains on the refinement corpus; enable it or drop the arm")
        if self.vllm.tensor_parallel_size < 1:
            bad("vllm.tensor_parallel_size", "must be >= 1")
        if not 0 < self.vllm.gpu_memory_utilization <= 1:
            bad("vllm.gpu_memory_utilization", "must be in (0, 1]")
        if self.vllm.max_model_len < 0:
            bad("vllm.max_model_len", "must be >= 0 (0: the model's own)")
        self._validate_launch(bad)
        if not self.eval.modes:
            bad("eval.modes", "name at least one mode (none, adaptive, fixed:N)")
        for m in self.eval.modes:
            try:
                parse_mode(m, self.eval.max_rounds)
            except ValueError as e:
                bad("eval.modes", str(e))
        return self

    def _validate_launch(self, bad: Any) -> None:
        launch = self.launch
        if launch.launcher not in LAUNCHERS:
            bad("launch.launcher", f"must be one of {LAUNCHERS}, got {launch.launcher!r}")
        if launch.num_processes < 1:
            bad("launch.num_processes", "must be >= 1")
        if launch.launcher == "none" and launch.num_processes > 1:
            bad("launch.num_processes", "more than one process needs a launcher: set launch.launcher to accelerate "
                                        "or torchrun (toolace-r run --launcher accelerate --num-processes N)")
        if self.train.batch_size % launch.num_processes:
            bad("train.batch_size", f"the global batch is split over the processes: make it a multiple of "
                                    f"launch.num_processes ({launch.num_processes})")
        if launch.accelerate_config:
            if launch.launcher != "accelerate":
                bad("launch.accelerate_config", "is read by accelerate only: set launch.launcher=accelerate")
            path = Path(launch.accelerate_config)
            if not path.is_file():
                bad("launch.accelerate_config", f"file not found: {launch.accelerate_config}")
            import yaml

            machines = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("num_machines", 1)
            if machines != 1:
                bad("launch.accelerate_config", f"{path} is for {machines} machines; toolace-r run starts its jobs on "
                                                "this machine only (multi-node: docs/scale.md)")


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _coerce(key: str, value: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if typ is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is list:
        (inner,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: unsupported type {typ}")
    return value


def _apply(obj: Any, data: dict[str, Any], prefix: str = "") -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if k not in names:
            raise ConfigError(f"{key}: unknown key; known keys here: {sorted(names)}")
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            _apply(cur, v, key + ".")
        else:
            setattr(obj, k, _coerce(key, v, hints[k]))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults, then the YAML file, then ``key=value`` overrides; validated."""
    import yaml

    cfg = RunConfig()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        _apply(cfg, data)
    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r}: write key=value, e.g. mait.rounds=3")
        key, raw = ov.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        nested: Any = value
        for part in reversed(key.strip().split(".")):
            nested = {part: nested}
        _apply(cfg, nested)
    return cfg.validate()


def save_config(cfg: RunConfig, path: str | Path) -> None:
    import yaml

    from toolace_r.data.io import atomic_write_text

    atomic_write_text(path, [yaml.safe_dump(to_dict(cfg), sort_keys=False)])


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    cfg = RunConfig()
    _apply(cfg, data)
    return cfg.validate()
