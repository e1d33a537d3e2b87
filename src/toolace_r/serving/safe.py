"""Hostile input never hurts anyone else: the server's checks of text at the edge, the JSON
encoding of answers that cannot fail, and a failure log that stays small.

* :func:`scan_json`: the first problem in parsed request JSON (nesting past a depth, a string or
  key holding a lone surrogate, which no tokenizer or UTF-8 encoder accepts), found without
  recursion, so that the server answers 400 before any of it reaches the model.
* :func:`json_safe` / :func:`dumps`: any value (a model's or an upstream's answer, a parsed call's
  arguments) as JSON that always encodes, deterministically: lone surrogates become U+FFFD,
  integers of more than :data:`MAX_INT_DIGITS` decimal digits (Python's int->str limit) become
  hexadecimal strings (``"0x1f..."``, ``"-0x..."``: exact, and linear to write), non-finite floats
  become strings (``"inf"``, ``"nan"``), tuples and sets become lists (sets sorted), other objects
  their text. Nesting past ``max_depth`` raises :class:`Unencodable` (the caller then sends the
  answer as plain text).
* :class:`FailureLog`: logs each kind of failure (exception type and the line it came from) once
  with a bounded traceback, and every later one in a single line, so that a request that blows
  the parser's recursion limit costs the log a few lines, not 330 KB.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import traceback
from typing import Any

SURROGATE_RE = re.compile("[\ud800-\udfff]")
MAX_INT_DIGITS = 4300  # CPython's default limit on int -> decimal string (sys.get_int_max_str_digits)
_INT_BOUND = 10 ** MAX_INT_DIGITS
MAX_DEPTH = 64  # nesting of request JSON and of answers' call arguments


class Unencodable(ValueError):
    """A value nests too deeply to be sent as JSON."""


def _path(parts: tuple) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


def scan_json(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """``("depth", path)`` where parsed JSON nests deeper than ``max_depth``, ``("surrogate", path)``
    for the first string or key holding a lone surrogate, else None. Iterative: any depth is safe."""
    stack: list[tuple[Any, int, tuple]] = [(value, 1, ())]
    while stack:
        v, depth, where = stack.pop()
        if depth > max_depth:
            return "depth", _path(where)
        if isinstance(v, str):
            if SURROGATE_RE.search(v):
                return "surrogate", _path(where)
        elif isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                if isinstance(k, str) and SURROGATE_RE.search(k):
                    return "surrogate", _path(where)
                stack.append((x, depth + 1, (*where, k)))
        elif isinstance(v, list):
            stack.extend((x, depth + 1, (*where, i)) for i, x in reversed(list(enumerate(v))))
    return None


def clean_text(s: str) -> str:
    """``s`` with every surrogate code point replaced by U+FFFD (always encodable as UTF-8)."""
    return SURROGATE_RE.sub("\ufffd", s)


def _int(v: int) -> int | str:
    if -_INT_BOUND < v < _INT_BOUND:
        return v
    return format(v, "#x")  # e.g. "0x1f4", "-0x1f4"


def _key(k: Any) -> str:
    if isinstance(k, str):
        return clean_text(k)
    if isinstance(k, int) and not isinstance(k, bool):
        return str(_int(k))
    try:
        return clean_text(str(k))
    except (ValueError, RecursionError):  # e.g. a tuple holding a huge integer
        return dumps(k)


def json_safe(v: Any, max_depth: int = MAX_DEPTH, _depth: int = 1) -> Any:
    """``v`` as plain JSON data that :func:`json.dumps` always encodes (rules in the module docstring);
    :class:`Unencodable` past ``max_depth`` levels."""
    if _depth > max_depth:
        raise Unencodable(f"nests deeper than {max_depth} levels")
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        return clean_text(v)
    if isinstance(v, int):
        return _int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        return {_key(k): json_safe(x, max_depth, _depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x, max_depth, _depth + 1) for x in v]
    if isinstance(v, (set, frozenset)):  # no order of its own: sorted, so the same answer encodes the same
        items = [json_safe(x, max_depth, _depth + 1) for x in v]
        return sorted(items, key=lambda x: json.dumps(x, ensure_ascii=False, sort_keys=True))
    try:
        return clean_text(str(v))
    except (ValueError, RecursionError):
        return clean_text(repr(type(v)))


def dumps(obj: Any, max_depth: int = MAX_DEPTH) -> str:
    """JSON text of ``obj`` after :func:`json_safe` (compact, UTF-8 characters kept)."""
    return json.dumps(json_safe(obj, max_depth), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def short(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters (a marker says how much went)."""
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more characters]"


def bounded_traceback(exc: BaseException, frames: int = 12, limit: int = 8000) -> str:
    """The traceback of ``exc``: its innermost ``frames`` frames, at most ``limit`` characters."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-frames))
    if len(text) > limit:
        cut = len(text) - limit
        text = f"{text[:limit // 4]}\n... [{cut} characters cut] ...\n{text[-(limit - limit // 4):]}"
    return text.rstrip("\n")


def _origin(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""


class FailureLog:
    """Logs failures on ``logger``: the first of each kind (exception type + innermost line) with a
    bounded traceback, later ones in one line with how often the kind was seen. Thread-safe."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self.seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def __call__(self, what: str, exc: BaseException, level: int = logging.ERROR) -> None:
        key = (type(exc).__qualname__, _origin(exc))
        with self._lock:
            count = self.seen[key] = self.seen.get(key, 0) + 1
        head = clean_text(f"{what}: {type(exc).__name__}: {short(str(exc))}")
        if count == 1:
            self.logger.log(level, "%s\n%s", head, bounded_traceback(exc))
        else:
            self.logger.log(level, "%s (seen %d times; the traceback was logged the first time)", head, count)
