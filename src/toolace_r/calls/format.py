"""Formatting calls as text, and canonical equality of calls.

:func:`format_calls` writes the canonical Python-call text that :func:`toolace_r.calls.decode_bfcl`
reads back (JSON where Python syntax cannot carry a name); :func:`calls_equal` compares two
answers' calls ignoring argument order and the order of parallel calls. Depends only on
:mod:`toolace_r.calls.calltypes`.
"""

from __future__ import annotations

import json
import keyword
import math
import unicodedata
from collections import Counter
from typing import Any, Iterable

from toolace_r.calls.calltypes import Call, CallLike

def as_call(c: CallLike) -> Call:
    """Accept a Call, any object with .name/.arguments, a (name, args) pair or {name: args}."""
    if isinstance(c, Call):
        return c
    if hasattr(c, "name") and hasattr(c, "arguments"):
        return Call(c.name, dict(c.arguments))
    if isinstance(c, tuple) and len(c) == 2:
        return Call(c[0], dict(c[1]))
    if isinstance(c, dict) and len(c) == 1:
        (name, args), = c.items()
        return Call(name, dict(args))
    raise TypeError(f"cannot read a call from {c!r}")


def format_value(v: Any) -> str:
    """A Python literal that :func:`decode_bfcl` reads back to the same value."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "1e999" if v > 0 else "-1e999"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bytes) or (isinstance(v, complex) and math.isfinite(v.real) and math.isfinite(v.imag)):
        return repr(v)  # Python literals the decoder reads back (BFCL outputs may carry them)
    if isinstance(v, list):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, tuple):
        inner = ", ".join(format_value(x) for x in v)
        return "(" + inner + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{format_value(k)}: {format_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v), ensure_ascii=False)


def format_call(call: CallLike) -> str:
    c = as_call(call)
    return f"{c.name}(" + ", ".join(f"{k}={format_value(v)}" for k, v in c.arguments.items()) + ")"


def format_calls(calls: Iterable[CallLike]) -> str:
    """Canonical Python-call text: ``[f(a=1, b="x"), g(c=[1, 2])]``.

    A call that Python syntax cannot carry (a function or argument name that is not an
    identifier, e.g. ``get-weather`` or ``from``; such names come in through JSON) makes the
    whole answer JSON instead, ``[{"name": ..., "arguments": {...}}]``, which
    :func:`parse_calls` reads back."""
    calls = [as_call(c) for c in calls]
    if all(_python_name(c.name, dotted=True) and all(_python_name(k) for k in c.arguments) for c in calls):
        return "[" + ", ".join(format_call(c) for c in calls) + "]"
    return json.dumps([{"name": c.name, "arguments": c.arguments} for c in calls], ensure_ascii=False, default=str)


def _python_name(name: object, dotted: bool = False) -> bool:
    if not isinstance(name, str):
        return False
    parts = name.split(".") if dotted else [name]
    # ast reads identifiers NFKC-normalised, so only normal-form names survive a round trip
    return all(p.isidentifier() and not keyword.iskeyword(p) and unicodedata.normalize("NFKC", p) == p for p in parts)


def _canon(v: Any) -> Any:
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float, complex)):
        return ("n", v)  # 5 == 5.0 == 5+0j and hash alike: the same number
    if isinstance(v, str):
        return ("s", v)
    if v is None:
        return ("z",)
    if isinstance(v, (list, tuple)):
        return ("l", tuple(_canon(x) for x in v))
    if isinstance(v, dict):
        return ("d", frozenset((_canon(k), _canon(x)) for k, x in v.items()))
    return ("o", repr(v))


def call_key(call: CallLike) -> tuple:
    """Hashable canonical form of one call: argument order ignored."""
    c = as_call(call)
    return (c.name, frozenset((k, _canon(v)) for k, v in c.arguments.items()))


def calls_equal(a: Iterable[CallLike], b: Iterable[CallLike]) -> bool:
    """Same calls, argument order and parallel call order ignored (a multiset compare)."""
    try:
        return Counter(call_key(c) for c in a) == Counter(call_key(c) for c in b)
    except TypeError:
        return False
