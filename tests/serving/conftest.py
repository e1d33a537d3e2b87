"""Fixtures for the serving tests: the tiny embedded model of tests/models, untrained and after a
short SFT that makes it answer the fixture requests, and a server over the trained one."""

from __future__ import annotations

import pytest
from servefixtures import TINY, make_samples, serve_model


@pytest.fixture(scope="session")
def samples():
    return make_samples()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, samples):
    from toolace_r.models.embedded import init_model

    out = tmp_path_factory.mktemp("serve_tiny")
    init_model(samples * 4, out, size="tiny", seed=0, overrides=TINY)
    return out


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory, tiny_model_dir, samples):
    """SFT on the fixture samples and on refinement examples that repeat a correct answer."""
    from toolace_r.models.prompting import load_prompt_config, refine_messages, target_text
    from toolace_r.models.sft import SFTSettings, train_sft

    cfg = load_prompt_config(tiny_model_dir)
    refine_examples = []
    for s in samples:
        messages, tools = refine_messages(s, target_text(s), cfg)
        refine_examples.append({"messages": messages, "tools": tools, "target": target_text(s)})
    out = tmp_path_factory.mktemp("serve_trained")
    examples = [*samples, *refine_examples]
    train_sft(tiny_model_dir, examples, out,
              SFTSettings(max_steps=120, batch_size=len(examples), lr=1e-2, warmup_ratio=0.0, logging_steps=40,
                          progress=False, plot=False, seed=0))
    return out


@pytest.fixture(scope="session")
def server(trained_model_dir):
    """The trained tiny model served with the defaults (adaptive refinement, no API key)."""
    with serve_model(trained_model_dir) as url:
        yield url
