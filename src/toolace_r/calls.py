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
    return _decode_bfcl(text)[0]


def _decode_bfcl(text: str) -> tuple[list[Call], bool]:
    """:func:`decode_bfcl`, and whether the scanner read the text (its values are then plain
    literals, whose ``repr`` never fails)."""
    if not isinstance(text, str):
        raise DecodeError("not_text", f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        raise DecodeError("too_long", f"output is {len(text)} characters, over {MAX_INPUT_CHARS}")
    s = text.strip("`\n ")
    if not s.startswith("["):
        s = "[" + s
    if not s.endswith("]"):
        s = s + "]"
    # BFCL then strips spaces and wrapping single quotes: a no-op on text in "[...]".
    fast = _fast_decode(s)
    if fast is not None:
        return fast, True
    return _decode_ast(s), False


def _decode_ast(s: str) -> list[Call]:
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
# Most model outputs are plain ``[name(key=literal, ...)]`` lists. A small scanner reads that
# shape to exactly the values ``ast`` would give, and hands anything else to the ``ast`` path.
# It reads: strings (every prefix but f / t, triple quotes, implicit concatenation, every
# escape but ``\N{...}``), numbers (decimal, hex / octal / binary, underscores, floats,
# imaginary; a leading ``-``), True / False / None / ``...``, bare names, lists, dicts, tuples,
# calls as values (``g(k=1)`` -> ``{"g": {"k": 1}}``, ``g()`` -> ``"g()"``), positional
# arguments (read, then dropped, as BFCL does), ``**mapping`` arguments and comments. List
# elements that are not calls (``[{"name": ...}]``, ``[x]``) give the ``ast`` path's
# ``not_a_call`` failure once the whole text has been read.
#
# One ``findall`` splits the text into tokens in C: punctuation, strings, dotted names,
# numbers, comments, and any other single non-blank character (which the reader refuses).
# Blanks between tokens are skipped, as Python does. A number or name the regex refuses
# (``1a``, ``007``) leaves a one-character token behind that can never be followed by what
# the grammar expects next, so it always ends in a fall-back.
#
# When the reader gives up, :func:`_certain_syntax_error` looks at the same tokens for an
# error that Python's tokenizer always raises (unbalanced brackets, an unterminated string, a
# character that no Python token holds, a list that starts with an operator): such a text
# fails ``ast.parse`` whatever else it holds, so it fails here without being parsed. The
# tokens are exact where this matters, that is where strings and comments begin and end
# (an f- or t-string, which newer Pythons tokenize differently, ends the search).

_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_TOKEN_RE = re.compile(
    r"[ \t\n\x0c]*("  # blanks, then one token:
    r"\[(?:-?(?:[1-9][0-9]{0,98}|0), ?){8,}-?(?:[1-9][0-9]{0,98}|0)\]"  # a list of 9+ plain ints
    r"|\*\*|//|<<|>>|\.\.\.|[][(){},=:]"
    r"|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?![A-Za-z0-9_'\"])"  # a dotted name
    # a string with its prefix: triple-quoted, an unterminated triple quote, single-quoted
    r"|[rRuUbBfFtT]{0,2}(?:"
    r'"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""'
    r"|'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''"
    r'|"""'
    r"|'''"
    r'|"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"'
    r"|'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*')"
    r"|(?:[fFtT][rR]?|[rR][fFtT])['\"]"  # an f- or t-string that does not close on its line
    # a number (leading zeros in a decimal integer are refused later)
    r"|-?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    r"|(?:" + _DIGITS + r"(?:\.(?:" + _DIGITS + r")?)?|\." + _DIGITS + r")(?:[eE][+-]?" + _DIGITS + r")?[jJ]?)"
    r"(?![A-Za-z0-9_.])"
    r"|#[^\n]*"  # a comment
    r"|[^ \t\n\x0c])"  # anything else: one character
)
_STR_PREFIXES = frozenset({"", "r", "u", "b", "br", "rb"})  # lower-cased; f and t are never read
_ESCAPE_RE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([\s\S]))")
_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t", "v": "\v", "\n": ""}
_CONSTS = {"True": True, "False": False, "None": None}
_KEYWORDS = frozenset(keyword.kwlist)
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("-.0123456789")
_QUOTES = frozenset("'\"")
_CLOSERS = {")": "(", "]": "[", "}": "{"}
# no list element starts with these (the first character of the token after ``[``)
_NO_EXPRESSION_START = frozenset("<>=,;:/%&|^@!?$`")
# characters that no Python token holds outside strings and comments
_NEVER_IN_CODE = frozenset("$?`\x7f\x0b" + "".join(map(chr, range(1, 9))) + "".join(map(chr, range(14, 32))))
_FAST_MAX_CHARS = 20_000
# where an f- or t-string may start: a prefix after a character that no name holds (the
# first regex is a quick filter for the second)
_FSTRING_HINT_RE = re.compile(r"[fFtT][rR]?['\"]")
_FSTRING_RE = re.compile(r"[^A-Za-z0-9_][rR]?[fFtT][rR]?['\"]")
_UNTERMINATED = frozenset(["'", '"', "'''", '"""'])  # tokens: a quote that opens no whole string
_BRACKETS = frozenset("()[]{}")
_INT_RUN_RE = re.compile(r"-?(?:[1-9][0-9]{0,98}|0)(?: -?(?:[1-9][0-9]{0,98}|0))*")  # as _number reads them
_FAST_MAX_DEPTH = 50


