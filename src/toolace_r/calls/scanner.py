"""The fast path of :func:`toolace_r.calls.decode_bfcl`: a scanner that exists only for speed.

Most model outputs are plain ``[name(key=literal, ...)]`` lists. This scanner reads that shape to
exactly the values ``ast`` would give, and hands anything else to the ``ast`` path. It must
agree with the ``ast`` path (:func:`toolace_r.calls.decode._decode_ast`, with the folding of
:mod:`toolace_r.calls.fold`) on every input it answers: the same calls and values, the same
:class:`DecodeError` kind and message; where it cannot tell, it returns None. Deleting it
changes no result, only speed; ``tests/test_calls.py`` checks the agreement (examples and
hypothesis fuzzing, with the scanner switched off for the reference).

It reads: strings (every prefix but f / t, triple quotes, implicit concatenation, every escape
but ``\\N{...}``), numbers (decimal, hex / octal / binary, underscores, floats, imaginary; a
leading ``-``), True / False / None / ``...``, bare names, lists, dicts, tuples, calls as values
(``g(k=1)`` -> ``{"g": {"k": 1}}``, ``g()`` -> ``"g()"``), positional arguments (read, then
dropped, as BFCL does), ``**mapping`` arguments and comments. List elements that are not calls
(``[{"name": ...}]``, ``[x]``) give the ``ast`` path's ``not_a_call`` failure once the whole
text has been read. Tokenizing, single-token values and the certain-syntax-error check live in
:mod:`toolace_r.calls.tokens`.
"""

from __future__ import annotations

import ast
from typing import Any

from toolace_r.calls.fold import _BIN_OPS, _apply, _check_fold_bounds
from toolace_r.calls.tokens import (
    _CONSTS,
    _FAST_MAX_CHARS,
    _FAST_MAX_DEPTH,
    _INT_RUN_RE,
    _KEYWORDS,
    _NAME_START,
    _NEVER_IN_CODE,
    _NO_EXPRESSION_START,
    _NUMBER_START,
    _QUOTES,
    _TOKEN_RE,
    _UNTERMINATED,
    _certain_syntax_error,
    _fast_string,
    _NoFast,
    _number,
    _quote_at,
)
from toolace_r.calls.calltypes import _DOUBLE_STAR, MAX_CALLS, Call, DecodeError

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
