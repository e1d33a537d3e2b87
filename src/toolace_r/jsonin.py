"""Reading JSON that nobody vouches for: data files, score inputs, BFCL files.

Python's :mod:`json` accepts what JSON does not (``NaN``, ``Infinity``, ``1e999`` read as an
infinite float, strings with lone UTF-16 surrogates that no UTF-8 file can hold) and fails on
what it cannot read with exceptions other than :class:`json.JSONDecodeError` (a nesting bomb is
a :class:`RecursionError`, an integer of more than 4300 digits a plain :class:`ValueError`).
:func:`loads` turns every such case into a :class:`JsonInputError` that says what is wrong in
one line, and :func:`iter_lines` reads a JSON-lines file line by line (streaming, each line
bounded in bytes), giving every line either its value or its error, so that a caller can stop
at the first bad line or skip and count it.

Kept free of heavy imports: `toolace-r score` reads its input through this module.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Iterator

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line :func:`iter_lines` reads (16 MiB); a longer one is an error, skipped unread."""

MAX_DEPTH = 128
"""The deepest nesting of objects and arrays accepted (a tool-use record needs a dozen levels)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_CHUNK = 1 << 20


class JsonInputError(ValueError):
    """One JSON value that cannot be used; the message says what is wrong (the caller adds where)."""


@dataclass(frozen=True)
class Line:
    """One non-blank line of a JSON-lines file: its number and its value, or what is wrong with it."""

    lineno: int
    value: Any = None
    error: str | None = None


def _refuse_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not valid JSON (JSON has no NaN or Infinity; write null or a number)")


@dataclass(frozen=True)
class _Constant:
    """``NaN`` / ``Infinity`` / ``-Infinity`` as :func:`raw_decode` reads it, refused by :func:`check_value`."""

    name: str


_LENIENT = json.JSONDecoder(parse_constant=_Constant)


def _too_deep() -> JsonInputError:
    return JsonInputError(f"nested deeper than {MAX_DEPTH} levels")


def loads(text: str | bytes) -> Any:
    """Parse one JSON document strictly: :class:`JsonInputError` for bad syntax or UTF-8, ``NaN`` /
    ``Infinity``, numbers out of range, nesting deeper than :data:`MAX_DEPTH`, lone surrogates.

    The checks after parsing only walk the value when the text could hold what they look for (more
    opening brackets than :data:`MAX_DEPTH`, a surrogate escape), so common records cost no walk."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonInputError(_utf8_error(e)) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JsonInputError:
        raise
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as e:
        raise JsonInputError(f"invalid JSON: {e.msg} (column {e.colno})") from None
    except ValueError:  # an integer too long for int(): Python's message suggests a setting
        raise JsonInputError("invalid JSON: an integer with more than 4300 digits") from None
    if text.count("[") + text.count("{") > MAX_DEPTH or _SURROGATE_ESCAPE.search(text):
        check_value(value)
    return value


def _finite_float(s: str) -> float:
    f = float(s)
    if math.isinf(f):
        raise JsonInputError(f"the number {s[:20]} is too large for a float (it would read as Infinity)")
    return f


def raw_decode(text: str, start: int) -> tuple[Any, int, str | None]:
    """The JSON value at ``text[start:]`` (one of the values of a .json file): ``(value, end, None)``,
    or ``(None, end, what is wrong)`` for a well-formed value that :func:`check_value` refuses, so
    that the caller can skip it and go on at ``end``. Bad syntax raises :class:`json.JSONDecodeError`
    and a nesting bomb :class:`JsonInputError`: the end of the value is then unknown."""
    try:
        value, end = _LENIENT.raw_decode(text, start)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise JsonInputError("invalid JSON: an integer with more than 4300 digits") from None
    try:
        check_value(value)
    except JsonInputError as e:
        return None, end, str(e)
    return value, end, None


def check_value(value: Any) -> None:
    """Refuse, with :class:`JsonInputError`, what a parsed value must not hold: non-finite
    numbers, nesting deeper than :data:`MAX_DEPTH`, strings with lone surrogates. Iterative, so
    that a deep value cannot exhaust the stack."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth >= MAX_DEPTH:
                raise _too_deep()
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, item in items:
                if isinstance(k, str):
                    _check_str(k)
                stack.append((item, depth + 1))
        elif isinstance(v, str):
            _check_str(v)
        elif isinstance(v, _Constant):
            _refuse_constant(v.name)
        elif isinstance(v, float) and not math.isfinite(v):
            what = "NaN" if math.isnan(v) else "Infinity (or a number too large for a float)"
            raise JsonInputError(f"{what} is not valid JSON")


def _check_str(s: str) -> None:
    if _SURROGATE.search(s):
        raise JsonInputError("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode")


def _utf8_error(e: UnicodeDecodeError) -> str:
    return f"invalid UTF-8: byte 0x{e.object[e.start]:02x} at byte {e.start + 1} of the line (save the file as UTF-8)"


def iter_lines(path: str | os.PathLike, max_bytes: int | None = None) -> Iterator[Line]:
    """Every non-blank line of a JSON-lines file, read one at a time, as its parsed value or its
    error: invalid UTF-8, longer than ``max_bytes`` (default :data:`MAX_LINE_BYTES`; the rest
    of such a line is skipped unread), or anything :func:`loads` refuses. A UTF-8 byte order
    mark before the first line is ignored."""
    limit = max_bytes or MAX_LINE_BYTES
    with open(path, "rb") as f:
        lineno = 0
        while True:
            raw = f.readline(limit + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                _skip_rest_of_line(f)
                yield Line(lineno, error=f"line longer than {limit} bytes")
                continue
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            if not raw.strip():
                continue
            yield _parse_line(lineno, raw)


def _parse_line(lineno: int, raw: bytes) -> Line:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Line(lineno, error=_utf8_error(e))
    try:
        return Line(lineno, loads(text))
    except JsonInputError as e:
        return Line(lineno, error=str(e))


def _skip_rest_of_line(f: Any) -> None:
    while True:
        chunk = f.readline(_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return