class _NoFast(Exception):
    pass


class _NotCalls(Exception):
    """The whole text was read and is not a list of calls: the ``ast`` path fails alike."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _fast_decode(s: str) -> list[Call] | None:
    """The calls; None when the scanner cannot tell (the ``ast`` path decides); or a
    :class:`DecodeError` where ``ast`` certainly fails too."""
    if "\x00" in s:
        raise DecodeError("syntax", "not a Python expression: source code string cannot contain null bytes")
    if len(s) > _FAST_MAX_CHARS:
        return None
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise DecodeError("syntax", "not a Python expression: surrogates cannot be encoded") from None
    if "\r" in s:  # Python reads "\r\n" and a lone "\r" in source text as "\n"
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    toks = _TOKEN_RE.findall(s)
    if "#" in s:
        toks = [t for t in toks if t[0] != "#"]
    toks.append("")  # end marker: matches nothing the grammar expects
    unbalanced = s[-2:] != ")]" and (  # a well-formed call list ends so: no need to count
        s.count("(") != s.count(")") or s.count("[") != s.count("]") or s.count("{") != s.count("}"))
    if unbalanced:  # most likely a truncated output: look for a certain error first
        err = _certain_syntax_error(s, toks)
        if err:
            raise DecodeError("syntax", f"not a Python expression: {err}")
    try:
        return _fast_call_list(toks)
    except (_NoFast, IndexError):
        pass
    except _NotCalls as e:
        raise DecodeError(e.kind, str(e)) from None
    if not unbalanced:
        first = toks[1]
        if first and first[0] in _NO_EXPRESSION_START:
            raise DecodeError("syntax", f"not a Python expression: a list element cannot start with {first[0]!r}")
        if not (_UNTERMINATED.isdisjoint(toks) and _NEVER_IN_CODE.isdisjoint(toks)):
            err = _certain_syntax_error(s, toks)
            if err:
                raise DecodeError("syntax", f"not a Python expression: {err}")
    return None


def _certain_syntax_error(s: str, toks: list[str]) -> str:
    """A reason why ``ast.parse`` must fail on ``s`` (read into ``toks``), or ""."""
    first = toks[1]
    if first and first[0] in _NO_EXPRESSION_START:
        return f"a list element cannot start with {first[0]!r}"
    if _FSTRING_HINT_RE.search(s) and _FSTRING_RE.search(s):  # only what comes before it counts
        return _syntax_error_before_fstring(toks)
    # No f- or t-string: the tokens are exact from end to end, and an error anywhere is fatal.
    if not _UNTERMINATED.isdisjoint(toks):
        return "unterminated string literal"
    if not _NEVER_IN_CODE.isdisjoint(toks):
        return "invalid character"
    brackets = "".join([t for t in toks if t in _BRACKETS])
    if (brackets.count("(") != brackets.count(")") or brackets.count("[") != brackets.count("]")
            or brackets.count("{") != brackets.count("}")):
        return "unbalanced brackets"
    stack: list[str] = []
    for c in brackets:
        if c in _CLOSERS:
            if not stack or stack.pop() != _CLOSERS[c]:
                return f"closing parenthesis {c!r} does not match"
        else:
            stack.append(c)
            if len(stack) > MAX_DEPTH:
                return "too many nested parentheses"
    return ""


def _syntax_error_before_fstring(toks: list[str]) -> str:
    stack: list[str] = []
    for t in toks:
        if not t:
            break
        c = t[0]
        if t in _CLOSERS:
            if not stack:
                return f"unmatched {c!r}"
            if stack.pop() != _CLOSERS[c]:
                return f"closing parenthesis {c!r} does not match"
        elif t in _BRACKETS:
            stack.append(c)
            if len(stack) > MAX_DEPTH:
                return "too many nested parentheses"
        elif t[-1] in _QUOTES:
            q = _quote_at(t)
            if q:
                prefix = t[:q]
                if "f" in prefix or "F" in prefix or "t" in prefix or "T" in prefix:
                    return ""  # newer Pythons read f- and t-strings differently: stop here
            body = t[q:]
            if len(body) == 1 or body == '"""' or body == "'''":
                return "unterminated string literal"
        elif c in _NEVER_IN_CODE:
            return f"invalid character {c!r}"
    if stack:
        return f"{stack[-1]!r} was never closed"
    return ""


