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
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import re
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

MAX_INPUT_CHARS = 200_000
MAX_DEPTH = 200  # Python's own parser stops at 200 nested brackets
MAX_CALLS = 512
_MAX_FOLD_SIZE = 100_000  # bound on strings/sequences/ints built by constant folding


class DecodeError(ValueError):
    """A model output that does not decode into calls. ``kind`` is a short label."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Call:
    """One function call: a (possibly dotted) name and keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Status = Literal["calls", "text", "malformed"]


@dataclass
class ParseResult:
    """``status``: "calls" (decoded; ``calls`` may be empty for ``[]``), "text" (plain text,
    a deliberate no-call), or "malformed" (looked like a call but did not decode)."""

    calls: list[Call]
    status: Status
    format: str = ""  # python | json | tool_call | "" (none)
    error: str = ""

    @property
    def has_calls(self) -> bool:
        return bool(self.calls)


# --------------------------------------------------------------------------------------
# BFCL-compatible decoding of the Python-call format


def decode_bfcl(text: str) -> list[Call]:
    """Decode like BFCL's prompt-mode AST decoder; raise :class:`DecodeError` on failure.

    Strips backticks, newlines and spaces at both ends, wraps the text in ``[...]`` where
    missing, strips wrapping single quotes, then reads a list of calls with keyword
    arguments (positional arguments are dropped, as BFCL does)."""
    if not isinstance(text, str):
        raise DecodeError("not_text", f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        raise DecodeError("too_long", f"output is {len(text)} characters, over {MAX_INPUT_CHARS}")
    s = text.strip("`\n ")
    if not s.startswith("["):
        s = "[" + s
    if not s.endswith("]"):
        s = s + "]"
    s = s.strip().strip("'")
    fast = _fast_decode(s)
    if fast is not None:
        return fast
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in model text: not the user's concern
            warnings.simplefilter("ignore")
            tree = ast.parse(s, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise DecodeError("syntax", f"not a Python expression: {e}") from None
    body = tree.body
    try:
        if isinstance(body, ast.Call):
            return [_resolve_call(body, 0)]
        elts = getattr(body, "elts", None)
        if elts is None:
            raise DecodeError("not_a_list", f"expected a list of calls, got {type(body).__name__}")
        if len(elts) > MAX_CALLS:
            raise DecodeError("too_many_calls", f"{len(elts)} calls, over {MAX_CALLS}")
        calls = []
        for elt in elts:
            if not isinstance(elt, ast.Call):
                raise DecodeError("not_a_call", f"list element is {type(elt).__name__}, not a call")
            calls.append(_resolve_call(elt, 0))
        return calls
    except RecursionError:
        raise DecodeError("too_deep", "output nests too deeply") from None


# --- fast path ------------------------------------------------------------------------
# Most model outputs are plain ``[name(key=literal, ...)]`` lists. A small scanner reads exactly
# that shape (strings whose only escapes are backslash, quote, n and t; decimal numbers;
# True/False/None; lists and dicts of them) to the same values ``ast`` would give, and hands
# anything else (other escapes, prefixes, expressions, odd whitespace, positional args,
# repeated keywords, ...) to the ``ast`` path.
#
# One ``findall`` splits the text into tokens in C: strings, numbers, dotted names, and any
# other single non-blank character (punctuation, or a character no token accepts, which the
# parser then rejects). Blanks between tokens are skipped, as Python does. A number or name
# the regex refuses (``1a``, ``b'x'``) leaves a one-character token behind that can never be
# followed by what the grammar expects next, so it always ends in a fall-back.

_TOKEN_RE = re.compile(
    r""""(?:[^"\\\n]|\\[\\'"nt])*"|'(?:[^'\\\n]|\\[\\'"nt])*'"""
    r"""|-?(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+"""
    r"""|[1-9][0-9]*|0+)(?![A-Za-z0-9_.])"""
    r"""|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?![A-Za-z0-9_'"])"""
    r"""|[^ \t\n]""",
    re.ASCII,
)
_ESCAPE_RE = re.compile(r"\\(.)")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}  # the only escapes the scanner accepts
_CONSTS = {"True": True, "False": False, "None": None}
_KEYWORDS = frozenset(keyword.kwlist)
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("-.0123456789")


class _NoFast(Exception):
    pass


def _fast_decode(s: str) -> list[Call] | None:
    if "\x00" in s or "\r" in s or len(s) > 20_000:
        return None
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            return None
    toks = _TOKEN_RE.findall(s)
    toks.append("")  # end marker: matches nothing the grammar expects
    try:
        calls, i = _fast_call_list(toks)
    except (_NoFast, IndexError):
        return None
    return calls if i == len(toks) - 1 else None


def _fast_call_list(toks: list[str]) -> tuple[list[Call], int]:
    if toks[0] != "[":
        raise _NoFast
    calls: list[Call] = []
    i = 1
    while toks[i] != "]":
        name = toks[i]
        if name[0] not in _NAME_START or toks[i + 1] != "(":
            raise _NoFast
        if any(p in _KEYWORDS for p in name.split(".")):
            raise _NoFast
        i += 2
        args: dict[str, Any] = {}
        while toks[i] != ")":
            kw = toks[i]
            if kw[0] not in _NAME_START or "." in kw or kw in args or kw in _KEYWORDS or toks[i + 1] != "=":
                raise _NoFast
            args[kw], i = _fast_value(toks, i + 2, 0)
            if toks[i] == ",":
                i += 1
            elif toks[i] != ")":
                raise _NoFast
        calls.append(Call(name, args))
        i += 1
        if toks[i] == ",":
            i += 1
        elif toks[i] != "]":
            raise _NoFast
    return calls, i + 1


def _fast_value(toks: list[str], i: int, depth: int) -> tuple[Any, int]:
    t = toks[i]
    c = t[:1]
    if c == '"' or c == "'":
        if len(t) < 2:  # a lone quote: unterminated string
            raise _NoFast
        body = t[1:-1]
        return (_ESCAPE_RE.sub(_unescape, body) if "\\" in body else body), i + 1
    if c in _NUMBER_START:
        if len(t) > 100 or t == "-" or t == ".":
            raise _NoFast
        return (float(t) if ("." in t or "e" in t or "E" in t) else int(t)), i + 1
    if c == "[" or c == "{":
        if depth > 50:
            raise _NoFast
        return (_fast_list if c == "[" else _fast_dict)(toks, i + 1, depth + 1)
    if t in _CONSTS:
        return _CONSTS[t], i + 1
    raise _NoFast


def _unescape(m: re.Match) -> str:
    return _ESCAPES[m.group(1)]


def _fast_list(toks: list[str], i: int, depth: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    while toks[i] != "]":
        v, i = _fast_value(toks, i, depth)
        out.append(v)
        if toks[i] == ",":
            i += 1
        elif toks[i] != "]":
            raise _NoFast
    return out, i + 1


def _fast_dict(toks: list[str], i: int, depth: int) -> tuple[dict[Any, Any], int]:
    d: dict[Any, Any] = {}
    while toks[i] != "}":
        k, i = _fast_value(toks, i, depth)
        if isinstance(k, (list, dict)) or toks[i] != ":":
            raise _NoFast
        d[k], i = _fast_value(toks, i + 1, depth)
        if toks[i] == ",":
            i += 1
        elif toks[i] != "}":
            raise _NoFast
    return d, i + 1


def _resolve_call(node: ast.Call, depth: int) -> Call:
    parts = []
    func = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    name = ".".join(reversed(parts))
    args: dict[str, Any] = {}
    for kw in node.keywords:
        # ``**mapping`` has no keyword name; BFCL keys it by None, which no schema accepts.
        args[kw.arg if kw.arg is not None else _DOUBLE_STAR] = _resolve_value(kw.value, depth + 1)
    return Call(name, args)


_DOUBLE_STAR = "**"


def _resolve_value(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise DecodeError("too_deep", f"values nest deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # BFCL negates the operand's constant whatever the operator (+, -, not, ~).
        operand = node.operand
        if not isinstance(operand, ast.Constant) or isinstance(operand.value, (str, bytes)) \
                or operand.value is None or operand.value is Ellipsis:
            raise DecodeError("bad_unary", f"unsupported unary operand {ast.dump(operand)[:80]}")
        return -operand.value
    if isinstance(node, ast.List):
        return [_resolve_value(e, depth + 1) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_resolve_value(e, depth + 1) for e in node.elts)
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                raise DecodeError("bad_dict", "dict unpacking (**) is not a value")
            key = _resolve_value(k, depth + 1)
            try:
                out[key] = _resolve_value(v, depth + 1)
            except TypeError:
                raise DecodeError("bad_dict", "unhashable dict key") from None
        return out
    if isinstance(node, ast.BinOp):
        return _fold(node, depth)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        if not node.keywords:
            return ast.unparse(node)
        return _call_as_dict(_resolve_call(node, depth + 1))
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise DecodeError("unsupported_value", f"unsupported value {type(node).__name__}")


def _call_as_dict(call: Call) -> dict:
    return {call.name: call.arguments}


# Constant folding for arithmetic in argument values (BFCL evaluates it; we fold safely).
_BIN_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
    ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
    ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b,
    ast.BitAnd: lambda a, b: a & b,
}
_UNARY_OPS = {ast.UAdd: lambda a: +a, ast.USub: lambda a: -a, ast.Not: lambda a: not a, ast.Invert: lambda a: ~a}


def _fold(node: ast.AST, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise DecodeError("too_deep", f"expression nests deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_fold(e, depth + 1) for e in node.elts]
        if isinstance(node, ast.Set):
            return _apply(set, items)
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        pairs = [(_fold(k, depth + 1), _fold(v, depth + 1)) for k, v in zip(node.keys, node.values)]
        return _apply(dict, pairs)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS:
        return _apply(_UNARY_OPS[type(node.op)], _fold(node.operand, depth + 1))
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
        a = _fold(node.left, depth + 1)
        b = _fold(node.right, depth + 1)
        _check_fold_bounds(node.op, a, b)
        return _apply(_BIN_OPS[type(node.op)], a, b)
    raise DecodeError("unsupported_expression", f"cannot evaluate {type(node).__name__} in an expression")


def _apply(fn, *args):
    try:
        out = fn(*args)
    except (ArithmeticError, TypeError, ValueError) as e:
        raise DecodeError("bad_expression", f"expression fails: {e}") from None
    if isinstance(out, (str, bytes, list, tuple)) and len(out) > _MAX_FOLD_SIZE:
        raise DecodeError("too_large", "expression result too large")
    return out


def _check_fold_bounds(op: ast.operator, a: Any, b: Any) -> None:
    def size(x: Any) -> float:
        if isinstance(x, bool):
            return 1
        if isinstance(x, int):
            return max(x.bit_length(), 1)
        return 1

    if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and not isinstance(b, bool):
        if b > 0 and size(a) * b > 64 * _MAX_FOLD_SIZE:
            raise DecodeError("too_large", "power too large to evaluate")
    if isinstance(op, ast.LShift) and isinstance(b, int) and b > 64 * _MAX_FOLD_SIZE:
        raise DecodeError("too_large", "shift too large to evaluate")
    if isinstance(op, ast.Mult):
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * max(n, 0) > _MAX_FOLD_SIZE:
                raise DecodeError("too_large", "repetition too large to evaluate")


# --------------------------------------------------------------------------------------
# Lenient parsing of every format models emit

_FENCE_RE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_CALL_START_RE = re.compile(r"^\s*[A-Za-z_][\w.]*\s*\(")


def parse_calls(text: Any) -> ParseResult:
    """Parse model text into calls; never raises.

    Accepted: the Python-call list (``[f(a=1), g.h(b=[1, 2])]``, brackets optional), JSON
    ``[{"name": ..., "arguments": {...} or "<json>"}]`` (or one such object),
    ``<tool_call>{...}</tool_call>`` blocks, and any of these inside a code fence. Anything
    else is plain text ("no call") when it does not look like a call attempt, else malformed.
    """
    if not isinstance(text, str):
        return ParseResult([], "malformed", error=f"parse:not_text: got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        return ParseResult([], "malformed", error=f"parse:too_long: {len(text)} characters")
    s = text.strip()
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


def _json_call(obj: Any) -> Call | None:
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


# --------------------------------------------------------------------------------------
# Formatting and canonical equality


def as_call(c: Any) -> Call:
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


def format_call(call: Any) -> str:
    c = as_call(call)
    return f"{c.name}(" + ", ".join(f"{k}={format_value(v)}" for k, v in c.arguments.items()) + ")"


def format_calls(calls: Iterable[Any]) -> str:
    """Canonical Python-call text: ``[f(a=1, b="x"), g(c=[1, 2])]``.

    A call that Python syntax cannot carry (a function or argument name that is not an
    identifier, e.g. ``get-weather`` or ``from``; such names come in through JSON) makes the
    whole answer JSON instead, ``[{"name": ..., "arguments": {...}}]``, which
    :func:`parse_calls` reads back."""
    calls = [as_call(c) for c in calls]
    if all(_python_name(c.name, dotted=True) and all(_python_name(k) for k in c.arguments) for c in calls):
        return "[" + ", ".join(format_call(c) for c in calls) + "]"
    return json.dumps([{"name": c.name, "arguments": c.arguments} for c in calls], ensure_ascii=False, default=str)


def _python_name(name: Any, dotted: bool = False) -> bool:
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


def call_key(call: Any) -> tuple:
    """Hashable canonical form of one call: argument order ignored."""
    c = as_call(call)
    return (c.name, frozenset((k, _canon(v)) for k, v in c.arguments.items()))


def calls_equal(a: Iterable[Any], b: Iterable[Any]) -> bool:
    """Same calls, argument order and parallel call order ignored (a multiset compare)."""
    try:
        return Counter(call_key(c) for c in a) == Counter(call_key(c) for c in b)
    except TypeError:
        return False


def answers_equal(text_a: str, text_b: str) -> bool:
    """Canonical equality of two raw answers: equal calls, or both the same plain text."""
    pa, pb = parse_calls(text_a), parse_calls(text_b)
    if pa.status == "calls" and pb.status == "calls":
        return calls_equal(pa.calls, pb.calls)
    if pa.status != "calls" and pb.status != "calls":
        return " ".join(text_a.split()) == " ".join(text_b.split())
    return False
