"""BFCL's prompt-mode decoder for the Python-call format, without ``eval``.

:func:`decode_bfcl` reproduces BFCL's decoder value for value, so that the checker's ``bfcl``
mode gives the official verdicts. It first tries the fast scanner
(:mod:`toolace_r.calls.scanner`, which only saves time) and otherwise reads the text with
``ast.parse`` and resolves the tree here. Where BFCL evaluates arithmetic with ``eval``, the
constants are folded by :mod:`toolace_r.calls.fold`.
"""

from __future__ import annotations

import ast
import warnings
from typing import Any

from toolace_r.calls.fold import _fold
from toolace_r.calls.scanner import _fast_decode
from toolace_r.calls.calltypes import _DOUBLE_STAR, MAX_CALLS, MAX_DEPTH, MAX_INPUT_CHARS, Call, DecodeError

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