def _quote_at(t: str) -> int:
    """Where the quotes of a string token start (after its prefix)."""
    for q, ch in enumerate(t):
        if ch == '"' or ch == "'":
            return q
    return len(t)


class _Deferred(Exception):
    """A value that reads but does not resolve (a set, a lambda, ``-'a'``, ``1 / 0``, ...): the
    ``ast`` path's DecodeError for it, raised once the whole text has been read. ``end``: the
    token after the value; ``node``: the ast type of the value, where a caller needs it."""

    def __init__(self, kind: str, message: str, end: int, node: str = ""):
        super().__init__(message)
        self.kind = kind
        self.end = end
        self.node = node


def _fast_call_list(toks: list[str]) -> list[Call]:
    if toks[0] != "[":
        raise _NoFast
    calls: list[Call] = []
    failure: tuple[str, str] | None = None  # the ast path's first failure, element by element
    n = 0
    i = 1
    while toks[i] != "]":
        name = toks[i]
        n += 1
        if toks[i + 1] == "(" and name[0] in _NAME_START and name[-1] not in _QUOTES:
            try:
                call, i = _fast_call(toks, i, 0)
                calls.append(call)
            except _Deferred as e:
                if failure is None:
                    failure = (e.kind, str(e))
                i = e.end
        else:
            node, i = _non_call_element(toks, i)
            if failure is None:
                failure = ("not_a_call", f"list element is {node}, not a call")
        if toks[i] == ",":
            i += 1
        elif toks[i] != "]":
            raise _NoFast
    if toks[i + 1] != "":
        _after_the_list(toks, i + 1)  # raises
    if failure is not None:
        if n > MAX_CALLS:  # the ast path looks at the count first
            raise _NotCalls("too_many_calls", f"{n} calls, over {MAX_CALLS}")
        raise _NotCalls(*failure)
    return calls  # (of any number: the text is at most _FAST_MAX_CHARS long)


def _non_call_element(toks: list[str], i: int) -> tuple[str, int]:
    """Read a list element that is no call: (its ast node type, the index after it)."""
    t = toks[i]
    c = t[0]
    try:
        value, j = _fast_value(toks, i, 0)
    except _Deferred as e:
        if e.node:  # a list, dict, set or tuple that holds (or is) a value that does not resolve
            return e.node, e.end
        raise _NoFast from None
    if c == "[":
        return "List", j
    if c == "{":
        return "Dict", j
    if c == "(":
        if type(value) is tuple:
            return "Tuple", j
        raise _NoFast  # anything in parentheses
    if t[-1] in _QUOTES:
        k = i + 1
        while toks[k] and toks[k][-1] in _QUOTES:
            k += 1
        if j == k:
            return "Constant", j
    elif j == i + 1:  # one token, and no expression after it
        if c in _NAME_START:
            if t in _CONSTS:
                return "Constant", j
            if t not in _KEYWORDS and "." not in t:
                return "Name", j
        elif c == "-":
            return "UnaryOp", j
        elif c in _NUMBER_START:
            return "Constant", j
    raise _NoFast


