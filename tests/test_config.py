"""Run configuration: YAML + overrides, typed, validated per section with the dotted key, documented
once in the dataclasses; configs/default.yaml and docs/config.md generated from them."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from toolace_r import config as config_mod
from toolace_r.config import (
    ARMS, RUN_BACKENDS, SECTIONS, ConfigError, LaunchConfig, MaitConfig, RunConfig, config_from_dict,
    load_config, save_config, to_dict,
)
from toolace_r.config_docs import default_yaml, reference_markdown
from toolace_r.models.generation import BACKENDS
from toolace_r.models.sft import SFTSettings

ROOT = Path(__file__).resolve().parents[1]


def _all_fields():
    for cls in (RunConfig, *SECTIONS.values(), SFTSettings):
        for f in dataclasses.fields(cls):
            yield cls, f


def test_every_field_has_help():
    for cls, f in _all_fields():
        text = f.metadata.get("help")
        assert isinstance(text, str) and len(text.split()) >= 3, f"{cls.__name__}.{f.name}: no help text"


def test_sections_are_the_run_config_layout():
    assert list(SECTIONS) == ["data", "model", "train", "mait", "refine_corpus", "refine", "eval", "vllm", "launch"]
    for name, cls in SECTIONS.items():
        assert cls.SECTION == name and isinstance(getattr(RunConfig(), name), cls)


def test_default_yaml_is_generated_from_the_code():
    assert (ROOT / "configs" / "default.yaml").read_text(encoding="utf-8") == default_yaml(), \
        "configs/default.yaml is stale: python -m toolace_r.config_docs > configs/default.yaml"
    assert load_config(ROOT / "configs" / "default.yaml") == RunConfig()
    assert yaml.safe_load(default_yaml()) == to_dict(RunConfig())
    # every key stands under its own help text
    text = default_yaml()
    for f in dataclasses.fields(MaitConfig):
        above = text.split(f"\n  {f.name}: ")[0].splitlines()[-1]
        assert above.startswith("  # ") and above[4:] in " ".join(f.metadata["help"].split())


def test_reference_markdown_is_current():
    assert (ROOT / "docs" / "config.md").read_text(encoding="utf-8") == reference_markdown(), \
        "docs/config.md is stale: python -m toolace_r.config_docs --markdown > docs/config.md"
    md = reference_markdown()
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert f"| `{name}.{f.name}` |" in md
    assert "| `train.precision` | str | `auto` |" in md


def test_module_prints_the_default_config():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-m", "toolace_r.config_docs"], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out == default_yaml()


def test_config_import_does_not_import_torch():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import sys, toolace_r.config; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]"


def test_shipped_configs_load():
    quick = load_config(ROOT / "configs" / "quick.yaml")
    assert quick.data.synth_n == 900 and quick.eval.modes == ["none", "adaptive", "fixed:2"]
    big = load_config(ROOT / "configs" / "qwen2.5-7b-lora.yaml")
    assert big.model.backend == "vllm" and big.arms == ["mait_refine"] and big.train.lr == 2e-4
    tiny_qwen = load_config(ROOT / "configs" / "tiny-qwen.yaml")
    assert tiny_qwen.model.init == "models/tiny-qwen" and tiny_qwen.model.tool_format == "auto"
    # both real-model recipes keep their LoRA adapters
    assert big.model.lora and not big.model.merge_lora and big.train.save_steps == 100
    assert tiny_qwen.model.lora and not tiny_qwen.model.merge_lora


def test_tool_format_is_checked():
    assert load_config(None, ["model.tool_format=hermes"]).model.tool_format == "hermes"
    with pytest.raises(ConfigError, match=r"model.tool_format: must be one of \('auto', 'pythonic', 'hermes', 'llama3_json'\)"):
        load_config(None, ["model.tool_format=xml"])


def test_overrides_are_typed():
    cfg = load_config(None, ["mait.rounds=3", "mait.policy=progressive", "eval.modes=[none,adaptive]", "train.lr=1e-4"])
    assert cfg.mait.rounds == 3 and cfg.mait.policy == "progressive"
    assert cfg.eval.modes == ["none", "adaptive"] and cfg.train.lr == 1e-4 and isinstance(cfg.train.lr, float)
    # overrides win over the file, keys the file sets and the overrides do not are kept
    cfg = load_config(ROOT / "configs" / "quick.yaml", ["mait.k=3", "arms=plain,mait"])
    assert cfg.mait.k == 3 and cfg.mait.rounds == 2 and cfg.data.synth_n == 900 and cfg.arms == ["plain", "mait"]


@pytest.mark.parametrize("override, words", [
    ("mait.polcy=all", "mait.polcy: unknown key"),
    ("rounds", "override .rounds.: write key=value"),
    ("seed=1.5", "seed: expected an integer"),
    ("arms=[plain,other]", "arms: unknown arm"),
    ("arms=[]", "arms: name at least one arm"),
    ("data=3", "data: expected a mapping"),
    ("data.source=''", "data.source: name 'synth'"),
    ("data.synth_n=10", "data.synth_n: too small"),
    ("data.pool_size=0", "data.pool_size: must be >= 1"),
    ("data.warmup_size=-1", "data.warmup_size: must be >= 0"),
    ("model.init=''", "model.init: name 'embedded'"),
    ("model.size=huge", r"model.size: must be one of \('micro', 'tiny', 'small'\)"),
    ("model.backend=openai", r"model.backend: must be one of \('hf', 'vllm'\)"),
    ("model.lora=maybe", "model.lora: expected true/false"),
    ("model.merge_lora=false", "model.merge_lora: false keeps LoRA adapters, and there are none without model.lora"),
    ("model.lora_r=0", "model.lora_r: must be >= 1"),
    ("model.lora_alpha=0", "model.lora_alpha: must be >= 1"),
    ("model.lora_target_modules=[all-linear,q_proj]", "model.lora_target_modules: all-linear already takes"),
    ("model.lora_target_modules=[]", "model.lora_target_modules: name all-linear or the model's module names"),
    ("model.lora_target_modules={a: 1}", "model.lora_target_modules: expected a list"),
    ("train.max_length=8", "train.max_length: must be >= 16"),
    ("train.gradient_accumulation_steps=0", "train.gradient_accumulation_steps: must be >= 1"),
    ("train.gradient_accumulation_steps=3", r"train.gradient_accumulation_steps: train.batch_size \(16\) is split"),
    ("train.gradient_checkpointing=yes please", "train.gradient_checkpointing: expected true/false"),
    ("train.report_to=[foo]", "train.report_to: unknown integration 'foo'"),
    ("train.report_to=[none,wandb]", "train.report_to: none and all stand alone"),
    ("train.report_to=[]", "train.report_to: name at least one"),
    ("train.save_steps=-1", "train.save_steps: must be >= 0"),
    ("train.lr=abc", "train.lr: expected a number"),
    ("train.lr=0", "train.lr: a learning rate must be > 0"),
    ("train.warmup_lr=-1", "train.warmup_lr: a learning rate must be > 0"),
    ("train.steps_per_round=0", "train.steps_per_round: must be >= 1"),
    ("train.continue_from=x", "train.continue_from: must be one of"),
    ("train.precision=fp16", "train.precision: must be one of"),
    ("model.init=scratch", "train.warmup_steps: model.init=scratch starts from random weights"),
    ("mait.rounds=two", "mait.rounds: expected an integer"),
    ("mait.k=0", "mait.k: must be >= 1"),
    ("mait.policy=greedy", "mait.policy: must be one of"),
    ("mait.temperature=0", "mait.temperature: k > 1 samples at temperature 0"),
    ("mait.top_p=0", r"mait.top_p: must be in \(0, 1\]"),
    ("mait.replay_share=-1", r"mait.replay_share: must be in \[0, 1\]"),
    ("mait.max_new_tokens=0", "mait.max_new_tokens: must be >= 1"),
    ("refine_corpus.ratio=11", r"refine_corpus.ratio: must be in \[0, 10\]"),
    ("refine_corpus.correct_share=2", r"refine_corpus.correct_share: must be in \[0, 1\]"),
    ("refine_corpus.greedy_share=-0.1", r"refine_corpus.greedy_share: must be in \[0, 1\]"),
    ("refine.confirm=nod", r"refine.confirm: must be one of \('repeat', 'token'\)"),
    ("eval.modes=[fixed:0]", "eval.modes: bad refinement mode 'fixed:0'"),
    ("eval.modes=[]", "eval.modes: name at least one mode"),
    ("eval.modes=3", "eval.modes: expected a list"),
    ("eval.max_rounds=0", "eval.modes: adaptive refinement needs max_rounds >= 1"),
    ("eval.max_new_tokens=0", "eval.max_new_tokens: must be >= 1"),
    ("vllm.tensor_parallel_size=0", "vllm.tensor_parallel_size: must be >= 1"),
    ("vllm.gpu_memory_utilization=1.5", r"vllm.gpu_memory_utilization: must be in \(0, 1\]"),
    ("vllm.max_model_len=-1", "vllm.max_model_len: must be >= 0"),
    ("launch.launcher=slurm", "launch.launcher: must be one of"),
    ("launch.num_processes=2", "launch.num_processes: more than one process needs a launcher"),
])
def test_bad_values_name_the_dotted_key(override, words):
    with pytest.raises(ConfigError, match="^" + words):
        load_config(None, [override])


def test_cross_section_checks():
    with pytest.raises(ConfigError, match=r"^train.batch_size: .* launch.num_processes \(3\)"):
        load_config(None, ["launch.launcher=torchrun", "launch.num_processes=3"])
    # 12 splits over 4 processes, and in 2 micro-batches, but not both
    with pytest.raises(ConfigError, match=r"^train.batch_size: each of launch.num_processes \(4\) runs "
                                          r"train.gradient_accumulation_steps \(2\) .* multiple of 8"):
        load_config(None, ["launch.launcher=torchrun", "launch.num_processes=4", "train.batch_size=12",
                           "train.gradient_accumulation_steps=2"])
    assert load_config(None, ["launch.launcher=torchrun", "launch.num_processes=4"]).launch.num_processes == 4
    # a real model may skip the warm-up, and then needs no warm-up set
    cfg = load_config(None, ["model.init=some/model", "train.warmup_steps=0", "data.warmup_size=0"])
    assert cfg.train.warmup_steps == 0


def test_sections_check_themselves_when_built_directly():
    with pytest.raises(ConfigError, match="^mait.k: must be >= 1"):
        MaitConfig(k=0)
    with pytest.raises(ConfigError, match="^launch.num_processes: more than one process"):
        LaunchConfig(num_processes=2)
    assert MaitConfig(temperature=1).temperature == 1.0 and isinstance(MaitConfig(temperature=1).temperature, float)
    cfg = RunConfig()
    cfg.mait.k = 0  # changed in place: validate() checks again
    with pytest.raises(ConfigError, match="^mait.k"):
        cfg.validate()


def test_removed_key_is_explained_in_user_configs(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"refine_corpus": {"enabled": False, "ratio": 1.0}}))
    for args in ((p, None), (None, ["refine_corpus.enabled=true"])):
        with pytest.raises(ConfigError) as e:
            load_config(*args)
        msg = str(e.value)
        assert msg.startswith("refine_corpus.enabled: this key was removed") and "\n" not in msg
        assert "drop mait_refine from arms" in msg


def test_saved_config_with_removed_key_still_loads(tmp_path):
    """--resume on a run folder written before the key was removed."""
    old = to_dict(load_config(None, ["seed=3"]))
    old["refine_corpus"]["enabled"] = True
    cfg = config_from_dict(old)
    assert cfg == load_config(None, ["seed=3"]) and "enabled" not in to_dict(cfg)["refine_corpus"]
    assert old["refine_corpus"]["enabled"] is True  # the caller's dict is left alone


def test_roundtrip_through_dict_and_file(tmp_path):
    cfg = load_config(ROOT / "configs" / "quick.yaml", ["seed=3", "eval.modes=[none,'fixed:2']"])
    assert config_from_dict(to_dict(cfg)) == cfg
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


def test_one_list_each():
    assert set(RUN_BACKENDS) < set(BACKENDS) and RUN_BACKENDS == ("hf", "vllm")
    assert RunConfig().arms == list(ARMS)
    help_of = {f.name: f.metadata["help"] for f in dataclasses.fields(config_mod.ModelConfig)}
    assert "hf | vllm" in help_of["backend"] and "micro | tiny | small" in help_of["size"]


def test_lora_and_trainer_settings_reach_the_sft():
    from toolace_r.pipeline import Run, _sft_settings

    cfg = load_config(None, ["model.lora=true", "model.merge_lora=false", "model.lora_r=8", "model.lora_alpha=16",
                             "model.lora_target_modules=q_proj,v_proj", "train.max_length=512",
                             "train.gradient_accumulation_steps=2", "train.gradient_checkpointing=true",
                             "train.report_to=none", "train.save_steps=25", "launch.launcher=torchrun",
                             "launch.num_processes=2"])
    assert cfg.model.lora_target_modules == ["q_proj", "v_proj"] and cfg.train.report_to == ["none"]
    s = _sft_settings(Run(Path("."), cfg), "mait/r0/train", 10, 1e-4)
    # the global batch of 16: 2 processes x 2 micro-batches of 4
    assert (s.batch_size, s.grad_accum) == (4, 2)
    assert (s.lora, s.merge_lora, s.lora_r, s.lora_alpha) == (True, False, 8, 16)
    assert s.lora_target_modules == ["q_proj", "v_proj"] and s.max_length == 512 and s.gradient_checkpointing
    assert s.report_to == ["none"] and s.save_steps == 25
    # the default: adapters merged after every SFT, as before; no checkpoints
    default = _sft_settings(Run(Path("."), load_config(None, ["model.lora=true"])), "x", 10, 1e-4)
    assert default.merge_lora and default.save_steps == 0 and default.lora_target_modules == ["all-linear"]


def test_report_to_needs_the_integration_installed():
    import importlib.util

    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        assert load_config(None, ["train.report_to=tensorboard"]).train.report_to == ["tensorboard"]
    else:
        with pytest.raises(ConfigError, match="^train.report_to: tensorboard is not installed here: pip install"):
            load_config(None, ["train.report_to=tensorboard"])


def test_sft_settings_reject_bad_values():
    for bad, words in [({"save_steps": -1}, "save_steps must be >= 0"),
                       ({"lora_target_modules": []}, "lora_target_modules: name all-linear"),
                       ({"report_to": ["nope"]}, "report_to: unknown integration"),({"merge_lora": True}, "merge_lora needs lora"), ({"precision": "fp8"}, "precision"),
                       ({"lr": 0.0}, "lr must be > 0"), ({"warmup_ratio": 5.0}, "warmup_ratio"),
                       ({"lora_r": 0}, "lora_r"), ({"epochs": 0, "max_steps": -1}, "epochs > 0"),
                       ({"grad_accum": 0}, "grad_accum")]:
        with pytest.raises(ValueError, match=words):
            SFTSettings(**bad)
    assert SFTSettings(lora=True, merge_lora=True, lr=1e-4).lr == 1e-4
