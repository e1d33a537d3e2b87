"""Shared fixtures: a handful of real samples and a tiny embedded model built from them."""

from __future__ import annotations

import pytest

from workers import shared_dir

from toolace_r.data.schema import Sample

# Small enough to train in seconds on 2 CPU cores, big enough to memorise a few answers.
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=512, vocab_size=400)

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time in a time zone.",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
}
BOOK = {
    "name": "book_table",
    "description": "Book a restaurant table.",
    "parameters": {
        "type": "object",
        "properties": {
            "restaurant": {"type": "string"},
            "people": {"type": "integer"},
            "options": {"type": "object", "properties": {"terrace": {"type": "boolean"}}, "required": ["terrace"]},
        },
        "required": ["restaurant", "people"],
    },
}


def make_samples() -> list[Sample]:
    out = []
    for i, city in enumerate(["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Quito"]):
        out.append(Sample(
            id=f"simple-{i}", category="simple", tools=[WEATHER],
            messages=[{"role": "user", "content": f"What is the weather in {city}?"}],
            answer=[{"get_weather": {"city": [city], "unit": ["celsius", ""]}}],
        ))
    out.append(Sample(
        id="multiple-0", category="multiple", tools=[WEATHER, TIME],
        messages=[{"role": "user", "content": "What time is it in CET?"}],
        answer=[{"get_time": {"tz": ["CET"]}}],
    ))
    out.append(Sample(
        id="parallel-0", category="parallel_multiple", tools=[WEATHER, TIME, BOOK],
        messages=[{"role": "user", "content": "Weather in Bern and a table for 2 at Luigi's on the terrace."}],
        answer=[{"get_weather": {"city": ["Bern"]}},
                {"book_table": {"restaurant": ["Luigi's"], "people": [2], "options": [{"terrace": True}]}}],
    ))
    out.append(Sample(
        id="irrelevance-0", category="irrelevance", tools=[TIME],
        messages=[{"role": "user", "content": "Tell me a joke about cats."}],
        answer=[],
    ))
    out.append(Sample(
        id="multi_turn-0", category="multi_turn", tools=[WEATHER],
        messages=[
            {"role": "system", "content": "You are a weather bot."},
            {"role": "user", "content": "Weather in Nice?"},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Nice"}}]},
            {"role": "tool", "name": "get_weather", "content": '{"temp": 21}'},
        ],
        text="It is 21 degrees in Nice.",
    ))
    return out


@pytest.fixture(scope="session")
def samples() -> list[Sample]:
    return make_samples()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, samples):
    from toolace_r.models.embedded import init_model

    out = tmp_path_factory.mktemp("tiny")
    init_model(samples * 4, out, size="tiny", seed=0, overrides=TINY)
    return out


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory, tiny_model_dir, samples):
    """The tiny model after enough SFT steps to memorise the fixture answers."""
    from toolace_r.models.sft import SFTSettings, train_sft

    def build(out):
        metrics = train_sft(
            tiny_model_dir, samples, out,
            # fp32: the same model on every CPU (auto would pick bf16 autocast where the CPU has it)
            SFTSettings(max_steps=120, batch_size=len(samples), lr=1e-2, warmup_ratio=0.0, logging_steps=10,
                        progress=False, plot=True, seed=0, precision="fp32"),
        )
        assert metrics["steps"] == 120

    return shared_dir(tmp_path_factory, "trained", build)


@pytest.fixture(scope="session")
def real_vocab():
    """``load(name)``: a real vocabulary (``qwen2``, ``llama-bpe``) from the llama-cpp-python sdist,
    loaded once per session (10-20 s each); the tests using it skip only when the sdist can be
    neither found in the cache nor downloaded."""
    from toolace_r.models import realvocab

    loaded: dict = {}

    def load(name: str):
        if name not in loaded:
            try:
                realvocab.fetch([name])
            except realvocab.VocabUnavailable as e:
                pytest.skip(f"real vocabularies unavailable: {e}")
            loaded[name] = realvocab.load_vocab(name)
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory):
    """(folder, info): ``toolace-r model tiny`` with the real Qwen2.5 vocabulary and chat template
    (hermes format), made once per session (about 30 s)."""
    import json

    from typer.testing import CliRunner

    from toolace_r.cli import app
    from toolace_r.models import realvocab

    try:  # fetched only (loading is model tiny's work)
        realvocab.fetch(["qwen2"])
    except realvocab.VocabUnavailable as e:
        pytest.skip(f"real vocabularies unavailable: {e}")
    out = tmp_path_factory.mktemp("tiny-qwen")
    res = CliRunner().invoke(app, ["model", "tiny", "--vocab", "qwen2", "--chat-template", "qwen2.5",
                                   "--arch", "qwen2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, json.loads(res.stdout)