def _after_the_list(toks: list[str], i: int) -> None:
    """``[...] + [...]`` and ``[...][x]``, read to the end: the ast path's not_a_list."""
    t = toks[i]
    if t == "+" and toks[i + 1][:1] == "[":
        node = "BinOp"
        j = i + 1
    elif t == "[":
        node = "Subscript"
        j = i + 1
    else:
        raise _NoFast
    try:
        _, j = _fast_value(toks, j, 0)
    except _Deferred as e:  # nothing is resolved: the body is no list
        j = e.end
    if node == "Subscript":
        if toks[j] != "]":
            raise _NoFast
        j += 1
    if toks[j] != "":
        raise _NoFast
    raise _NotCalls("not_a_list", f"expected a list of calls, got {node}")


def _fast_call(toks: list[str], i: int, depth: int) -> tuple[Call, int]:
    """``name(...)`` at ``toks[i]``; positional arguments are read and dropped."""
    name = toks[i]
    if not _KEYWORDS.isdisjoint(name.split(".")):
        raise _NoFast
    i += 2
    args: dict[str, Any] = {}
    keywords = False
    failed: _Deferred | None = None
    while toks[i] != ")":
        kw = toks[i]
        if toks[i + 1] == "=":
            if kw in args or (kw not in _GOOD_KEYWORDS and not _good_keyword(kw)):
                raise _NoFast
            try:
                args[kw], i = _fast_value(toks, i + 2, depth + 1)
            except _Deferred as e:
                args[kw] = None  # (taken: the same name again is a syntax error)
                failed = failed or e
                i = e.end
            keywords = True
        elif kw == "**":
            try:
                args[_DOUBLE_STAR], i = _fast_value(toks, i + 1, depth + 1)
            except _Deferred as e:
                failed = failed or e
                i = e.end
            keywords = True
        elif keywords:  # a positional argument after keyword ones: a syntax error
            raise _NoFast
        else:
            try:
                _, i = _fast_value(toks, i, depth + 1)
            except _Deferred as e:  # positional arguments are never resolved
                i = e.end
        if toks[i] == ",":
            i += 1
        elif toks[i] != ")":
            raise _NoFast
    if failed is not None:
        raise _Deferred(failed.kind, str(failed), i + 1)
    return Call(name, args), i + 1


_GOOD_KEYWORDS: set[str] = set()  # argument names seen to be plain (a bounded cache)


def _good_keyword(kw: str) -> bool:
    if kw[0] not in _NAME_START or "." in kw or kw in _KEYWORDS or kw[-1] in _QUOTES:
        return False
    if len(_GOOD_KEYWORDS) > 4096:
        _GOOD_KEYWORDS.clear()
    _GOOD_KEYWORDS.add(kw)
    return True


def _fast_value(toks: list[str], i: int, depth: int) -> tuple[Any, int]:
    t = toks[i]
    c = t[0]
    if t[-1] in _QUOTES:
        if (c == "'" or c == '"') and len(t) > 2 and t[1] != c and "\\" not in t and toks[i + 1][-1:] not in _QUOTES:
            v, j = t[1:-1], i + 1  # (the common case: one plain string without escapes)
        else:
            v, j = _fast_string(toks, i)
    elif c in _NAME_START:
        if t in _CONSTS:
            v, j = _CONSTS[t], i + 1
        elif toks[i + 1] == "(":
            if depth > _FAST_MAX_DEPTH:
                raise _NoFast
            call, j = _fast_call(toks, i, depth + 1)
            if call.arguments:
                return {call.name: call.arguments}, j
            if j == i + 3:  # ``g()``: BFCL keeps the text of a call without keyword arguments
                return t + "()", j
            raise _NoFast  # positional arguments only: the text as ast.unparse writes it
        elif t in _KEYWORDS:
            if t == "not":
                return _fast_unary(toks, i)
            if t == "lambda":
                return _fast_lambda(toks, i, depth)
            raise _NoFast
        elif "." in t:
            if toks[i + 1] == "[":
                raise _NoFast  # a subscript
            raise _Deferred("unsupported_value", "unsupported value Attribute", i + 1)
        else:
            v, j = t, i + 1  # a bare name reads as its own text
    elif c in _NUMBER_START:
        if t == "...":
            v, j = "...", i + 1
        else:
            if len(t) > 100 or t == "-" or t == ".":
                if t == "-":
                    return _fast_unary(toks, i)
                raise _NoFast
            v, j = _number(t), i + 1
    elif c == "[" or c == "{" or c == "(":
        if depth > _FAST_MAX_DEPTH:
            raise _NoFast
        if c == "[":
            if len(t) > 1:  # a list of plain ints in one token
                return list(map(int, t[1:-1].split(","))), i + 1
            return _fast_list(toks, i + 1, depth + 1)
        if c == "{":
            return _fast_dict(toks, i + 1, depth + 1)
        return _fast_paren(toks, i + 1, depth + 1)
    elif t == "+" or t == "~":
        return _fast_unary(toks, i)
    else:
        raise _NoFast
    if toks[j] in _AFTER_OPERAND:  # ``a + b`` or ``a if b else c``
        return _fast_operation(toks, i, j, depth)
    return v, j


