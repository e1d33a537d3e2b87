"""Run configuration: YAML + overrides, typed, validated with explanations."""

from pathlib import Path

import pytest
import yaml

from toolace_r.config import ConfigError, RunConfig, load_config, to_dict

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_equals_code_defaults():
    assert load_config(ROOT / "configs" / "default.yaml") == RunConfig().validate()


def test_quick_yaml_loads():
    cfg = load_config(ROOT / "configs" / "quick.yaml")
    assert cfg.data.synth_n < RunConfig().data.synth_n


def test_overrides_are_typed():
    cfg = load_config(None, ["mait.rounds=3", "mait.policy=progressive", "eval.modes=[none,adaptive]", "train.lr=1e-4"])
    assert cfg.mait.rounds == 3 and cfg.mait.policy == "progressive"
    assert cfg.eval.modes == ["none", "adaptive"] and cfg.train.lr == 1e-4


@pytest.mark.parametrize("override, words", [
    ("mait.polcy=all", "unknown key"),
    ("mait.rounds=two", "expected an integer"),
    ("mait.policy=greedy", "must be one of"),
    ("mait.temperature=0", "temperature"),
    ("eval.modes=[fixed:0]", "fixed:N"),
    ("arms=[plain,other]", "unknown arm"),
    ("rounds", "key=value"),
])
def test_bad_overrides_explain(override, words):
    with pytest.raises(ConfigError, match=words):
        load_config(None, [override])


def test_invalid_combination_refine_arm_without_corpus(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"refine_corpus": {"enabled": False}}))
    with pytest.raises(ConfigError, match="mait_refine"):
        load_config(p)
    p.write_text(yaml.safe_dump({"refine_corpus": {"enabled": False}, "arms": ["plain", "mait"]}))
    assert load_config(p).arms == ["plain", "mait"]


def test_roundtrip_through_dict():
    from toolace_r.config import config_from_dict

    cfg = load_config(None, ["seed=3"])
    assert config_from_dict(to_dict(cfg)) == cfg
