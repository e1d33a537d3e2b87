"""Constant folding of arithmetic in argument values, bounded.

BFCL evaluates arithmetic in a call's arguments (``x=2*3``) with ``eval``; the decoders here fold
the constants instead, with bounds on the size of what a fold may build (strings, sequences,
integers) so that no model output can make a fold run long or allocate much.
"""

from __future__ import annotations

import ast
from typing import Any

from toolace_r.calls.calltypes import MAX_DEPTH, DecodeError

_MAX_FOLD_SIZE = 100_000  # bound on strings/sequences built by constant folding
_MAX_INT_BITS = 64 * _MAX_FOLD_SIZE  # bound on the integers it builds

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
    if isinstance(out, int) and out.bit_length() > _MAX_INT_BITS:
        raise DecodeError("too_large", "integer result too large")
    return out


def _check_fold_bounds(op: ast.operator, a: Any, b: Any) -> None:
    def size(x: Any) -> float:
        if isinstance(x, bool):
            return 1
        if isinstance(x, int):
            return max(x.bit_length(), 1)
        return 1

    if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and not isinstance(b, bool):
        if b > 0 and size(a) * b > _MAX_INT_BITS:
            raise DecodeError("too_large", "power too large to evaluate")
    if isinstance(op, ast.LShift) and isinstance(b, int) and b > _MAX_INT_BITS:
        raise DecodeError("too_large", "shift too large to evaluate")
    if isinstance(op, ast.Mult):
        if isinstance(a, int) and isinstance(b, int) and size(a) + size(b) > _MAX_INT_BITS + 1:
            raise DecodeError("too_large", "product too large to evaluate")
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * max(n, 0) > _MAX_FOLD_SIZE:
                raise DecodeError("too_large", "repetition too large to evaluate")