# --- values that need more than one token ---------------------------------------------
# Each reads one shape to its end and lets the caller look at what follows (a "," or a
# closing bracket, or else the caller gives up): ``a op b`` with one-token operands, as
# _fold computes it; ``a if b else c``, ``lambda: x``, ``{a, b}`` and dotted names, which
# do not resolve; and BFCL's unary operators (every one negates a number).

_BINARY_OPERATORS = {
    "+": ast.Add(), "-": ast.Sub(), "*": ast.Mult(), "/": ast.Div(), "//": ast.FloorDiv(), "%": ast.Mod(),
    "**": ast.Pow(), "<<": ast.LShift(), ">>": ast.RShift(), "|": ast.BitOr(), "^": ast.BitXor(),
    "&": ast.BitAnd(), "@": ast.MatMult(),
}
_AFTER_OPERAND = frozenset(_BINARY_OPERATORS) | {"if"}
_NO_OPERAND = object()


def _operand(toks: list[str], i: int) -> tuple[Any, int, str]:
    """One plain token (or a run of strings): (its value as _fold reads it, the index after
    it, its ast node type: Constant, UnaryOp for a signed number, or Name)."""
    t = toks[i]
    c = t[0]
    if t[-1] in _QUOTES:
        v, j = _fast_string(toks, i)
        return v, j, "Constant"
    if c in _NAME_START:
        if t in _CONSTS:
            return _CONSTS[t], i + 1, "Constant"
        if t in _KEYWORDS or "." in t or toks[i + 1] == "(" or toks[i + 1] == "[":
            raise _NoFast
        return _NO_OPERAND, i + 1, "Name"
    if t == "...":
        return ..., i + 1, "Constant"
    if c in _NUMBER_START and t != "-" and t != "." and len(t) <= 100:
        return _number(t), i + 1, ("UnaryOp" if c == "-" else "Constant")
    raise _NoFast


def _fast_operation(toks: list[str], i: int, j: int, depth: int) -> tuple[Any, int]:
    """``toks[i:j]`` is an operand and ``toks[j]`` an operator or ``if``."""
    op = toks[j]
    if op == "if":
        _, k, _ = _operand(toks, j + 1)
        if toks[k] != "else":
            raise _NoFast
        _, k, _ = _operand(toks, k + 1)
        raise _Deferred("unsupported_value", "unsupported value IfExp", k)
    a, end, left = _operand(toks, i)
    if end != j:
        raise _NoFast
    if op == "**" and left == "UnaryOp":
        raise _NoFast  # ``-2 ** 2`` is ``-(2 ** 2)``
    b, k, right = _operand(toks, j + 1)
    node = _BINARY_OPERATORS[op]
    if type(node) not in _BIN_OPS:  # ``@``
        raise _Deferred("unsupported_expression", "cannot evaluate BinOp in an expression", k)
    if left == "Name" or right == "Name":
        raise _Deferred("unsupported_expression", "cannot evaluate Name in an expression", k)
    try:
        _check_fold_bounds(node, a, b)
        value = _apply(_BIN_OPS[type(node)], a, b)
    except DecodeError as e:
        raise _Deferred(e.kind, str(e), k) from None
    if type(value) is int and value.bit_length() > 10_000:
        raise _NoFast  # too long for repr: leave it to the ast path
    return value, k


