#!/usr/bin/env python
"""Coverage-guided fuzzing of the call parser and the checker with atheris (libFuzzer).

Every input is fed, as text, to ``decode_bfcl``, ``parse_calls`` and ``check`` (both modes,
five categories, against a fixed function doc and gold answer), and what parses is formatted and
parsed again. The only allowed outcomes are a result or a ``DecodeError`` from ``decode_bfcl``;
any other exception, or a formatted answer that does not parse back to the same calls, is a
crash that libFuzzer reports with the input that caused it.

atheris is not a dependency of the project; use a separate environment::

    python3 -m venv /tmp/fuzz-env && /tmp/fuzz-env/bin/pip install atheris
    PYTHONPATH=src /tmp/fuzz-env/bin/python benchmarks/fuzz_calls.py -max_total_time=300 \\
        -rss_limit_mb=2048 -max_len=4096 /tmp/fuzz-corpus

(libFuzzer flags after the script; the corpus folder is created and grown as it runs.)
"""

from __future__ import annotations

import os
import sys

import atheris

with atheris.instrument_imports():
    from toolace_r.calls import DecodeError, calls_equal, decode_bfcl, format_calls, parse_calls
    from toolace_r.checker import check

FUNCTIONS = [
    {"name": "get_weather", "description": "weather", "parameters": {"type": "dict", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string", "enum": ["c", "f"]},
        "coords": {"type": "tuple", "items": {"type": "float"}}, "opts": {"type": "dict"},
        "tags": {"type": "array", "items": {"type": "string"}}, "ratio": {"type": "float"},
        "flag": {"type": "boolean"}, "any": {"type": "any"}}, "required": ["city"]}},
    {"name": "math.add", "description": "add", "parameters": {"type": "dict", "properties": {
        "a": {"type": "integer"}, "b": {"type": "number"}}, "required": ["a", "b"]}},
]
GOLD = [{"get_weather": {"city": ["Paris", "paris, france"], "days": [3, ""], "unit": ["c", ""],
                         "coords": [[1.0, 2.0], ""], "opts": [{"k": ["v"]}, ""], "tags": [["a", "b"], ""],
                         "ratio": [0.5, ""], "flag": [True, ""], "any": ["", 1]}}]
GOLD_PARALLEL = GOLD + [{"math.add": {"a": [1], "b": [2.0, 2]}}]
CATEGORIES = [("simple_python", GOLD), ("multiple", GOLD), ("parallel", GOLD_PARALLEL),
              ("irrelevance", None), ("live_relevance", None)]
SEEDS = [
    "[get_weather(city='Paris', days=3, unit='c')]",
    "[get_weather(city=\"paris, france\", coords=(1.0, 2.0), opts={'k': 'v'}, tags=['a', 'b']), math.add(a=1, b=2)]",
    '[{"name": "math.add", "arguments": {"a": 1, "b": 2}}]',
    '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call>',
    "```python\n[get_weather(city='It\\'s', ratio=-0.5, flag=True, any=None)]\n```",
    "I cannot help with that.",
]


def _has_nan(v) -> bool:
    if isinstance(v, float):
        return v != v
    if isinstance(v, dict):
        return any(_has_nan(k) or _has_nan(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return any(_has_nan(x) for x in v)
    return False


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    try:
        decode_bfcl(text)
    except DecodeError:
        pass
    r = parse_calls(text)
    if r.status == "calls" and not _has_nan([c.arguments for c in r.calls]):  # NaN != NaN: no equality to keep
        again = parse_calls(format_calls(r.calls))
        if again.status != "calls" or not calls_equal(again.calls, r.calls):
            raise AssertionError(f"format/parse round trip changed {r.calls!r} into {again.calls!r}")
    for category, gold in CATEGORIES:
        for mode in ("bfcl", "strict"):
            v = check(text, FUNCTIONS, gold, category, mode=mode)
            if not isinstance(v.valid, bool) or (v.valid and v.error_type):
                raise AssertionError(f"inconsistent verdict {v!r}")


def main() -> None:
    argv = list(sys.argv)
    corpus = next((a for a in argv[1:] if not a.startswith("-")), None)
    if corpus and not os.path.isfile(corpus):  # a file argument is a crash input to replay
        os.makedirs(corpus, exist_ok=True)
        for i, s in enumerate(SEEDS):
            path = os.path.join(corpus, f"seed-{i}")
            if not os.path.exists(path):
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(s)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
