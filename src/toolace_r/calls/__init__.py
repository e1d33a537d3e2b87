"""Tool calls: parse model text into calls, format calls back, compare two answers.

Model output is untrusted. Everything here uses :mod:`ast` / :mod:`json` only (never
``eval``), is bounded in input length and nesting depth, and never raises on any input:
parsing returns calls or a typed failure.

Two decoders live here:

* :func:`decode_bfcl` reproduces BFCL's prompt-mode decoder for the Python-call format
  (``[f(a=1), g.h(b="x")]``) value for value, so that the checker's ``bfcl`` mode gives the
  official verdicts. Where BFCL evaluates arithmetic with ``eval``, we fold constants with a
  small bounded evaluator instead.
* :func:`parse_calls` is the lenient parser used everywhere else: code fences, the
  Python-call list, JSON ``[{"name", "arguments"}]`` and ``<tool_call>{...}</tool_call>``
  blocks. It tells plain text (a deliberate "no call") from malformed call attempts.

Modules (each imports only those above it): :mod:`~toolace_r.calls.calltypes` (Call, ParseResult,
DecodeError, size limits); :mod:`~toolace_r.calls.fold` (bounded constant folding);
:mod:`~toolace_r.calls.tokens` and :mod:`~toolace_r.calls.scanner` (a fast path for
:func:`decode_bfcl` that exists only for speed); :mod:`~toolace_r.calls.decode` (the ``ast``
decoder); :mod:`~toolace_r.calls.format` (formatting, canonical equality of calls);
:mod:`~toolace_r.calls.native` (the ``pythonic`` / ``hermes`` / ``llama3_json`` formats of real chat
templates); :mod:`~toolace_r.calls.parse` (:func:`parse_calls`, :func:`answers_equal`).
"""

from toolace_r.calls.decode import _decode_bfcl, decode_bfcl
from toolace_r.calls.format import as_call, call_key, calls_equal, format_call, format_calls, format_value
from toolace_r.calls.native import TOOL_FORMATS, detect_tool_format, format_answer, strip_reasoning, tool_calls
from toolace_r.calls.parse import answers_equal, parse_calls
from toolace_r.calls.calltypes import MAX_CALLS, MAX_DEPTH, MAX_INPUT_CHARS, Call, CallLike, DecodeError, ParseResult, Status

__all__ = [
    "MAX_CALLS",
    "MAX_DEPTH",
    "MAX_INPUT_CHARS",
    "Call",
    "CallLike",
    "DecodeError",
    "ParseResult",
    "Status",
    "TOOL_FORMATS",
    "answers_equal",
    "as_call",
    "call_key",
    "calls_equal",
    "decode_bfcl",
    "detect_tool_format",
    "format_answer",
    "format_call",
    "format_calls",
    "format_value",
    "parse_calls",
    "strip_reasoning",
    "tool_calls",
]
