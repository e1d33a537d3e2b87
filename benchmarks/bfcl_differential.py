#!/usr/bin/env python
"""Differential test: our BFCL checker (``toolace_r.checker.check``) vs the official bfcl-eval.

1. Builds a large, deterministic (seeded) set of model outputs over BFCL v4's
   Python AST categories and relevance categories: gold renderings of the
   possible answers (many surface variants), perturbed calls (wrong values /
   types / names / counts / string normalisation ...) and malformed outputs
   (truncation, unbalanced brackets, JSON, tags, prose, odd Python expressions ...).
   Rows are written in the ``toolace-r score`` input format to OUT/rows.jsonl,
   with a parallel OUT/meta.jsonl (row id, entry id, kind).
2. Computes the OFFICIAL verdict of every row by running
   ``benchmarks/_bfcl_official_worker.py`` under the bfcl-eval interpreter
   (``--bfcl-python``, default /tmp/bfcl-env/bin/python).
3. Computes OUR verdict in-process with ``toolace_r.checker.check`` (or, with
   ``--ours-cli``, via ``toolace-r score``).
4. Reports agreement overall / by category / by output kind, writes every
   disagreement to OUT/disagreements.jsonl and a summary to OUT/summary.json.

Usage (from the repo root):
    .venv/bin/python benchmarks/bfcl_differential.py --out /tmp/bfcl-diff
    .venv/bin/python benchmarks/bfcl_differential.py --generate-only --limit 2000
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_bfcl_official_worker.py"

AST_CATEGORIES = [
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
]
RELEVANCE_CATEGORIES = ["irrelevance", "live_irrelevance", "live_relevance"]
ALL_CATEGORIES = AST_CATEGORIES + RELEVANCE_CATEGORIES + ["synthetic"]

PY_KEYWORDS = {
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
    "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
    "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield", "match", "case", "_",
}


# --------------------------------------------------------------------------- rendering
class Expr:
    """A raw Python expression spliced verbatim into a rendered call."""

    __slots__ = ("src",)

    def __init__(self, src: str):
        self.src = src

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"Expr({self.src!r})"


class Style:
    __slots__ = ("quote", "sep", "kwsep", "float_exp", "int_fmt", "tuple_lists")

    def __init__(self, quote="'", sep=", ", kwsep="=", float_exp=False, int_fmt="dec", tuple_lists=False):
        self.quote = quote
        self.sep = sep
        self.kwsep = kwsep
        self.float_exp = float_exp
        self.int_fmt = int_fmt
        self.tuple_lists = tuple_lists


DEFAULT_STYLE = Style()


def py_str(s: str, q: str = "'") -> str:
    out = [q]
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == q:
            out.append("\\" + q)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append("\\x%02x" % ord(ch))
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append(q)
    return "".join(out)


def render_value(v, st: Style = DEFAULT_STYLE) -> str:
    if isinstance(v, Expr):
        return v.src
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        if st.int_fmt == "hex" and v >= 0:
            return hex(v)
        if st.int_fmt == "underscore" and abs(v) >= 1000:
            return f"{v:_}"
        return repr(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return repr(v)  # renders as a Name (inf/nan): deliberately odd
        if st.float_exp and v != 0:
            return f"{v:e}" if float(f"{v:e}") == v else repr(v)
        return repr(v)
    if isinstance(v, str):
        return py_str(v, st.quote)
    if isinstance(v, tuple):
        inner = st.sep.join(render_value(x, st) for x in v)
        return "(" + inner + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        inner = st.sep.join(render_value(x, st) for x in v)
        if st.tuple_lists:
            return "(" + inner + ("," if len(v) == 1 else "") + ")"
        return "[" + inner + "]"
    if isinstance(v, dict):
        return "{" + st.sep.join(f"{render_value(k, st)}: {render_value(x, st)}" for k, x in v.items()) + "}"
    return repr(v)


def render_call(name: str, args: dict, st: Style = DEFAULT_STYLE, positional: list | None = None) -> str:
    parts = []
    for p in positional or []:
        parts.append(render_value(p, st))
    for k, v in args.items():
        parts.append(f"{k}{st.kwsep}{render_value(v, st)}")
    return f"{name}({st.sep.join(parts)})"


def render_calls(calls: list, st: Style = DEFAULT_STYLE, brackets=True) -> str:
    inner = st.sep.join(render_call(n, a, st) for n, a in calls)
    return f"[{inner}]" if brackets else inner


# --------------------------------------------------------------------------- data
def load_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def load_category(data_dir: Path, cat: str):
    entries = load_jsonl(data_dir / f"BFCL_v4_{cat}.json")
    answers = {}
    pa = data_dir / "possible_answer" / f"BFCL_v4_{cat}.json"
    if cat in AST_CATEGORIES:
        for a in load_jsonl(pa):
            answers[a["id"]] = a["ground_truth"]
    return entries, answers


# --------------------------------------------------------------------------- helpers
def fn_spec(functions: list, name: str):
    for f in functions:
        if f.get("name") == name:
            return f
    return None


def param_spec(functions, fname, pname):
    f = fn_spec(functions, fname)
    if not f:
        return {}
    return (f.get("parameters") or {}).get("properties", {}).get(pname, {}) or {}


def synth_value(spec: dict, rng: random.Random, depth=0):
    t = spec.get("type", "string")
    if "enum" in spec and spec["enum"]:
        return rng.choice(spec["enum"])
    d = spec.get("default", None)
    if t == "string" or t == "any":
        if isinstance(d, str) and d and rng.random() < 0.5:
            return d
        return rng.choice(["example", "New York, NY", "2024-01-01", "Sample Text", "abc123"])
    if t == "integer":
        if isinstance(d, int) and not isinstance(d, bool) and rng.random() < 0.5:
            return d
        return rng.choice([1, 3, 10, 42, 0, -2])
    if t == "float":
        if isinstance(d, float) and rng.random() < 0.5:
            return d
        return rng.choice([1.5, 0.25, 3.0, 100.0, -0.5])
    if t == "boolean":
        return rng.random() < 0.5
    if t in ("array", "tuple"):
        if depth > 2:
            return []
        items = spec.get("items") or {"type": "string"}
        return [synth_value(items, rng, depth + 1) for _ in range(rng.choice([1, 2]))]
    if t == "dict":
        if depth > 2:
            return {}
        props = spec.get("properties") or {}
        if props:
            return {k: synth_value(v, rng, depth + 1) for k, v in props.items()}
        return {"key": "value"}
    return "example"


def synth_args(func: dict, rng: random.Random, all_params=False) -> dict:
    params = func.get("parameters") or {}
    props = params.get("properties") or {}
    req = params.get("required") or []
    args = {}
    for k, spec in props.items():
        if k in req or all_params or rng.random() < 0.25:
            args[k] = synth_value(spec or {}, rng)
    return args


def non_empty(vals: list) -> list:
    return [v for v in vals if v != ""]


def pick_args(call_answer: dict, mode: str, rng: random.Random, k: int = 0) -> dict:
    """Pick concrete argument values from one possible-answer call {param: [acceptable]}."""
    out = {}
    for p, vals in call_answer.items():
        ne = non_empty(vals)
        optional = len(ne) != len(vals)
        if not ne:
            continue
        if mode == "first":
            out[p] = ne[0]
        elif mode == "drop_optional":
            if not optional:
                out[p] = ne[0]
        elif mode == "alt":
            out[p] = ne[k % len(ne)]
        elif mode == "last":
            out[p] = ne[-1]
        elif mode == "random":
            if optional and rng.random() < 0.4:
                continue
            out[p] = rng.choice(ne)
        else:  # pragma: no cover
            raise ValueError(mode)
    return out


def gt_calls(gt: list, mode: str, rng: random.Random, k: int = 0) -> list:
    calls = []
    for call in gt:
        (name, ans), = call.items()
        calls.append((name, pick_args(ans, mode, rng, k)))
    return calls


def deep_copy_calls(calls):
    return [(n, json.loads(json.dumps(a))) for n, a in calls]


# ---- value mutations (return None when not applicable)
def mutate_wrong_value(v, rng):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + rng.choice([1, 7, -3, 100])
    if isinstance(v, float):
        return v + rng.choice([0.5, 1.25, -2.0, 10.0])
    if isinstance(v, str):
        if not v:
            return "zz"
        choice = rng.random()
        if choice < 0.4:
            return v + "x"
        if choice < 0.7:
            return "wrong " + v
        i = rng.randrange(len(v))
        return v[:i] + ("q" if v[i] != "q" else "z") + v[i + 1:]
    if isinstance(v, list):
        if not v:
            return ["extra"]
        i = rng.randrange(len(v))
        w = mutate_wrong_value(v[i], rng)
        if w is None:
            return v[:-1]
        return v[:i] + [w] + v[i + 1:]
    if isinstance(v, dict):
        if not v:
            return {"extra_key": 1}
        k = rng.choice(list(v))
        w = mutate_wrong_value(v[k], rng)
        d = dict(v)
        if w is None:
            del d[k]
        else:
            d[k] = w
        return d
    if v is None:
        return "none"
    return None


def string_variants(s: str):
    """(label, new_string) normalisation variants of a string value."""
    out = []
    if s.upper() != s:
        out.append(("upper", s.upper()))
    if s.lower() != s:
        out.append(("lower", s.lower()))
    if s.title() != s:
        out.append(("title", s.title()))
    if " " in s:
        out.append(("no_spaces", s.replace(" ", "")))
        out.append(("double_spaces", s.replace(" ", "  ")))
        out.append(("underscores", s.replace(" ", "_")))
        out.append(("tab_for_space", s.replace(" ", "\t", 1)))
        out.append(("newline_for_space", s.replace(" ", "\n", 1)))
    if "," in s:
        out.append(("no_commas", s.replace(",", "")))
        out.append(("semicolon_for_comma", s.replace(",", ";")))
    out.append(("trailing_period", s + "."))
    out.append(("surrounding_space", " " + s + " "))
    out.append(("trailing_bang", s + "!"))
    out.append(("hyphen_inserted", s[:1] + "-" + s[1:] if s else "-"))
    out.append(("caret_star", s + "*^"))
    out.append(("colon_added", s + ":"))
    if "'" in s:
        out.append(("squote_to_dquote", s.replace("'", '"')))
    if '"' in s:
        out.append(("dquote_to_squote", s.replace('"', "'")))
    stripped = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    if stripped != s:
        out.append(("accents_stripped", stripped))
    if any(ch in "0123456789" for ch in s):
        out.append(("digits_changed", "".join(str((int(c) + 1) % 10) if c in "0123456789" else c for c in s)))
    out.append(("empty_string", ""))
    out.append(("dot_only", "."))
    return out


def expr_variants(v, rng):
    """(label, Expr|value) alternative Python spellings of a value, many of which the
    official decoder treats in surprising ways."""
    out = []
    if isinstance(v, bool):
        out.append(("not_" + str(not v), Expr(f"not {not v}")))
        out.append(("int_of_bool", int(v)))
        out.append(("lower_name", Expr("true" if v else "false")))
        out.append(("str_bool", str(v)))
        out.append(("bool_plus_zero", Expr(f"{v} + 0")))
    elif isinstance(v, int):
        out.append(("binop_add", Expr(f"{v - 1} + 1")))
        out.append(("binop_mul", Expr(f"{v} * 1")))
        out.append(("unary_plus", Expr(f"+{v}")))
        out.append(("unary_invert", Expr(f"~{v}")))
        out.append(("double_neg", Expr(f"-(-{v})")))
        out.append(("neg_paren", Expr(f"-({-v})")))
        out.append(("float_of_int", float(v)))
        out.append(("str_of_int", str(v)))
        out.append(("int_call", Expr(f"int('{v}')")))
        out.append(("hex", Expr(hex(v) if v >= 0 else "-" + hex(-v))))
        out.append(("underscore", Expr(f"{v:_}")))
        out.append(("true_div", Expr(f"{v * 2} / 2")))
        out.append(("floor_div", Expr(f"{v * 2} // 2")))
        out.append(("pow", Expr(f"{v} ** 1")))
        out.append(("paren", Expr(f"({v})")))
        if v in (0, 1):
            out.append(("bool_for_int", bool(v)))
        out.append(("complex", Expr(f"{v}j")))
        out.append(("name_value", Expr("value")))
        out.append(("tuple1", (v,)))
        out.append(("list1", [v]))
        out.append(("none", None))
    elif isinstance(v, float):
        out.append(("int_for_float", int(v) if v == int(v) else Expr(f"{v!r}")))
        out.append(("str_of_float", repr(v)))
        out.append(("exp_form", Expr(f"{v:e}")))
        out.append(("binop_add", Expr(f"{v!r} + 0")))
        out.append(("binop_div", Expr(f"{v * 2!r} / 2")))
        out.append(("unary_plus", Expr(f"+{v!r}")))
        out.append(("round_int", round(v)))
        out.append(("paren", Expr(f"({v!r})")))
        out.append(("div_zero", Expr(f"{v!r} / 0")))
        out.append(("none", None))
    elif isinstance(v, str):
        if v.isidentifier() and v not in PY_KEYWORDS:
            out.append(("bare_name", Expr(v)))
        if len(v) >= 2:
            out.append(("concat_binop", Expr(f"{py_str(v[:1])} + {py_str(v[1:])}")))
            out.append(("implicit_concat", Expr(f"{py_str(v[:1])} {py_str(v[1:])}")))
        out.append(("fstring", Expr("f" + py_str(v))))
        out.append(("fstring_placeholder", Expr("f'{x}'")))
        out.append(("unary_minus_str", Expr("-" + py_str(v))))
        out.append(("not_str", Expr("not " + py_str(v))))
        out.append(("bytes", Expr("b" + py_str(v.encode("ascii", "ignore").decode()))))
        out.append(("raw_string", Expr("r" + py_str(v.replace("\\", "")))))
        out.append(("triple_quoted", Expr('"""' + v.replace("\\", "\\\\").replace('"', '\\"') + '"""')))
        out.append(("set_of_str", Expr("{" + py_str(v) + "}")))
        out.append(("attr_value", Expr("a.b")))
        out.append(("subscript", Expr("a[0]")))
        out.append(("subscript_str_key", Expr("config['" + "key" + "']")))
        out.append(("call_no_kw", Expr(f"str({py_str(v)})")))
        out.append(("call_kw", Expr(f"get_value(name={py_str(v)})")))
        out.append(("lambda", Expr(f"lambda: {py_str(v)}")))
        out.append(("ifexp", Expr(f"{py_str(v)} if True else ''")))
        out.append(("str_mul", Expr(f"{py_str(v)} * 1")))
        out.append(("ellipsis", Expr("...")))
        out.append(("list_of_str", [v]))
        out.append(("tuple_of_str", (v,)))
        out.append(("none", None))
        out.append(("int_for_str", 5))
        try:
            f = float(v)
            out.append(("num_for_numeric_str", int(f) if f == int(f) and "." not in v else f))
        except (ValueError, OverflowError):
            pass
    elif isinstance(v, list):
        out.append(("tuple_for_list", tuple(v)))
        out.append(("list_concat", Expr(render_value(v) + " + []")))
        out.append(("list_mul", Expr(render_value(v) + " * 1")))
        out.append(("list_call", Expr("list(" + render_value(tuple(v)) + ")")))
        out.append(("set_for_list", Expr("{" + ", ".join(render_value(x) for x in v) + "}") if v else Expr("set()")))
        out.append(("str_of_list", render_value(v)))
        out.append(("listcomp", Expr("[x for x in " + render_value(v) + "]")))
        out.append(("starred", Expr("[*" + render_value(v) + "]")))
        out.append(("empty_list", []))
        if len(v) == 1:
            out.append(("scalar_for_list", v[0]))
        if len(v) >= 2:
            out.append(("reversed", list(reversed(v))))
            out.append(("dropped_last", v[:-1]))
        out.append(("dup_element", v + v[-1:] if v else [None]))
        if any(isinstance(x, str) for x in v):
            out.append(("elements_upper", [x.upper() if isinstance(x, str) else x for x in v]))
            out.append(("elements_spaced", [x.replace(" ", "") if isinstance(x, str) else x for x in v]))
        if any(isinstance(x, int) and not isinstance(x, bool) for x in v):
            out.append(("elements_float", [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v]))
            out.append(("elements_str", [str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v]))
        if any(isinstance(x, float) for x in v):
            out.append(("elements_int", [int(x) if isinstance(x, float) else x for x in v]))
        if any(isinstance(x, dict) for x in v):
            w = []
            done = False
            for x in v:
                if isinstance(x, dict) and x and not done:
                    k = next(iter(x))
                    y = dict(x)
                    y[k] = y[k].upper() if isinstance(y[k], str) else mutate_wrong_value(y[k], rng)
                    w.append(y)
                    done = True
                else:
                    w.append(x)
            out.append(("dict_elem_changed", w))
        out.append(("deep_nested", Expr("[" * 30 + render_value(v) + "]" * 30)))
    elif isinstance(v, dict):
        out.append(("dict_call", Expr("dict(" + ", ".join(f"{k}={render_value(x)}" for k, x in v.items() if isinstance(k, str) and k.isidentifier()) + ")")))
        out.append(("dict_unpack", Expr("{**base}")))
        out.append(("str_of_dict", render_value(v)))
        out.append(("empty_dict", {}))
        if v:
            k = next(iter(v))
            d = dict(v)
            del d[k]
            out.append(("dict_key_dropped", d))
            d = dict(v)
            d["extra_key"] = "extra"
            out.append(("dict_key_added", d))
            d = dict(v)
            if isinstance(d[k], str):
                d[k] = d[k].upper()
                out.append(("dict_value_upper", d))
            d = dict(v)
            d[k] = mutate_wrong_value(d[k], rng)
            out.append(("dict_value_changed", d))
            d = dict(v)
            inner = d[k]
            if isinstance(inner, (dict, list)):
                d[k] = mutate_wrong_value(inner, rng)
                out.append(("dict_nested_changed", d))
            out.append(("dict_keys_reordered", dict(reversed(list(v.items())))))
            out.append(("tuple_dict_value", {**v, k: (v[k],)}))
        out.append(("list_of_dict", [v]))
    elif v is None:
        out.append(("none_str", "None"))
        out.append(("none_name", Expr("null")))
        out.append(("empty_str_for_none", ""))
    return out


def eval_variants(v):
    """(label, Expr) spellings that Python's ``eval`` (which the official decoder applies to
    any BinOp value) turns back into ``v``, but which need more than constant folding:
    calls, attributes, subscripts, comparisons, comprehensions, f-strings ... inside a BinOp."""
    out = []
    if isinstance(v, bool):
        out.append(("compare_and", Expr(f"(1 {'<' if v else '>'} 2) & True")))
        out.append(("bool_call_or", Expr(f"bool({int(v)}) | False")))
    elif isinstance(v, int):
        out.append(("int_call_plus0", Expr(f"int('{v}') + 0")))
        out.append(("abs_call", Expr(f"abs({v}) * {1 if v >= 0 else -1}")))
        out.append(("len_call", Expr(f"len('') + {v}") if v >= 0 else Expr(f"len('') - {-v}")))
        out.append(("subscript_plus0", Expr(f"[{v}][0] + 0")))
        out.append(("ifexp_plus0", Expr(f"({v} if True else 0) + 0")))
        out.append(("lambda_call_plus0", Expr(f"(lambda: {v})() + 0")))
        out.append(("attr_real_plus0", Expr(f"({v}).real + 0")))
    elif isinstance(v, float):
        out.append(("float_call_plus0", Expr(f"float('{v!r}') + 0")))
        out.append(("round_call_mul1", Expr(f"round({v!r}, 10) * 1")))
        out.append(("subscript_plus0", Expr(f"[{v!r}][0] + 0")))
    elif isinstance(v, str):
        out.append(("str_call_concat", Expr(f"str({py_str(v)}) + ''")))
        out.append(("fstring_concat", Expr("f" + py_str(v.replace("{", "{{").replace("}", "}}")) + " + ''")))
        out.append(("method_call_concat", Expr(f"{py_str(v)}.strip() + ''") if v == v.strip() else Expr(f"{py_str(v)}[:] + ''")))
        out.append(("subscript_concat", Expr(f"[{py_str(v)}][0] + ''")))
        out.append(("ifexp_concat", Expr(f"({py_str(v)} if True else '') + ''")))
        out.append(("join_concat", Expr(f"''.join([{py_str(v)}]) + ''")))
        out.append(("module_global_name", Expr("__name__ + ''")))
    elif isinstance(v, list):
        out.append(("list_call_concat", Expr(f"list({render_value(tuple(v))}) + []")))
        out.append(("listcomp_concat", Expr(f"[e for e in {render_value(v)}] + []")))
        out.append(("sorted_identity", Expr(f"{render_value(v)}[:] + []")))
    elif isinstance(v, dict):
        out.append(("dict_call_or", Expr(f"dict({render_value(v)}) | {{}}")))
        out.append(("dictcomp_or", Expr(f"{{k: w for k, w in {render_value(v)}.items()}} | {{}}")))
    return out


def limit_variants(v):
    """(label, Expr) spellings of ``v`` that hit size/depth limits of a bounded decoder
    while the official decoder (plain ast + eval) still accepts them."""
    out = []
    if isinstance(v, bool):
        pass
    elif isinstance(v, int):
        out.append(("binop_chain_250", Expr(" + ".join([str(v)] + ["0"] * 249))))
        out.append(("binop_chain_330", Expr(" + ".join([str(v)] + ["0"] * 329))))
        out.append(("binop_chain_150", Expr(" + ".join([str(v)] + ["0"] * 149))))
        out.append(("big_intermediate_int", Expr(f"2 ** 9000 - 2 ** 9000 + {v}")))
    elif isinstance(v, float):
        out.append(("binop_chain_250", Expr(" + ".join([repr(v)] + ["0"] * 249))))
    elif isinstance(v, str):
        out.append(("binop_chain_250", Expr(" + ".join([py_str(v)] + ["''"] * 249))))
        out.append(("big_intermediate_str", Expr(f"'a' * 200000 * 0 + {py_str(v)}")))
        out.append(("big_str_mul_zero", Expr(f"{py_str(v)} + 'b' * 150000 * 0")))
    elif isinstance(v, list):
        out.append(("big_intermediate_list", Expr(f"[0] * 200000 * 0 + {render_value(v)}")))
    return out


# --------------------------------------------------------------------------- output builders
def wrap_variants(text: str, calls_text_nobr: str):
    """Surface/format variants around an already rendered list of calls."""
    return [
        ("no_outer_brackets", calls_text_nobr),
        ("code_fence", "```\n" + text + "\n```"),
        ("code_fence_python", "```python\n" + text + "\n```"),
        ("code_fence_json", "```json\n" + text + "\n```"),
        ("backticks", "`" + text + "`"),
        ("fence_no_brackets", "```\n" + calls_text_nobr + "\n```"),
        ("leading_trailing_ws", "  \n " + text + " \n\n"),
        ("crlf_trailing", text + "\r\n"),
        ("tab_leading", "\t" + text),
        ("trailing_comma", text[:-1] + ",]" if text.endswith("]") else text + ","),
        ("spaces_in_brackets", "[ " + calls_text_nobr + " ]"),
        ("single_quoted_whole", "'" + text + "'"),
        ("double_quoted_whole", '"' + text + '"'),
        ("trailing_semicolon", text + ";"),
        ("trailing_comment", text + "  # done"),
        ("missing_open_bracket", calls_text_nobr + "]"),
        ("missing_close_bracket", "[" + calls_text_nobr),
        ("prose_prefix", "Sure, here is the call: " + text),
        ("prose_prefix_newline", "Here you go:\n" + text),
        ("prose_suffix", text + " Let me know if you need anything else."),
        ("think_tags", "<think>I should call the tool.</think>\n" + text),
        ("tool_call_tags", "<tool_call>\n" + text + "\n</tool_call>"),
        ("TOOLCALL_tags", "<TOOLCALL>" + text + "</TOOLCALL>"),
        ("double_brackets", "[" + text + "]"),
        ("tuple_of_calls", "(" + calls_text_nobr + ",)"),
        ("subscripted_list", text + "[0]"),
        ("two_lists", text + text),
        ("list_plus_list", text + " + " + text),
        ("null_byte", text + "\x00"),
        ("newline_joined_calls", calls_text_nobr.replace("), ", ")\n")),
        ("semicolon_joined_calls", calls_text_nobr.replace("), ", "); ")),
        ("bom_prefix", "\ufeff" + text),
        ("nbsp_prefix", "\u00a0" + text),
        ("formfeed_prefix", "\x0c" + text),
        ("formfeed_inside", "[\x0c" + calls_text_nobr + "]"),
        ("vertical_tab_suffix", text + "\x0b"),
        ("cr_prefix", "\r\n" + text),
        ("eot_token_suffix", text + "<|eot_id|>"),
        ("eos_token_suffix", text + "</s>"),
        ("literal_backslash_n", text + "\\n"),
        ("comment_line_inside", "[  # calls follow\n" + calls_text_nobr + "\n]"),
        ("line_continuation", "[" + calls_text_nobr.replace("), ", "), \\\n") + "]"),
        ("nested_fence", "```\n```\n" + text + "\n```\n```"),
        ("fence_space_lang", "``` python\n" + text + "\n```"),
        ("backticks_no_brackets", "`" + calls_text_nobr + "`"),
        ("triple_backticks_inline", "```" + text + "```"),
    ]


def truncations(text: str, rng: random.Random):
    out = []
    if len(text) > 2:
        for frac in (0.3, 0.6, 0.9):
            cut = max(1, int(len(text) * frac))
            out.append((f"truncated_{int(frac * 100)}", text[:cut]))
        out.append(("truncated_last_char", text[:-1]))
        out.append(("truncated_last_two", text[:-2]))
        i = rng.randrange(1, len(text))
        out.append(("truncated_random", text[:i]))
    return out


def json_variants(calls):
    out = []
    try:
        out.append(("json_name_arguments", json.dumps([{"name": n, "arguments": a} for n, a in calls])))
        out.append(("json_name_parameters_obj", json.dumps({"name": calls[0][0], "parameters": calls[0][1]}) if calls else "{}"))
        out.append(("json_fn_to_args", json.dumps([{n: a} for n, a in calls])))
        out.append(("tool_call_json", "\n".join("<tool_call>\n" + json.dumps({"name": n, "arguments": a}) + "\n</tool_call>" for n, a in calls)))
        out.append(("json_in_fence", "```json\n" + json.dumps([{"name": n, "arguments": a} for n, a in calls], indent=2) + "\n```"))
    except (TypeError, ValueError):
        pass
    return out


def generic_malformed(rng: random.Random, fname: str, pname: str):
    """Outputs that do not depend on the ground truth."""
    fn = fname
    p = pname or "x"
    out = [
        ("empty_string", ""),
        ("whitespace_only", "  \n\t "),
        ("empty_list", "[]"),
        ("empty_list_spaced", "[ ]"),
        ("empty_fence", "```\n```"),
        ("fenced_empty_list", "```\n[]\n```"),
        ("list_of_empty_dict", "[{}]"),
        ("empty_dict", "{}"),
        ("none_literal", "None"),
        ("list_of_none", "[None]"),
        ("number", "42"),
        ("string_literal", "'hello'"),
        ("prose", "I'm sorry, but I can't help with that request."),
        ("prose_parens", "The result (approximately) is 42."),
        ("prose_with_brackets", "[Note] No function is needed here."),
        ("prose_mentions_fn", f"You could use {fn} for this, but more details are needed."),
        ("question_back", f"Could you please provide the value for {p}?"),
        ("no_args_call", f"{fn}()"),
        ("no_args_call_bracketed", f"[{fn}()]"),
        ("unknown_function", f"unknown_function({p}=1)"),
        ("positional_only", f"{fn}(1, 'a')"),
        ("positional_then_kw", f"{fn}('a', {p}='b')"),
        ("star_args", f"{fn}(*args)"),
        ("double_star_kwargs", f"{fn}(**kwargs)"),
        ("double_star_dict", f"{fn}(**{{'{p}': 1}})"),
        ("repeated_keyword", f"{fn}({p}=1, {p}=2)"),
        ("attribute_callee", f"functions.{fn}({p}='a')"),
        ("subscript_callee", f"tools[0].{fn}({p}='a')"),
        ("call_of_call", f"{fn}()({p}='a')"),
        ("walrus", f"{fn}({p}=(y := 1))"),
        ("compare_value", f"{fn}({p}=1 < 2)"),
        ("boolop_value", f"{fn}({p}=True and False)"),
        ("listcomp_value", f"{fn}({p}=[i for i in range(3)])"),
        ("genexp_value", f"{fn}({p}=(i for i in range(3)))"),
        ("dictcomp_value", f"{fn}({p}={{k: 1 for k in 'ab'}})"),
        ("lambda_value", f"{fn}({p}=lambda x: x)"),
        ("fstring_value", f"{fn}({p}=f'{{y}}')"),
        ("set_value", f"{fn}({p}={{1, 2}})"),
        ("empty_set_call", f"{fn}({p}=set())"),
        ("attr_value", f"{fn}({p}=a.b)"),
        ("attr_chain_value", f"{fn}({p}=a.b.c)"),
        ("subscript_value", f"{fn}({p}=a[0])"),
        ("slice_value", f"{fn}({p}=a[1:2])"),
        ("name_value", f"{fn}({p}=some_variable)"),
        ("binop_value", f"{fn}({p}=1+2)"),
        ("binop_str_value", f"{fn}({p}='a' + 'b')"),
        ("binop_name_value", f"{fn}({p}=a + 1)"),
        ("div_zero_value", f"{fn}({p}=1/0)"),
        ("neg_value", f"{fn}({p}=-5)"),
        ("pos_value", f"{fn}({p}=+5)"),
        ("invert_value", f"{fn}({p}=~5)"),
        ("not_true_value", f"{fn}({p}=not True)"),
        ("neg_name_value", f"{fn}({p}=-x)"),
        ("double_neg_value", f"{fn}({p}=--5)"),
        ("neg_str_value", f"{fn}({p}=-'a')"),
        ("not_str_value", f"{fn}({p}=not 'a')"),
        ("ellipsis_value", f"{fn}({p}=...)"),
        ("bytes_value", f"{fn}({p}=b'x')"),
        ("complex_value", f"{fn}({p}=2j)"),
        ("starred_list_value", f"{fn}({p}=[*a])"),
        ("dict_unpack_value", f"{fn}({p}={{**a}})"),
        ("dict_list_key", f"{fn}({p}={{[1]: 2}})"),
        ("nested_call_value", f"{fn}({p}=inner(q=1))"),
        ("nested_call_pos_value", f"{fn}({p}=inner(1))"),
        ("ifexp_value", f"{fn}({p}=1 if True else 2)"),
        ("await_value", f"{fn}({p}=await g())"),
        ("yield_value", f"{fn}({p}=(yield))"),
        ("deep_list_40", f"{fn}({p}=" + "[" * 40 + "1" + "]" * 40 + ")"),
        ("deep_list_250", f"{fn}({p}=" + "[" * 250 + "1" + "]" * 250 + ")"),
        ("deep_dict_30", f"{fn}({p}=" + "{'a': " * 30 + "1" + "}" * 30 + ")"),
        ("deep_paren_150", f"{fn}({p}=" + "(" * 150 + "1" + ")" * 150 + ")"),
        ("unbalanced_extra_close", f"[{fn}({p}=1))]"),
        ("unbalanced_missing_paren", f"[{fn}({p}=1]"),
        ("unbalanced_open", f"[[{fn}({p}=1)]"),
        ("unterminated_string", f"[{fn}({p}='abc)]"),
        ("python_statement", f"result = {fn}({p}=1)"),
        ("python_def", "def f():\n    pass"),
        ("import_stmt", "import os"),
        ("tool_call_tag_python", f"<tool_call>{fn}({p}=1)</tool_call>"),
        ("xml_functions", f"<functions><function name=\"{fn}\"><param name=\"{p}\">1</param></function></functions>"),
        ("json_call", json.dumps([{"name": fn, "arguments": {p: 1}}])),
        ("mixed_list_call_and_int", f"[{fn}({p}=1), 5]"),
        ("mixed_list_call_and_str", f"[{fn}({p}=1), 'done']"),
        ("list_with_dict", f"[{{'{fn}': {{'{p}': 1}}}}]"),
        ("keyword_fn_name", f"[print({p}=1)]"),
        ("unicode_name", f"[fünction({p}=1)]"),
        ("fullwidth_paren", f"[{fn}（{p}=1）]"),
        ("huge_string", f"{fn}({p}='" + "a" * 50000 + "')"),
        ("huge_list", f"{fn}({p}=[" + ", ".join(str(i) for i in range(3000)) + "])"),
        ("many_calls", "[" + ", ".join(f"{fn}({p}={i})" for i in range(60)) + "]"),
        ("trailing_comma_in_call", f"[{fn}({p}=1,)]"),
        ("double_comma_list", f"[{fn}({p}=1),,]"),
        ("octal_binary_values", f"[{fn}({p}=0o17, q=0b101)]"),
        ("float_overflow_literal", f"[{fn}({p}=1e400)]"),
        ("leading_zero_int", f"[{fn}({p}=007)]"),
        ("unicode_escape_value", f"[{fn}({p}='caf\\u00e9')]"),
        ("named_unicode_escape", f"[{fn}({p}='\\N{{DEGREE SIGN}}')]"),
        ("dict_name_key", f"[{fn}({p}={{key: 1}})]"),
        ("dict_dup_key", f"[{fn}({p}={{'a': 1, 'a': 2}})]"),
        ("dict_bool_int_keys", f"[{fn}({p}={{True: 'a', 1: 'b'}})]"),
        ("dict_tuple_key", f"[{fn}({p}={{(1, 2): 'a'}})]"),
        ("list_of_calls_value", f"[{fn}({p}=[g(a=1), h()])]"),
        ("nested_tuple_value", f"[{fn}({p}=(1, (2, 3)))]"),
        ("soft_keyword_args", f"[{fn}(match=1, case=2, type=3)]"),
        ("subscript_called", f"[a[0]({p}=1)]"),
        ("string_method_callee", f"['abc'.upper({p}=1)]"),
        ("keyword_is_py_keyword", f"[{fn}(class=1)]"),
        ("bytes_escape_value", f"[{fn}({p}=b'\\xff')]"),
        ("neg_zero_float", f"[{fn}({p}=-0.0)]"),
        ("neg_complex", f"[{fn}({p}=-1j)]"),
        ("neg_bool", f"[{fn}({p}=-False)]"),
        ("percent_format_value", f"[{fn}({p}='%s-%d' % ('a', 1))]"),
        ("set_binop_value", f"[{fn}({p}={{1}} | {{2}})]"),
        ("dict_binop_value", f"[{fn}({p}={{'a': 1}} | {{'b': 2}})]"),
        ("matmul_value", f"[{fn}({p}=1 @ 2)]"),
        ("bytes_concat_value", f"[{fn}({p}=b'a' + b'b')]"),
        ("str_mul_neg_value", f"[{fn}({p}='ab' * -1)]"),
        ("float_pow_overflow", f"[{fn}({p}=2.0 ** 10000)]"),
        ("zero_pow_neg", f"[{fn}({p}=0 ** -1)]"),
        ("neg_base_pow", f"[{fn}({p}=(-8) ** 0.5)]"),
        ("bool_arith_value", f"[{fn}({p}=True + True)]"),
        ("shift_value", f"[{fn}({p}=1 << 10)]"),
        ("big_int_literal", f"[{fn}({p}=" + "9" * 5000 + ")]"),
        ("big_int_pow", f"[{fn}({p}=10 ** 5000)]"),
    ]
    return out


def build_ast_rows(entry, gt, category, rng: random.Random):
    """Return a list of (kind, output) for one AST entry."""
    functions = entry["function"]
    rows = []

    def add(kind, out):
        rows.append((kind, out))

    base = gt_calls(gt, "first", rng)
    base_text = render_calls(base)
    base_nobr = render_calls(base, brackets=False)

    # ---------------- gold variants
    add("gold:first", base_text)
    add("gold:drop_optional", render_calls(gt_calls(gt, "drop_optional", rng)))
    add("gold:last_alternative", render_calls(gt_calls(gt, "last", rng)))
    max_alt = max((len(non_empty(v)) for c in gt for a in c.values() for v in a.values()), default=1)
    for k in range(1, min(max_alt, 4)):
        add(f"gold:alternative_{k}", render_calls(gt_calls(gt, "alt", rng, k)))
    add("gold:random_pick", render_calls(gt_calls(gt, "random", rng)))
    add("gold:random_pick_2", render_calls(gt_calls(gt, "random", rng)))
    add("gold:double_quotes", render_calls(base, Style(quote='"')))
    add("gold:compact", render_calls(base, Style(sep=",")))
    add("gold:spaced_kw", render_calls(base, Style(kwsep=" = ")))
    add("gold:float_exp", render_calls(base, Style(float_exp=True)))
    add("gold:int_hex", render_calls(base, Style(int_fmt="hex")))
    add("gold:int_underscore", render_calls(base, Style(int_fmt="underscore")))
    add("gold:lists_as_tuples", render_calls(base, Style(tuple_lists=True)))
    shuffled = [(n, dict(rng.sample(list(a.items()), len(a)))) for n, a in base]
    add("gold:kwargs_reordered", render_calls(shuffled))
    if len(base) > 1:
        add("gold:calls_reversed", render_calls(list(reversed(base))))
        add("gold:calls_shuffled", render_calls(rng.sample(base, len(base))))
    pretty = "[\n" + ",\n".join(
        "    " + n + "(\n" + ",\n".join(f"        {k}={render_value(v)}" for k, v in a.items()) + "\n    )" for n, a in base
    ) + "\n]"
    add("gold:pretty_multiline", pretty)
    for label, text in wrap_variants(base_text, base_nobr):
        add(f"format:{label}", text)

    # ---------------- call-level perturbations
    def replace_calls(i, name=None, args=None):
        calls = deep_copy_calls(base)
        if name is not None:
            calls[i] = (name, calls[i][1])
        if args is not None:
            calls[i] = (calls[i][0], args)
        return calls

    ci = rng.randrange(len(base))
    cname, cargs = base[ci]
    fspec = fn_spec(functions, cname) or {}
    props = (fspec.get("parameters") or {}).get("properties", {}) or {}
    required = (fspec.get("parameters") or {}).get("required", []) or []
    answer_params = list(gt[ci][cname].keys())

    add("perturb:wrong_func_name", render_calls(replace_calls(ci, name=cname + "_v2")))
    add("perturb:func_name_case", render_calls(replace_calls(ci, name=cname.upper() if cname.upper() != cname else cname.lower())))
    if "." in cname:
        add("perturb:dotted_to_underscore", render_calls(replace_calls(ci, name=cname.replace(".", "_"))))
        add("perturb:dotted_last_part", render_calls(replace_calls(ci, name=cname.split(".")[-1])))
    elif "_" in cname:
        add("perturb:underscore_to_dot", render_calls(replace_calls(ci, name=cname.replace("_", ".", 1))))
    add("perturb:namespace_prefix", render_calls(replace_calls(ci, name="functions." + cname)))
    others = [f["name"] for f in functions if f.get("name") != cname]
    if others:
        oname = rng.choice(others)
        add("perturb:other_function_same_args", render_calls(replace_calls(ci, name=oname)))
        ofs = fn_spec(functions, oname)
        add("perturb:other_function_synth", render_calls(replace_calls(ci, name=oname, args=synth_args(ofs, rng))))
    add("perturb:synth_args_expected_fn", render_calls(replace_calls(ci, args=synth_args(fspec, rng))))
    add("perturb:synth_all_params_expected_fn", render_calls(replace_calls(ci, args=synth_args(fspec, rng, all_params=True))))
    add("perturb:duplicated_call", render_calls(base + [base[ci]]))
    if len(base) > 1:
        add("perturb:dropped_call", render_calls(base[:ci] + base[ci + 1:]))
        j = (ci + 1) % len(base)
        if base[j][0] == cname and base[j][1] != cargs:
            # swap one parameter between two calls of the same function
            common = [k for k in cargs if k in base[j][1] and cargs[k] != base[j][1][k]]
            if common:
                k = rng.choice(common)
                calls = deep_copy_calls(base)
                calls[ci][1][k], calls[j][1][k] = base[j][1][k], cargs[k]
                add("perturb:parallel_values_swapped", render_calls(calls))
    else:
        add("perturb:no_calls_but_list", "[]")
    add("perturb:call_repeated_twice_nobr", base_nobr + ", " + base_nobr)

    # extra param / unexpected
    a = dict(cargs)
    a["extra_param_xyz"] = "extra"
    add("perturb:extra_param", render_calls(replace_calls(ci, args=a)))
    unlisted = [p for p in props if p not in answer_params]
    if unlisted:
        p = rng.choice(unlisted)
        a = dict(cargs)
        a[p] = synth_value(props[p] or {}, rng)
        add("perturb:unlisted_schema_param", render_calls(replace_calls(ci, args=a)))
    # missing params
    req_present = [p for p in required if p in cargs]
    if req_present:
        p = rng.choice(req_present)
        a = {k: v for k, v in cargs.items() if k != p}
        add("perturb:missing_required", render_calls(replace_calls(ci, args=a)))
    nonopt_nonreq = [p for p in cargs if p not in required and "" not in gt[ci][cname].get(p, [])]
    if nonopt_nonreq:
        p = rng.choice(nonopt_nonreq)
        a = {k: v for k, v in cargs.items() if k != p}
        add("perturb:missing_nonoptional", render_calls(replace_calls(ci, args=a)))
    if cargs:
        add("perturb:no_args", render_calls(replace_calls(ci, args={})))
        # positional variants
        k0 = next(iter(cargs))
        rest = {k: v for k, v in cargs.items() if k != k0}
        parts = [render_call(n, a) for n, a in base]
        parts[ci] = render_call(cname, rest, positional=[cargs[k0]])
        add("malformed:first_arg_positional", "[" + ", ".join(parts) + "]")
        add("malformed:all_positional", "[" + render_call(cname, {}, positional=list(cargs.values())) + "]")
        add("malformed:kwargs_unpack_dict", "[" + cname + "(**" + render_value(cargs) + ")]")
        add("malformed:kwargs_plus_unpack", "[" + render_call(cname, cargs)[:-1] + (", " if cargs else "") + "**extra)]")

    # per-parameter value perturbations: pick up to 3 parameters of the chosen call
    params_here = list(cargs.keys())
    rng.shuffle(params_here)
    for p in params_here[:3]:
        v = cargs[p]
        w = mutate_wrong_value(v, rng)
        if w is not None:
            a = dict(cargs)
            a[p] = w
            add(f"perturb:wrong_value:{type(v).__name__}", render_calls(replace_calls(ci, args=a)))
        alts = non_empty(gt[ci][cname].get(p, []))
        if len(alts) > 1:
            # every acceptable value of this parameter, others fixed
            for alt in alts[:4]:
                a = dict(cargs)
                a[p] = alt
                add("gold:each_acceptable_value", render_calls(replace_calls(ci, args=a)))
        evs = expr_variants(v, rng)
        rng.shuffle(evs)
        for label, nv in evs[:6]:
            a = dict(cargs)
            a[p] = nv
            add(f"value:{type(v).__name__}:{label}", render_calls(replace_calls(ci, args=a)))
        if isinstance(v, str):
            svs = string_variants(v)
            rng.shuffle(svs)
            for label, nv in svs[:4]:
                a = dict(cargs)
                a[p] = nv
                add(f"string:{label}", render_calls(replace_calls(ci, args=a)))
        for label, nv in eval_variants(v):
            a = dict(cargs)
            a[p] = nv
            add(f"eval:{type(v).__name__}:{label}", render_calls(replace_calls(ci, args=a)))
        for label, nv in limit_variants(v):
            a = dict(cargs)
            a[p] = nv
            add(f"limits:{type(v).__name__}:{label}", render_calls(replace_calls(ci, args=a)))
        if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            svs = string_variants(v[0])
            rng.shuffle(svs)
            for label, nv in svs[:2]:
                a = dict(cargs)
                a[p] = [nv] + v[1:]
                add(f"list_string:{label}", render_calls(replace_calls(ci, args=a)))
        if isinstance(v, dict) and v:
            k = next(iter(v))
            if isinstance(v[k], str):
                svs = string_variants(v[k])
                rng.shuffle(svs)
                for label, nv in svs[:2]:
                    a = dict(cargs)
                    a[p] = {**v, k: nv}
                    add(f"dict_string:{label}", render_calls(replace_calls(ci, args=a)))
    # optional params with "" only: providing them / providing empty values
    for p, vals in gt[ci][cname].items():
        if "" in vals and p in props:
            a = dict(cargs)
            spec = props.get(p) or {}
            t = spec.get("type")
            empty = {"string": "", "array": [], "dict": {}, "tuple": [], "integer": 0, "float": 0.0, "boolean": False}.get(t, "")
            a[p] = empty
            add(f"optional:empty_value:{t}", render_calls(replace_calls(ci, args=a)))
            if "default" in spec and spec["default"] is not None:
                a = dict(cargs)
                a[p] = spec["default"]
                add("optional:schema_default", render_calls(replace_calls(ci, args=a)))
            break

    # ---------------- whole-output size / count limits (kept for a seeded ~4% of entries)
    if rng.random() < 0.04:
        add("huge:whitespace_padded_200k", base_text[:-1] + " " * 200_005 + "]")
        add("huge:newline_padded_200k", base_text[:-1] + "\n" * 200_005 + "]")
    add("limits:whitespace_padded_10k", base_text[:-1] + " " * 10_000 + "]")
    if rng.random() < 0.1:
        add("huge:calls_513", "[" + ", ".join([base_nobr] * (513 // len(base) + 1)) + "]")
    add("limits:nested_call_value_120", render_calls(replace_calls(ci, args={**cargs, (params_here[0] if params_here else "x"): Expr("g(y=" * 120 + "1" + ")" * 120)})))

    # ---------------- malformed on the base text
    for label, text in truncations(base_text, rng):
        add(f"malformed:{label}", text)
    for label, text in json_variants(base):
        add(f"malformed:{label}", text)
    pname = params_here[0] if params_here else (next(iter(props)) if props else "x")
    gm = generic_malformed(rng, cname, pname)
    rng.shuffle(gm)
    for label, text in gm[:14]:
        add(f"malformed:{label}", text)
    return apply_quotas(rows, AST_QUOTAS, rng)


def build_relevance_rows(entry, category, rng: random.Random):
    functions = entry["function"] or []
    rows = []

    def add(kind, out):
        rows.append((kind, out))

    if functions:
        f0 = rng.choice(functions)
        calls = [(f0["name"], synth_args(f0, rng))]
        text = render_calls(calls)
        nobr = render_calls(calls, brackets=False)
        add("rel_call:synth_required", text)
        add("rel_call:synth_all_params", render_calls([(f0["name"], synth_args(f0, rng, all_params=True))]))
        add("rel_call:no_args", f"[{f0['name']}()]")
        add("rel_call:double_quotes", render_calls(calls, Style(quote='"')))
        if len(functions) > 1:
            f1 = rng.choice(functions)
            add("rel_call:two_calls", render_calls(calls + [(f1["name"], synth_args(f1, rng))]))
        add("rel_call:unknown_fn", render_calls([("not_a_listed_function", {"q": "x"})]))
        wv = wrap_variants(text, nobr)
        rng.shuffle(wv)
        for label, t in wv[:10]:
            add(f"format:{label}", t)
        for label, t in truncations(text, rng)[:3]:
            add(f"malformed:{label}", t)
        for label, t in json_variants(calls)[:2]:
            add(f"malformed:{label}", t)
        params = list(calls[0][1].keys()) or list(((f0.get("parameters") or {}).get("properties") or {}).keys())
        p = params[0] if params else "x"
        fname = f0["name"]
        if calls[0][1]:
            v = calls[0][1][p] if p in calls[0][1] else "x"
            evs = expr_variants(v, rng)
            rng.shuffle(evs)
            for label, nv in evs[:5]:
                a = dict(calls[0][1])
                a[p] = nv
                add(f"value:{type(v).__name__}:{label}", render_calls([(fname, a)]))
            for grp, variants in (("eval", eval_variants(v)), ("limits", limit_variants(v))):
                for label, nv in variants:
                    a = dict(calls[0][1])
                    a[p] = nv
                    add(f"{grp}:{type(v).__name__}:{label}", render_calls([(fname, a)]))
        if rng.random() < 0.1:
            add("huge:calls_513", "[" + ", ".join([nobr] * 513) + "]")
        add("limits:nested_call_value_120", f"[{fname}({p}=" + "g(y=" * 120 + "1" + ")" * 120 + ")]")
        add("limits:binop_chain_300", f"[{fname}({p}=" + " + ".join(["1"] * 300) + ")]")
        add("limits:eval_call_in_binop", f"[{fname}({p}=len('ab') + 1)]")
        if rng.random() < 0.04:
            add("huge:whitespace_padded_200k", text[:-1] + " " * 200_005 + "]")
    else:
        fname, p = "search_web", "query"
        add("rel_call:no_functions_call", "[search_web(query='x')]")
    gm = generic_malformed(rng, fname, p)
    rng.shuffle(gm)
    for label, t in gm[:14]:
        add(f"malformed:{label}", t)
    return apply_quotas(rows, REL_QUOTAS, rng)


# Per-entry caps on how many rows of each kind group are kept (a seeded sample; the
# groups not listed are kept whole). Every variant kind still occurs across entries.
AST_QUOTAS = {"format": 7, "value": 7, "string": 4, "list_string": 2, "dict_string": 2, "malformed": 10, "gold": 12,
              "eval": 2, "limits": 2}
REL_QUOTAS = {"format": 5, "value": 3, "malformed": 10, "eval": 1, "limits": 2}


def apply_quotas(rows, quotas, rng):
    groups = collections.defaultdict(list)
    for i, (kind, _) in enumerate(rows):
        groups[kind.split(":")[0]].append(i)
    keep = set()
    for g, idx in groups.items():
        q = quotas.get(g)
        if q is None or len(idx) <= q:
            keep.update(idx)
        else:
            keep.update(rng.sample(idx, q))
    return [r for i, r in enumerate(rows) if i in keep]


# --------------------------------------------------------------------------- synthetic probes
# Hand-made (schema, possible answer) pairs that reach the corners of the official type /
# value checker which the BFCL data only touches rarely: "variable" answers whose type differs
# from the schema type, nested element types, optional ("") answers for arrays / dicts,
# list-of-dict answers, int/float/bool confusion, strings vs standardisation, and the greedy
# matching of the parallel checker.
SYNTH_SCHEMAS = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "float": {"type": "float"},
    "boolean": {"type": "boolean"},
    "any": {"type": "any"},
    "array_string": {"type": "array", "items": {"type": "string"}},
    "array_integer": {"type": "array", "items": {"type": "integer"}},
    "array_float": {"type": "array", "items": {"type": "float"}},
    "array_dict": {"type": "array", "items": {"type": "dict", "properties": {"k": {"type": "string"}, "n": {"type": "integer"}}}},
    "array_array": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    "array_no_items": {"type": "array"},
    "tuple_integer": {"type": "tuple", "items": {"type": "integer"}},
    "dict": {"type": "dict", "properties": {"k": {"type": "string"}, "n": {"type": "integer"}}},
    "dict_no_props": {"type": "dict"},
    "no_type": {"description": "untyped"},
}
SYNTH_ANSWERS = {
    "string": [["abc"], ["abc", ""], ["New York, NY", "NYC"], [5], [""], ["ABC def"], [None, "x"]],
    "integer": [[5], [5, ""], ["x"], [5.0], [True], [0, 1], [-3]],
    "float": [[2.5], [5], [5.0, ""], ["y"], [0.1], [1e20]],
    "boolean": [[True], [False, ""], [1], ["true"]],
    "any": [["abc"], [5], [[1, 2]]],
    "array_string": [[["a", "b"]], [["a", "b"], ""], [[]], ["var"], [["A b"]], [["a"], ["b", "a"]]],
    "array_integer": [[[1, 2]], [[1.0, 2.0]], [[1, 2], [2, 1]], [[1, 2], ""]],
    "array_float": [[[1.5]], [[1, 2]], [[1.0, 2.0]]],
    "array_dict": [[[{"k": ["v"], "n": [1]}]], [[{"k": ["v", ""], "n": [1, ""]}], ""], [[{"k": ["v"], "n": [1]}, {"k": ["w"], "n": [2]}]], [""]],
    "array_array": [[[[1], [2]]], [[[1, 2]], ""]],
    "array_no_items": [[[1, 2]]],
    "tuple_integer": [[[1, 2]], [[1, 2], ""]],
    "dict": [[{"k": ["v"], "n": [1, ""]}], [{"k": ["v"], "n": [1]}, ""], [""], [{"k": ["V a"], "n": [1]}], [{"k": ["v", "w"], "n": [1, 2]}]],
    "dict_no_props": [[{"k": ["v"]}]],
    "no_type": [["abc"], [5]],
}
SYNTH_VALUES = [
    5, 5.0, 2.5, 0, 1, -3, True, False, 1e20, 0.1, Expr("0.1 + 0.2"), "5", "abc", "ABC", " a b c ", "a.b,c", "ABC-def", "",
    ".", None, "x", "var", "true", "New York, NY", "NYC", [], ["a", "b"], ["A", "B"], ("a", "b"), ["b", "a"],
    [1, 2], [1.0, 2.0], [2, 1], (1, 2), [1], ["a", 1], [["a"]], [[1], [2]], [[1, 2]], [[1.0], [2]], ["A b"], ["a b"],
    {"k": "v"}, {"k": "V"}, {"k": " v "}, {"k": "v", "n": 1}, {"k": "v", "n": 1.0}, {"k": "v", "n": True},
    {"k": "v", "x": 1}, {}, {"n": 1}, {"k": ["v"]}, {"k": "va", "n": 1}, {"k": "V A", "n": 1},
    [{"k": "v", "n": 1}], [{"k": "V", "n": 1}], [{"k": "v"}], [{"k": "v", "n": 1}, {"k": "w", "n": 2}],
    [{"k": "w", "n": 2}, {"k": "v", "n": 1}], [{"k": "v", "n": 1}, "x"], ["x"], [{}],
    Expr("abc"), Expr("var"), Expr("x"), Expr("1j"), Expr("b'abc'"), Expr("..."), Expr("-5"), Expr("+5"), Expr("not 1"),
    Expr("{'k': 'v', 'k': 'w'}"), Expr("{k: 'v'}"), Expr("{1: 'v'}"), Expr("{(1, 2): 'v'}"),
]


def synthetic_rows(seed: int):
    rng = random.Random(f"{seed}|synthetic")
    n = 0
    cats = ["simple_python", "multiple", "parallel"]
    for sname, spec in SYNTH_SCHEMAS.items():
        for ai, ans in enumerate(SYNTH_ANSWERS[sname]):
            fdoc = {"name": "probe", "description": "synthetic probe",
                    "parameters": {"type": "dict", "required": ["p"] if ai % 2 == 0 else [],
                                   "properties": {"p": spec, "q": {"type": "integer"}}}}
            other = {"name": "other.fn", "description": "another function",
                     "parameters": {"type": "dict", "required": [], "properties": {"p": spec}}}
            pa = [{"probe": {"p": ans, "q": ["", 1]}}]
            for vi, val in enumerate(SYNTH_VALUES):
                cat = cats[(ai + vi) % len(cats)]
                functions = [fdoc] if cat != "multiple" else [other, fdoc]
                out = render_calls([("probe", {"p": val})])
                yield ({"row_id": f"synthetic#{n}", "entry_id": f"synthetic_{sname}_{ai}", "kind": f"synthetic:{sname}",
                        "category": "synthetic_" + cat},
                       {"functions": functions, "output": out, "possible_answer": pa, "category": cat})
                n += 1
            for extra in ("[probe()]", "[probe(q=1)]", "[probe(p=5, q=1.0)]", "[probe(p=5, q=True)]"):
                yield ({"row_id": f"synthetic#{n}", "entry_id": f"synthetic_{sname}_{ai}", "kind": "synthetic:missing_or_extra",
                        "category": "synthetic_simple_python"},
                       {"functions": [fdoc], "output": extra, "possible_answer": pa, "category": "simple_python"})
                n += 1
    # greedy matching of the parallel checker: overlapping acceptable sets
    fdoc = {"name": "probe", "description": "synthetic probe",
            "parameters": {"type": "dict", "required": ["p"], "properties": {"p": {"type": "integer"}}}}
    sets = [[1], [2], [1, 2], [1, 2, 3], [3, ""], [2, 3]]
    for a in sets:
        for b in sets:
            for c in sets[:3]:
                pa = [{"probe": {"p": a}}, {"probe": {"p": b}}, {"probe": {"p": c}}]
                for vals in ((1, 2, 3), (2, 1, 3), (1, 1, 2), (3, 2, 1), (2, 2, 1), (1, 2, 2)):
                    cat = rng.choice(["parallel", "live_parallel", "parallel_multiple", "live_parallel_multiple"])
                    out = render_calls([("probe", {"p": v}) for v in vals])
                    yield ({"row_id": f"synthetic#{n}", "entry_id": "synthetic_parallel_greedy", "kind": "synthetic:parallel_greedy",
                            "category": "synthetic_parallel"},
                           {"functions": [fdoc], "output": out, "possible_answer": pa, "category": cat})
                    n += 1


def generate(data_dir: Path, seed: int, categories=ALL_CATEGORIES):
    """Yield (meta, row) in a deterministic order."""
    for cat in categories:
        if cat == "synthetic":
            yield from synthetic_rows(seed)
            continue
        entries, answers = load_category(data_dir, cat)
        for entry in entries:
            eid = entry["id"]
            rng = random.Random(f"{seed}|{eid}")
            if cat in AST_CATEGORIES:
                gt = answers.get(eid)
                if gt is None:
                    continue
                produced = build_ast_rows(entry, gt, cat, rng)
                pa = gt
            else:
                produced = build_relevance_rows(entry, cat, rng)
                pa = None
            seen = set()
            n = 0
            for kind, out in produced:
                if out in seen:
                    continue
                seen.add(out)
                meta = {"row_id": f"{eid}#{n}", "entry_id": eid, "kind": kind, "category": cat}
                row = {"functions": entry["function"], "output": out, "possible_answer": pa, "category": cat}
                n += 1
                yield meta, row


# --------------------------------------------------------------------------- verdicts
def run_official(rows_path: Path, out_path: Path, bfcl_python: str, model_name: str):
    cmd = [bfcl_python, str(WORKER), "--input", str(rows_path), "--output", str(out_path), "--model-name", model_name]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"official worker failed (rc={proc.returncode})")
    verdicts = load_jsonl(out_path)
    return verdicts, time.time() - t0


def run_ours_inprocess(rows):
    from toolace_r.checker import check  # noqa: WPS433 (runtime import: the lead's module)

    out = []
    t0 = time.time()
    for r in rows:
        try:
            v = check(r["output"], r["functions"], r["possible_answer"], r["category"], mode="bfcl")
            out.append({"valid": bool(v.valid), "error_type": v.error_type or "", "crash": False, "crash_msg": ""})
        except Exception as exc:  # our bug: counted as a disagreement
            out.append({"valid": None, "error_type": "ours_crash", "crash": True, "crash_msg": f"{type(exc).__name__}: {exc}"[:300]})
    return out, time.time() - t0


def run_ours_cli(rows_path: Path, out_path: Path):
    exe = Path(sys.executable).parent / "toolace-r"
    cmd = [str(exe) if exe.exists() else "toolace-r", "score", str(rows_path), "-o", str(out_path)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"toolace-r score failed (rc={proc.returncode})")
    res = []
    for r in load_jsonl(out_path):
        res.append({"valid": r.get("valid"), "error_type": r.get("error_type", "") or "", "crash": False, "crash_msg": ""})
    return res, time.time() - t0


def kind_group(kind: str) -> str:
    parts = kind.split(":")
    return parts[0]


def pct(a, b):
    return f"{100.0 * a / b:.3f}%" if b else "n/a"


# Kind groups that deliberately probe behaviour outside a bounded, eval-free decoder (Python
# ``eval`` of arbitrary BinOp operands; input size / call count / nesting / fold-size limits).
# They are reported separately as well as in the overall figure.
BOUNDARY_GROUPS = frozenset({"eval", "limits", "huge"})


def summarize(metas, rows, off, ours, out_dir: Path, max_examples=5, full_records_per_pattern=20):
    tot = collections.Counter()
    agree = collections.Counter()
    et_tot = collections.Counter()
    et_agree = collections.Counter()
    crashes = collections.Counter()
    by_cat = collections.defaultdict(lambda: [0, 0])
    by_group = collections.defaultdict(lambda: [0, 0])
    by_kind = collections.defaultdict(lambda: [0, 0])
    patterns = collections.defaultdict(list)
    official_valid = collections.Counter()
    n_dis = 0
    et_mismatch = collections.Counter()
    with open(out_dir / "disagreements.jsonl", "w", encoding="utf-8") as dfh:
        for idx, (m, r, o, u) in enumerate(zip(metas, rows, off, ours)):
            if o["crash"]:
                crashes[m["category"]] += 1
                continue
            tot["all"] += 1
            official_valid[o["valid"]] += 1
            ok = (u["valid"] is not None) and (bool(u["valid"]) == bool(o["valid"]))
            agree["all"] += ok
            part = "boundary" if kind_group(m["kind"]) in BOUNDARY_GROUPS else "core"
            tot[part] += 1
            agree[part] += ok
            for d, key in ((by_cat, m["category"]), (by_group, kind_group(m["kind"])), (by_kind, m["kind"])):
                d[key][0] += 1
                d[key][1] += ok
            if ok and not o["valid"]:
                et_tot["all"] += 1
                same = u["error_type"] == o["error_type"]
                et_agree["all"] += same
                et_tot[part] += 1
                et_agree[part] += same
                if not same:
                    et_mismatch[(o["error_type"], u["error_type"])] += 1
            if not ok:
                n_dis += 1
                key = (m["kind"], o["valid"], o["error_type"], u["valid"], u["error_type"])
                rec = {
                    **m,
                    "row_index": idx,
                    "official_valid": o["valid"],
                    "official_error_type": o["error_type"],
                    "ours_valid": u["valid"],
                    "ours_error_type": u["error_type"],
                    "ours_crash_msg": u.get("crash_msg", ""),
                    "output": r["output"],
                    "possible_answer": r["possible_answer"],
                    # full function docs for the first records of each pattern; the rest point
                    # at their line (row_index, 0-based) in rows.jsonl
                    "functions": r["functions"] if len(patterns[key]) < full_records_per_pattern else "see rows.jsonl",
                }
                dfh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                if len(patterns[key]) < max_examples:
                    patterns[key].append(m["row_id"] + f"@{idx}")
                else:
                    patterns[key].append(None)

    def table(d):
        return {k: {"rows": v[0], "agree": v[1], "agreement": pct(v[1], v[0])} for k, v in sorted(d.items())}

    summary = {
        "rows_total": len(rows),
        "rows_compared": tot["all"],
        "official_crash": sum(crashes.values()),
        "official_crash_by_category": dict(crashes),
        "official_valid_rows": official_valid[True],
        "official_invalid_rows": official_valid[False],
        "agree": agree["all"],
        "disagree": n_dis,
        "agreement": pct(agree["all"], tot["all"]),
        "core_rows": tot["core"],
        "core_agree": agree["core"],
        "core_agreement": pct(agree["core"], tot["core"]),
        "boundary_groups": sorted(BOUNDARY_GROUPS),
        "boundary_rows": tot["boundary"],
        "boundary_agree": agree["boundary"],
        "boundary_agreement": pct(agree["boundary"], tot["boundary"]),
        "error_type_agreement_when_both_invalid": pct(et_agree["all"], et_tot["all"]),
        "core_error_type_agreement_when_both_invalid": pct(et_agree["core"], et_tot["core"]),
        "boundary_error_type_agreement_when_both_invalid": pct(et_agree["boundary"], et_tot["boundary"]),
        "error_type_mismatches_top": [
            {"official": a, "ours": b, "count": c} for (a, b), c in et_mismatch.most_common(30)
        ],
        "by_category": table(by_cat),
        "by_kind_group": table(by_group),
        "by_kind": table(by_kind),
        "disagreement_patterns": [
            {
                "kind": k[0],
                "official_valid": k[1],
                "official_error_type": k[2],
                "ours_valid": k[3],
                "ours_error_type": k[4],
                "count": len(v),
                "example_row_ids": [x for x in v if x][:max_examples],
            }
            for k, v in sorted(patterns.items(), key=lambda kv: -len(kv[1]))
        ],
    }
    with open(out_dir / "summary.json", "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1, ensure_ascii=False)
    return summary


def print_summary(s, timings):
    print(f"\nrows generated: {s['rows_total']}; compared: {s['rows_compared']}; "
          f"official_crash (excluded): {s['official_crash']} {s['official_crash_by_category']}")
    print(f"official verdicts: {s['official_valid_rows']} valid / {s['official_invalid_rows']} invalid")
    print(f"AGREEMENT (valid flag): {s['agree']}/{s['rows_compared']} = {s['agreement']}  (disagreements: {s['disagree']})")
    print(f"  core kinds (all but {', '.join(s['boundary_groups'])}): {s['core_agree']}/{s['core_rows']} = {s['core_agreement']}")
    print(f"  boundary kinds ({', '.join(s['boundary_groups'])}): {s['boundary_agree']}/{s['boundary_rows']} = {s['boundary_agreement']}")
    print(f"error_type agreement where both invalid: {s['error_type_agreement_when_both_invalid']} "
          f"(core {s['core_error_type_agreement_when_both_invalid']}, boundary {s['boundary_error_type_agreement_when_both_invalid']})")
    print("\nby category:")
    for k, v in s["by_category"].items():
        print(f"  {k:<24} {v['rows']:>7} rows  {v['agreement']:>9}")
    print("\nby kind group:")
    for k, v in s["by_kind_group"].items():
        print(f"  {k:<24} {v['rows']:>7} rows  {v['agreement']:>9}")
    worst = sorted(((k, v) for k, v in s["by_kind"].items() if v["agree"] < v["rows"]), key=lambda kv: kv[1]["agree"] - kv[1]["rows"])
    if worst:
        print("\nkinds with disagreements (worst first):")
        for k, v in worst[:40]:
            print(f"  {k:<48} {v['rows'] - v['agree']:>6} / {v['rows']:<6} disagree")
    if s["disagreement_patterns"]:
        print("\ntop disagreement patterns (kind, official valid/error_type -> ours):")
        for p in s["disagreement_patterns"][:40]:
            print(f"  {p['count']:>6}  {p['kind']:<44} off={p['official_valid']}/{p['official_error_type'] or '-'} "
                  f"ours={p['ours_valid']}/{p['ours_error_type'] or '-'}  e.g. {p['example_row_ids'][:2]}")
    if s["error_type_mismatches_top"]:
        print("\nerror_type mismatches (both invalid) top:")
        for e in s["error_type_mismatches_top"][:15]:
            print(f"  {e['count']:>6}  official={e['official']}  ours={e['ours']}")
    print("\ntimings (s):", json.dumps(timings))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Differential agreement: toolace_r.checker vs official bfcl-eval")
    ap.add_argument("--bfcl-data", default="/tmp/bfcl/unpacked/bfcl_eval/data", help="bfcl_eval/data directory")
    ap.add_argument("--out", default="/tmp/bfcl-diff", help="output directory")
    ap.add_argument("--seed", type=int, default=20260323)
    ap.add_argument("--limit", type=int, default=0, help="keep a deterministic sample of N rows (0 = all)")
    ap.add_argument("--categories", default=",".join(ALL_CATEGORIES))
    ap.add_argument("--bfcl-python", default=os.environ.get("BFCL_PYTHON", "/tmp/bfcl-env/bin/python"))
    ap.add_argument("--model-name", default="Qwen/Qwen3-8B", help="prompt-mode model in bfcl MODEL_CONFIG_MAPPING (underscore_to_dot False)")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--official-only", action="store_true", help="generate + official verdicts, skip ours")
    ap.add_argument("--reuse-official", action="store_true",
                    help="reuse OUT/official.jsonl when it was computed for an identical rows.jsonl")
    ap.add_argument("--ours-cli", action="store_true", help="use `toolace-r score` instead of in-process check()")
    args = ap.parse_args(argv)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    cats = [c for c in args.categories.split(",") if c]
    t0 = time.time()
    pairs = list(generate(Path(args.bfcl_data), args.seed, cats))
    if args.limit and args.limit < len(pairs):
        keep = sorted(random.Random(args.seed).sample(range(len(pairs)), args.limit))
        pairs = [pairs[i] for i in keep]
    metas = [m for m, _ in pairs]
    rows = [r for _, r in pairs]
    rows_path = out_dir / "rows.jsonl"
    with open(rows_path, "w", encoding="utf-8") as fh, open(out_dir / "meta.jsonl", "w", encoding="utf-8") as mh:
        for m, r in pairs:
            fh.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
            mh.write(json.dumps(m, ensure_ascii=False) + "\n")
    t_gen = time.time() - t0
    cat_counts = collections.Counter(m["category"] for m in metas)
    grp_counts = collections.Counter(kind_group(m["kind"]) for m in metas)
    print(f"generated {len(rows)} rows in {t_gen:.1f}s -> {rows_path}")
    print("  by category:", dict(cat_counts))
    print("  by kind group:", dict(grp_counts))
    print(f"  distinct kinds: {len(set(m['kind'] for m in metas))}")
    with open(out_dir / "counts.json", "w") as fh:
        json.dump({"rows": len(rows), "by_category": cat_counts, "by_kind_group": grp_counts,
                   "by_kind": collections.Counter(m["kind"] for m in metas)}, fh, indent=1)
    if args.generate_only:
        return 0

    timings = {"generate": round(t_gen, 2)}
    off_path = out_dir / "official.jsonl"
    stamp_path = out_dir / "official.rows_sha256"
    h = hashlib.sha256()
    with open(rows_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    stamp = f"{h.hexdigest()} {args.model_name}"
    if args.reuse_official and off_path.exists() and stamp_path.exists() and stamp_path.read_text() == stamp:
        off = load_jsonl(off_path)
        print("reusing", off_path, "(same rows.jsonl)")
    else:
        off, t = run_official(rows_path, off_path, args.bfcl_python, args.model_name)
        stamp_path.write_text(stamp)
        timings["official_total_incl_io"] = round(t, 2)
    n_crash = sum(o["crash"] for o in off)
    print(f"official verdicts: {len(off)} rows ({n_crash} official_crash)")
    if args.official_only:
        c = collections.Counter((m["category"], o["valid"], o["error_type"]) for m, o in zip(metas, off))
        for k, v in sorted(c.items(), key=lambda kv: (kv[0][0], -kv[1])):
            print(f"  {v:>7}  {k}")
        return 0

    if args.ours_cli:
        ours, t = run_ours_cli(rows_path, out_dir / "ours.jsonl")
    else:
        ours, t = run_ours_inprocess(rows)
        with open(out_dir / "ours.jsonl", "w") as fh:
            for u in ours:
                fh.write(json.dumps(u) + "\n")
    timings["ours_total"] = round(t, 2)
    s = summarize(metas, rows, off, ours, out_dir)
    print_summary(s, timings)
    print(f"\nwrote {out_dir/'summary.json'}, {out_dir/'disagreements.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    raise SystemExit(main())
