"""The public Python API: `from toolace_r import ...`, resolved lazily."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import toolace_r

WEATHER = {"name": "get_weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}},
                                                  "required": ["city"]}}


@pytest.mark.parametrize("name", [n for n in toolace_r.__all__ if n != "__version__"])
def test_each_public_name_imports_and_is_the_library_function(name: str):
    namespace: dict[str, object] = {}
    exec(f"from toolace_r import {name}", namespace)  # the statement users write
    obj = namespace[name]
    assert callable(obj)
    assert obj is getattr(importlib.import_module(toolace_r._API[name]), name)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        toolace_r.no_such_thing  # noqa: B018
    with pytest.raises(ImportError):
        exec("from toolace_r import no_such_thing", {})


def test_import_toolace_r_stays_light():
    code = "import json, sys, toolace_r; print(json.dumps(sorted(m for m in sys.modules if m.startswith(('toolace_r', 'pydantic', 'torch')))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["toolace_r"]


def test_api_scores_and_converts(tmp_path: Path):
    from toolace_r import check, convert, parse_calls, read_samples, score_answer, write_samples

    assert parse_calls('[get_weather(city="Paris")]').status == "calls"
    gold = [{"get_weather": {"city": ["Paris"]}}]
    assert check('[get_weather(city="Paris")]', [WEATHER], gold, "simple_python").valid
    assert not check('[get_weather(city="Rome")]', [WEATHER], gold, "simple_python").valid

    src = tmp_path / "xlam.jsonl"
    src.write_text(json.dumps({"query": "Weather in Paris?", "tools": json.dumps([WEATHER]),
                               "answers": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}])}) + "\n")
    samples = convert("xlam", str(src))
    assert len(samples) == 1
    out = tmp_path / "samples.jsonl"
    write_samples(out, samples)
    back = read_samples(out)
    assert back == samples
    assert score_answer(back[0], '[get_weather(city="Paris")]')
    assert not score_answer(back[0], "[get_weather(city=")
