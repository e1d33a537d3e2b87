"""Fixtures for the serving tests: the fixture samples and tiny embedded model of tests/models
(the same fixtures, reused), the model after a short SFT on the samples and on refinement examples
(so that it answers the fixture requests and repeats a right answer when asked to check it, once or
twice: rounds continue the conversation), and a server over that trained model."""

from __future__ import annotations

import pytest
from servefixtures import models_conftest, serve_model
from workers import shared_dir

samples = models_conftest.samples
tiny_model_dir = models_conftest.tiny_model_dir


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory, tiny_model_dir, samples):
    from toolace_r.models.prompting import load_prompt_config, refine_messages, target_text
    from toolace_r.models.sft import SFTSettings, train_sft

    cfg = load_prompt_config(tiny_model_dir)
    refine_examples = []
    for s in samples:
        for depth in (1, 2):  # round 1 and round 2 of a refinement (fixed:2)
            messages, tools = refine_messages(s, [target_text(s)] * depth, cfg)
            refine_examples.append({"messages": messages, "tools": tools, "target": target_text(s)})
    examples = [*samples, *refine_examples]

    def build(out):
        train_sft(tiny_model_dir, examples, out,
                  SFTSettings(max_steps=120, batch_size=len(examples), lr=1e-2, warmup_ratio=0.0, logging_steps=40,
                              progress=False, plot=False, seed=0, precision="fp32"))

    return shared_dir(tmp_path_factory, "serve_trained", build)


@pytest.fixture(scope="session")
def server(trained_model_dir):
    """The trained tiny model served with the defaults (adaptive refinement, no API key)."""
    with serve_model(trained_model_dir) as url:
        yield url
