"""The tool-call formats of real chat models, and how to tell which one a chat template speaks.

A model answers calls in the format its chat template writes (method notes, section 2):

* ``pythonic``: a Python list of keyword calls, ``[f(a=1), g(b="x")]`` (ToolACE, BFCL's prompt mode,
  the embedded model);
* ``hermes``: one ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` block per call (Qwen2.5,
  Qwen3, Hermes);
* ``llama3_json``: ``{"name": ..., "parameters": {...}}``, several joined by ``"; "`` (Llama 3.x).

The names are vLLM's ``--tool-call-parser`` names for the same formats.
:func:`toolace_r.calls.parse_calls` reads all three back; here are the writers
(:func:`format_answer`, :func:`tool_calls`) and :func:`detect_tool_format`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from toolace_r.calls.calltypes import CallLike
from toolace_r.calls.format import as_call, format_calls

TOOL_FORMATS = ("pythonic", "hermes", "llama3_json")

# A reasoning block some templates (Qwen3) write before the answer; it holds no calls.
_THINK_RE = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)


def check_tool_format(fmt: str) -> str:
    if fmt not in TOOL_FORMATS:
        raise ValueError(f"tool_format must be one of {', '.join(TOOL_FORMATS)}, got {fmt!r}")
    return fmt


def strip_reasoning(text: str) -> str:
    """``text`` without a leading ``<think>...</think>`` block."""
    return _THINK_RE.sub("", text, count=1)


def detect_tool_format(chat_template: str | dict[str, str] | list[Any] | None) -> str:
    """The format a chat template writes tool calls in: ``hermes`` when it writes JSON in
    ``<tool_call>`` blocks, ``llama3_json`` when it speaks Llama 3's ``ipython`` / ``"parameters"``
    convention, else ``pythonic`` (our system prompt, which any chat model can follow; also for formats
    we do not write, such as Qwen3-Coder's XML calls). ``chat_template`` may be one template or the
    named set a tokenizer keeps."""
    if isinstance(chat_template, dict):
        text = "\n".join(str(t) for t in chat_template.values())
    elif isinstance(chat_template, list):  # tokenizer_config.json's [{"name", "template"}]
        text = "\n".join(str(t.get("template", "")) for t in chat_template if isinstance(t, dict))
    else:
        text = chat_template or ""
    # Qwen3-Coder / Qwen3.5 wrap XML (<function=name><parameter=...>) in <tool_call>: not hermes JSON
    if "<tool_call>" in text and "<function=" not in text:
        return "hermes"
    if '"parameters"' in text and ("ipython" in text or "<|python_tag|>" in text):
        return "llama3_json"
    return "pythonic"


def _json_call(name: str, key: str, args: dict[str, Any]) -> str:
    # the spacing of jinja's tojson, so that our text equals what the templates write
    return json.dumps({"name": name, key: args}, ensure_ascii=False, default=str)


def format_answer(calls: Iterable[CallLike], fmt: str = "pythonic") -> str:
    """The calls as answer text in format ``fmt`` (canonical; a template may space it its own way)."""
    calls = [as_call(c) for c in calls]
    if check_tool_format(fmt) == "hermes":
        return "\n".join(f"<tool_call>\n{_json_call(c.name, 'arguments', c.arguments)}\n</tool_call>" for c in calls)
    if fmt == "llama3_json":
        return "; ".join(_json_call(c.name, "parameters", c.arguments) for c in calls)
    return format_calls(calls)


def tool_calls(calls: Iterable[CallLike]) -> list[dict[str, Any]]:
    """OpenAI-style structured ``tool_calls`` with ``arguments`` as a dict, as chat templates take them."""
    return [{"type": "function", "function": {"name": c.name, "arguments": dict(c.arguments)}}
            for c in (as_call(x) for x in calls)]