def _fast_unary(toks: list[str], i: int) -> tuple[Any, int]:
    """``-x``, ``+x``, ``~x``, ``not x``: BFCL negates a number whatever the operator."""
    t = toks[i + 1]
    c = t[0]
    if c in _NUMBER_START and t != "-" and t != "." and t != "..." and len(t) <= 100:
        if c != "-":
            return -_number(t), i + 2
        dump = f"UnaryOp(op=USub(), operand=Constant(value={_number(t[1:])!r}))"
        end = i + 2
    elif t == "(" and toks[i + 2][:1] == "-" and toks[i + 3] == ")":
        u = toks[i + 2]
        if u == "-" or len(u) > 100:
            raise _NoFast
        dump = f"UnaryOp(op=USub(), operand=Constant(value={_number(u[1:])!r}))"
        end = i + 4
    elif t in _CONSTS:
        if t == "None":
            dump = "Constant(value=None)"
            end = i + 2
        else:
            return -_CONSTS[t], i + 2
    elif t == "...":
        dump = "Constant(value=Ellipsis)"
        end = i + 2
    elif t[-1] in _QUOTES:
        v, end = _fast_string(toks, i + 1)
        for s in toks[i + 1:end]:
            q = _quote_at(s)
            if q and "u" in s[:q].lower():
                raise _NoFast  # a ``u"..."`` string shows as kind='u' in the dump
        dump = f"Constant(value={v!r})"
    elif c in _NAME_START and t not in _KEYWORDS and "." not in t and toks[i + 2] not in _NOT_AFTER_NAME:
        dump = f"Name(id={t!r}, ctx=Load())"
        end = i + 2
    else:
        raise _NoFast
    raise _Deferred("bad_unary", f"unsupported unary operand {dump[:80]}", end)


_NOT_AFTER_NAME = frozenset("([.")


def _fast_lambda(toks: list[str], i: int, depth: int) -> tuple[Any, int]:
    """``lambda: x`` or ``lambda a: x``; a Lambda does not resolve."""
    k = i + 1
    if toks[k] != ":":
        p = toks[k]
        if toks[k + 1] != ":" or p[0] not in _NAME_START or p in _KEYWORDS or "." in p or p[-1] in _QUOTES:
            raise _NoFast
        k += 1
    try:
        _, end = _fast_value(toks, k + 1, depth + 1)
    except _Deferred as e:  # the body is not read
        end = e.end
    raise _Deferred("unsupported_value", "unsupported value Lambda", end)


def _fast_list(toks: list[str], i: int, depth: int) -> tuple[list[Any], int]:
    if toks[i + 1] == "," and toks[i + 3] == ",":  # maybe a long run of plain integers: read it in C
        j = toks.index("]", i)
        if j - i > 8:
            seps = toks[i + 1:j:2]
            if seps.count(",") == len(seps):
                values = toks[i:j:2]
                if _INT_RUN_RE.fullmatch(" ".join(values)):
                    return list(map(int, values)), j + 1
    out: list[Any] = []
    failed: _Deferred | None = None
    while toks[i] != "]":
        try:
            v, i = _fast_value(toks, i, depth)
            out.append(v)
        except _Deferred as e:
            failed = failed or e
            i = e.end
        if toks[i] == ",":
            i += 1
        elif toks[i] != "]":
            raise _NoFast
    if failed is not None:
        raise _Deferred(failed.kind, str(failed), i + 1, "List")
    return out, i + 1


def _fast_paren(toks: list[str], i: int, depth: int) -> tuple[Any, int]:
    """``(x)`` is x; ``()``, ``(x,)`` and ``(x, y)`` are tuples."""
    out: list[Any] = []
    comma = False
    failed: _Deferred | None = None
    while toks[i] != ")":
        try:
            v, i = _fast_value(toks, i, depth)
            out.append(v)
        except _Deferred as e:
            if toks[e.end] == ")" and not comma:
                raise _NoFast from None  # ``(x)`` where x does not resolve: leave it to ast
            failed = failed or e
            i = e.end
        if toks[i] == ",":
            comma = True
            i += 1
        elif toks[i] != ")":
            raise _NoFast
    if failed is not None:
        raise _Deferred(failed.kind, str(failed), i + 1, "Tuple")
    if len(out) == 1 and not comma:
        return out[0], i + 1
    return tuple(out), i + 1


