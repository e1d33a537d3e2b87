"""Test data for the evaluation tests (imported by conftest.py and the tests): a small BFCL v4
data set (question and possible-answer files for several categories) and samples in our format.
Kept out of conftest.py so that tests can import it by a unique module name."""

from __future__ import annotations

import json
from pathlib import Path

# BFCL-style function docs: "dict" objects, "float" numbers, as in the real data.
AREA = {"name": "calc_area", "description": "Area of a triangle.",
        "parameters": {"type": "dict", "properties": {"base": {"type": "integer", "description": "Base"},
                                                      "height": {"type": "integer", "description": "Height"},
                                                      "unit": {"type": "string", "description": "Unit"}},
                       "required": ["base", "height"]}}
WEATHER = {"name": "weather.get", "description": "Weather in a city.",
           "parameters": {"type": "dict", "properties": {"city": {"type": "string", "description": "City"},
                                                         "days": {"type": "integer", "description": "Days"}},
                          "required": ["city"]}}
PRICE = {"name": "stock_price", "description": "Price of a stock.",
         "parameters": {"type": "dict", "properties": {"ticker": {"type": "string", "description": "Ticker"},
                                                       "ratio": {"type": "float", "description": "Ratio"}},
                        "required": ["ticker"]}}


def _q(text: str, system: str | None = None) -> list:
    turn = [{"role": "system", "content": system}] if system else []
    return [turn + [{"role": "user", "content": text}]]


# category -> [(entry, ground truth or None)]
BFCL_ENTRIES = {
    "simple_python": [
        ({"id": "simple_python_0", "question": _q("Area of a triangle with base 10 and height 5?"), "function": [AREA]},
         [{"calc_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]),
        ({"id": "simple_python_1", "question": _q("Triangle area, base 3, height 4."), "function": [AREA]},
         [{"calc_area": {"base": [3], "height": [4], "unit": [""]}}]),
    ],
    "multiple": [
        ({"id": "multiple_0", "question": _q("Weather in Paris for 3 days?"), "function": [AREA, WEATHER]},
         [{"weather.get": {"city": ["Paris"], "days": [3]}}]),
        ({"id": "multiple_1", "question": _q("Price of AAPL?"), "function": [WEATHER, PRICE]},
         [{"stock_price": {"ticker": ["AAPL"], "ratio": [""]}}]),
    ],
    "parallel": [
        ({"id": "parallel_0", "question": _q("Weather in Rome and in Oslo."), "function": [WEATHER]},
         [{"weather.get": {"city": ["Rome"], "days": [""]}}, {"weather.get": {"city": ["Oslo"], "days": [""]}}]),
    ],
    "irrelevance": [
        ({"id": "irrelevance_0", "question": _q("Tell me a joke."), "function": [AREA]}, None),
        ({"id": "irrelevance_1", "question": _q("Who wrote Hamlet?"), "function": [PRICE]}, None),
    ],
    "live_simple": [
        ({"id": "live_simple_0-0-0", "question": _q("weather in Lima pls", system="You are helpful."), "function": [WEATHER]},
         [{"weather.get": {"city": ["Lima"], "days": [""]}}]),
        ({"id": "live_simple_1-1-0", "question": _q("GOOG price with ratio 0.5"), "function": [PRICE]},
         [{"stock_price": {"ticker": ["GOOG"], "ratio": [0.5]}}]),
    ],
    "live_irrelevance": [
        ({"id": "live_irrelevance_0-0-0", "question": _q("hello there"), "function": [WEATHER]}, None),
    ],
    "live_relevance": [
        ({"id": "live_relevance_0-0-0", "question": _q("Is it raining in Bern?"), "function": [WEATHER]}, None),
    ],
}
N_BFCL = sum(len(v) for v in BFCL_ENTRIES.values())


# A stand-in for bfcl-eval's constants/model_config.py (written for these tests): the shape
# toolace_r.bfcl_results reads, a dict of name -> ModelConfig(..., is_fc_model=...).
MODEL_CONFIG_PY = """
from dataclasses import dataclass


@dataclass
class ModelConfig:
    model_name: str
    model_handler: object = None
    is_fc_model: bool = True


local_inference_model_map = {
    "acme/micro-tool": ModelConfig(model_name="acme/micro-tool", model_handler=PromptHandler, is_fc_model=False),
    "acme/micro-tool-FC": ModelConfig(model_name="acme/micro-tool", model_handler=FcHandler, is_fc_model=True),
    "acme/fc-only": ModelConfig(model_name="acme/fc-only", model_handler=FcHandler),
}
"""
PROMPT_MODEL = "acme/micro-tool"


def write_bfcl_data(data_dir: Path) -> Path:
    """BFCL's data-folder layout: BFCL_v4_<cat>.json and possible_answer/BFCL_v4_<cat>.json (JSON Lines)."""
    (data_dir / "possible_answer").mkdir(parents=True, exist_ok=True)
    for cat, pairs in BFCL_ENTRIES.items():
        (data_dir / f"BFCL_v4_{cat}.json").write_text("".join(json.dumps(e) + "\n" for e, _ in pairs))
        if pairs[0][1] is not None:
            (data_dir / "possible_answer" / f"BFCL_v4_{cat}.json").write_text(
                "".join(json.dumps({"id": e["id"], "ground_truth": gt}) + "\n" for e, gt in pairs))
    return data_dir


JSON_WEATHER = {"name": "get_weather", "description": "Weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
JSON_TIME = {"name": "get_time", "description": "Time in a zone.",
             "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}


def make_samples() -> list[dict]:
    out = []
    for i, city in enumerate(["Paris", "Rome", "Oslo", "Lima"]):
        out.append({"id": f"s-{i}", "category": "simple", "tools": [JSON_WEATHER],
                    "messages": [{"role": "user", "content": f"Weather in {city}?"}],
                    "answer": [{"get_weather": {"city": [city]}}],
                    "meta": {"unseen_tool": False, "unseen_template": i >= 2}})
    out.append({"id": "m-0", "category": "multiple", "tools": [JSON_WEATHER, JSON_TIME],
                "messages": [{"role": "user", "content": "Time in CET?"}],
                "answer": [{"get_time": {"tz": ["CET"]}}], "meta": {"unseen_tool": True, "unseen_template": False}})
    out.append({"id": "i-0", "category": "irrelevance", "tools": [JSON_TIME],
                "messages": [{"role": "user", "content": "Sing a song."}], "answer": [],
                "meta": {"unseen_tool": False, "unseen_template": False}})
    return out
