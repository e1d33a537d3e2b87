"""The quick config's corpus holds multi_step samples (a call that reads an earlier tool
result), and their prompts carry the earlier call and the tool result, in the embedded model's
format and through a real chat template (Qwen2.5's, hermes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolace_r.config import load_config
from toolace_r.data.synth import parse_shares, synthesize
from toolace_r.models import prompting

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_steps():
    """The quick run's corpus, as its data stage writes it; its multi_step samples of the MAIT pool."""
    cfg = load_config(ROOT / "configs" / "quick.yaml")
    data = synthesize(cfg.data.synth_n, cfg.seed, parse_shares(cfg.data.synth_shares) or None)
    assert all(any(s.category == "multi_step" for s in data[split]) for split in ("train", "dev", "test"))
    pool = data["train"][:cfg.data.pool_size]
    steps = [s for s in pool if s.category == "multi_step"]
    assert len(steps) >= 10, len(steps)
    return steps


def _result_id(s) -> str:
    """The id the target takes from the tool result (the request never says it)."""
    (call,) = s.gold_calls()
    result = s.messages[-1].content
    (value,) = [v for v in call.arguments.values() if isinstance(v, str) and v in result and v not in s.messages[0].content]
    return value


def _check_prompt(tok, cfg, s):
    messages, tools = prompting.build_messages(s, cfg)
    text = prompting.render_prompt(tok, messages, tools)
    found = s.messages[1].tool_calls[0]
    assert s.messages[2].content in text or all(str(v) in text for v in _flat(json.loads(s.messages[2].content)))
    assert _result_id(s) in text and found.name in text
    assert all(str(v) in text for v in found.arguments.values())  # the earlier call, as history
    assert _result_id(s) in prompting.target_text(s, cfg)  # and the target copies the id
    return text


def _flat(obj):
    if isinstance(obj, list):
        return [v for it in obj for v in _flat(it)]
    if isinstance(obj, dict):
        return [v for it in obj.values() for v in _flat(it)]
    return [obj]


def test_embedded_model_prompt_holds_the_tool_result(quick_steps):
    from transformers import AutoTokenizer

    from toolace_r.models.base import BASE_DIR, base_available

    if not base_available():
        pytest.skip("the embedded base model is not in the package")
    tok = AutoTokenizer.from_pretrained(str(BASE_DIR))
    cfg = prompting.load_prompt_config(BASE_DIR)
    for s in quick_steps:
        _check_prompt(tok, cfg, s)


def test_real_chat_template_prompt_holds_the_tool_result(quick_steps, tiny_qwen):
    from transformers import AutoTokenizer

    folder, _ = tiny_qwen
    tok = AutoTokenizer.from_pretrained(str(folder))
    cfg = prompting.load_prompt_config(folder)
    assert cfg.tool_format == "hermes"
    for s in quick_steps:
        text = _check_prompt(tok, cfg, s)
        # the template's own markers: the earlier call as a tool call, the result as a tool response
        assert "<tool_call>" in text and "<tool_response>" in text