def _fast_dict(toks: list[str], i: int, depth: int) -> tuple[dict[Any, Any], int]:
    d: dict[Any, Any] = {}
    failed: _Deferred | None = None
    first = True
    while toks[i] != "}":
        try:
            k, i = _fast_value(toks, i, depth)
        except _Deferred as e:
            failed = failed or e
            i = e.end
        if toks[i] != ":":
            if first and (toks[i] == "," or toks[i] == "}"):
                return _fast_set(toks, i, depth)
            raise _NoFast
        first = False
        try:
            v, i = _fast_value(toks, i + 1, depth)
        except _Deferred as e:
            failed = failed or e
            i = e.end
        if failed is None:
            try:
                d[k] = v
            except TypeError:  # an unhashable key
                raise _NoFast from None
        if toks[i] == ",":
            i += 1
        elif toks[i] != "}":
            raise _NoFast
    if failed is not None:
        raise _Deferred(failed.kind, str(failed), i + 1, "Dict")
    return d, i + 1


def _fast_set(toks: list[str], i: int, depth: int) -> tuple[Any, int]:
    """The rest of ``{a, b}`` after its first element: a Set does not resolve."""
    while toks[i] != "}":
        if toks[i] != ",":
            raise _NoFast
        i += 1
        if toks[i] == "}":
            break
        try:
            _, i = _fast_value(toks, i, depth)
        except _Deferred as e:  # the elements are not read
            i = e.end
    raise _Deferred("unsupported_value", "unsupported value Set", i + 1, "Set")


def _number(t: str) -> Any:
    if t.isdigit() and (t[0] != "0" or len(t) == 1):
        return int(t)
    last = t[-1]
    if last == "j" or last == "J":
        neg = t[0] == "-"
        v = complex(0.0, float(t[1 if neg else 0:-1]))
        return -v if neg else v
    if "x" in t or "X" in t or "o" in t or "O" in t or "b" in t or "B" in t:
        return int(t, 0)
    if "." in t or "e" in t or "E" in t:
        return float(t)
    if (t[0] == "0" or t[:2] == "-0") and t.strip("-0_"):  # ``007``: a syntax error
        raise _NoFast
    return int(t)


def _fast_string(toks: list[str], i: int) -> tuple[Any, int]:
    """One string token, or several in a row (implicitly concatenated)."""
    value = _string_value(toks[i])
    i += 1
    while toks[i] and toks[i][-1] in _QUOTES:
        more = _string_value(toks[i])
        if type(more) is not type(value):  # bytes next to str: a syntax error
            raise _NoFast
        value += more
        i += 1
    return value, i


def _string_value(t: str) -> Any:
    raw = is_bytes = False
    if t[0] != '"' and t[0] != "'":
        q = _quote_at(t)
        prefix = t[:q].lower()
        if prefix not in _STR_PREFIXES:  # f- and t-strings, or a name before a string
            raise _NoFast
        raw, is_bytes = "r" in prefix, "b" in prefix
        t = t[q:]
    if t[:3] == '"""' or t[:3] == "'''":
        if len(t) < 6:  # an unterminated triple quote
            raise _NoFast
        body = t[3:-3]
    else:
        if len(t) < 2:  # a lone quote: unterminated
            raise _NoFast
        body = t[1:-1]
    if is_bytes:
        if not body.isascii():
            raise _NoFast
        if not raw and "\\" in body:
            body = _ESCAPE_RE.sub(_bytes_escape, body)
        return body.encode("latin-1")
    if not raw and "\\" in body:
        body = _ESCAPE_RE.sub(_str_escape, body)
    return body


def _str_escape(m: re.Match) -> str:
    octal, hx, u4, u8, other = m.groups()
    if other is not None:
        if other in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[other]
        if other in "xuUN":  # a malformed \x, \u or \U, or any \N{...}
            raise _NoFast
        return "\\" + other  # an unknown escape keeps its backslash
    if octal is not None:
        return chr(int(octal, 8))
    code = int(hx or u4 or u8, 16)
    if code > 0x10FFFF:
        raise _NoFast
    return chr(code)


def _bytes_escape(m: re.Match) -> str:
    octal, hx, u4, u8, other = m.groups()
    if octal is not None:
        code = int(octal, 8)
        if code > 0o377:
            raise _NoFast
        return chr(code)
    if hx is not None:
        return chr(int(hx, 16))
    if other is None:  # bytes have no \u or \U escapes: kept as written
        return m.group(0)
    if other in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[other]
    if other == "x":
        raise _NoFast
    return "\\" + other


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
