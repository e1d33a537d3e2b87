"""Lenient parsing of every call format models emit, and equality of two raw answers.

:func:`parse_calls` reads code fences, the Python-call list (through
:func:`toolace_r.calls.decode_bfcl`), JSON ``[{"name", "arguments"}]``, Llama 3's
``{"name", "parameters"}`` objects (joined by ``;``, after an optional ``<|python_tag|>``) and
``<tool_call>{...}</tool_call>`` blocks, after a leading ``<think>...</think>`` block, and tells
plain text (a deliberate "no call") from malformed call attempts. :func:`answers_equal` compares
two raw answers through it.
"""

from __future__ import annotations

import json
import re

from toolace_r.calls.decode import decode_bfcl
from toolace_r.calls.format import calls_equal
from toolace_r.calls.native import strip_reasoning
from toolace_r.calls.calltypes import MAX_CALLS, MAX_INPUT_CHARS, Call, DecodeError, ParseResult, Status

_FENCE_RE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_CALL_START_RE = re.compile(r"^\s*[A-Za-z_][\w.]*\s*\(")
_PYTHON_TAG = "<|python_tag|>"


def parse_calls(text: object) -> ParseResult:
    """Parse model text into calls; never raises.

    Accepted: the Python-call list (``[f(a=1), g.h(b=[1, 2])]``, brackets optional), JSON
    ``[{"name": ..., "arguments": {...} or "<json>"}]`` (or one such object, or several joined
    by ``;``, ``"parameters"`` for ``"arguments"``), ``<tool_call>{...}</tool_call>`` blocks, and
    any of these inside a code fence or after a ``<think>`` block. Anything else is plain text
    ("no call") when it does not look like a call attempt, else malformed.
    """
    if not isinstance(text, str):
        return ParseResult([], "malformed", error=f"parse:not_text: got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        return ParseResult([], "malformed", error=f"parse:too_long: {len(text)} characters")
    s = strip_reasoning(text).strip()
    if s.startswith(_PYTHON_TAG):  # Llama 3 may open a call with it
        s = s[len(_PYTHON_TAG):].strip()
    if not s:
        return ParseResult([], "text")
    fence = _FENCE_RE.search(s)
    if fence:
        s = fence.group(1).strip()
        if not s:
            return ParseResult([], "text")

    # a call list may carry the text "<tool_call>" inside a string argument
    if "<tool_call>" in s and s[0] not in "[{":
        return _parse_tool_call_blocks(s)

    if s[0] in "[{":
        parsed = _parse_json_calls(s)
        if parsed is not None:
            return parsed

    try:
        calls = decode_bfcl(s)
    except DecodeError as e:
        if "<tool_call>" in s:
            return _parse_tool_call_blocks(s)
        status: Status = "malformed" if _looks_like_call(s) else "text"
        return ParseResult([], status, error=f"ast_decoder:{e.kind}: {e}" if status == "malformed" else "")
    if not all(c.name for c in calls):  # e.g. ``[f(a)(b=1)]``: BFCL decodes it, but nothing is called
        return ParseResult([], "malformed", error="ast_decoder:no_name: a call without a function name")
    return ParseResult(calls, "calls", "python")


def _looks_like_call(s: str) -> bool:
    return s[0] in "[{" or bool(_CALL_START_RE.match(s))


def _parse_tool_call_blocks(s: str) -> ParseResult:
    blocks = _TOOL_CALL_RE.findall(s)
    if not blocks:
        return ParseResult([], "malformed", "tool_call", "tool_call:unclosed: <tool_call> without </tool_call>")
    calls = []
    for i, block in enumerate(blocks[:MAX_CALLS]):
        try:
            obj = json.loads(block.strip())
        except (ValueError, RecursionError) as e:
            return ParseResult([], "malformed", "tool_call", f"tool_call:bad_json: block {i}: {e}")
        call = _json_call(obj)
        if call is None:
            return ParseResult([], "malformed", "tool_call", f"tool_call:bad_shape: block {i} is not {{name, arguments}}")
        calls.append(call)
    return ParseResult(calls, "calls", "tool_call")


def _parse_json_calls(s: str) -> ParseResult | None:
    """JSON calls, or None when the text is not JSON (the Python decoder gets a try)."""
    try:
        obj = json.loads(s)
    except (ValueError, RecursionError):
        obj = _json_sequence(s)
        if obj is None:
            return None
    items = obj if isinstance(obj, list) else [obj]
    if isinstance(obj, list) and not obj:
        return ParseResult([], "calls", "json")
    if len(items) > MAX_CALLS:
        return ParseResult([], "malformed", "json", "json:too_many_calls")
    calls = [_json_call(it) for it in items]
    if any(c is None for c in calls):
        return None
    return ParseResult(calls, "calls", "json")  # type: ignore[arg-type]


def _json_sequence(s: str) -> list[object] | None:
    """JSON objects joined by ``;`` (how Llama 3 writes parallel calls), or None."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(s):
        if len(out) > MAX_CALLS:
            return None
        try:
            obj, i = decoder.raw_decode(s, i)
        except (ValueError, RecursionError):
            return None
        out.append(obj)
        rest = s[i:].lstrip()
        if rest.startswith(";"):
            rest = rest[1:].lstrip()
        elif rest:
            return None
        i = len(s) - len(rest)
    return out if len(out) > 1 else None


def _json_call(obj: object) -> Call | None:
    if not isinstance(obj, dict):
        return None
    if "function" in obj and isinstance(obj["function"], dict):  # OpenAI tool_calls entry
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except (ValueError, RecursionError):
            return None
    if not isinstance(args, dict):
        return None
    return Call(name, args)


def answers_equal(text_a: str, text_b: str) -> bool:
    """Canonical equality of two raw answers: equal calls, or both the same plain text."""
    pa, pb = parse_calls(text_a), parse_calls(text_b)
    if pa.status == "calls" and pb.status == "calls":
        return calls_equal(pa.calls, pb.calls)
    if pa.status != "calls" and pb.status != "calls":
        return " ".join(text_a.split()) == " ".join(text_b.split())
    return False
