"""Strict JSON for untrusted input: what Python's json accepts but JSON does not, nesting bombs,
invalid UTF-8 and over-long lines, each one error in words; JSON lines read line by line."""

from __future__ import annotations

import json

import pytest

from toolace_r import jsonin
from toolace_r.jsonin import JsonInputError, Line, iter_lines, loads


@pytest.mark.parametrize(("text", "needle"), [
    ("[1, NaN]", "NaN is not valid JSON"),
    ("-Infinity", "-Infinity is not valid JSON"),
    ("1e999", "the number 1e999 is too large for a float"),
    ("[" * 100_000, "nested deeper than 128 levels"),
    ("[" * 129 + "]" * 129, "nested deeper than 128 levels"),
    ('{"a": "\\udc80"}', "lone UTF-16 surrogate"),
    ('{"\\ud800": 1}', "lone UTF-16 surrogate"),
    ("1" * 5000, "an integer with more than 4300 digits"),
    ('{"a": ', "invalid JSON: Expecting value (column 7)"),
    (b'"\xff"', "invalid UTF-8: byte 0xff"),
])
def test_loads_refuses_with_a_reason(text, needle):
    with pytest.raises(JsonInputError) as e:
        loads(text)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_loads_accepts_what_json_allows():
    assert loads("[" * 128 + "]" * 128) is not None
    assert loads('"\\ud83d\\ude00"') == "\U0001f600"  # an escaped surrogate pair is one character
    assert loads('{"a": [1, 2.5, -0.0, null, true, "x"]}') == {"a": [1, 2.5, -0.0, None, True, "x"]}


def test_raw_decode_skips_a_refused_value_and_knows_its_end():
    text = '[{"a": NaN}, {"a": 1}]'
    value, end, error = jsonin.raw_decode(text, 1)
    assert value is None and "NaN is not valid JSON" in error and text[end] == ","
    assert jsonin.raw_decode(text, end + 2) == ({"a": 1}, len(text) - 1, None)


def test_iter_lines_streams_every_line_to_a_value_or_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonin, "MAX_LINE_BYTES", 64)
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n' + b'"' + b"x" * 500 + b'"\n{"a": NaN}\n\xff\n{"a": 2}')
    assert list(iter_lines(p)) == [
        Line(1, {"a": 1}),
        Line(4, error="line longer than 64 bytes"),
        Line(5, error="NaN is not valid JSON (JSON has no NaN or Infinity; write null or a number)"),
        Line(6, error="invalid UTF-8: byte 0xff at byte 1 of the line (save the file as UTF-8)"),
        Line(7, {"a": 2}),  # the last line needs no newline
    ]


def test_iter_lines_takes_a_line_of_exactly_the_limit(tmp_path):
    line = json.dumps("y" * 90).encode()
    p = tmp_path / "b.jsonl"
    p.write_bytes(line + b"\n" + line)
    assert [x.value for x in iter_lines(p, max_bytes=len(line))] == ["y" * 90] * 2
    assert [x.error for x in iter_lines(p, max_bytes=len(line) - 1)] == [f"line longer than {len(line) - 1} bytes"] * 2
