"""BFCL-compatible checking of tool calls.

:func:`check` gives the verdict BFCL's AST evaluation gives to one model output, with BFCL's
error-type labels, for the categories simple, multiple, parallel, parallel_multiple (and their
``live_`` variants: the category name is routed by the words it contains, as BFCL does),
irrelevance and relevance.

The rules (see ``method.md`` section 3):

* decoding: BFCL's prompt-mode decoder for the Python-call format (:func:`toolace_r.calls.decode_bfcl`);
  a decode failure fails an AST entry (``ast_decoder:decoder_failed``) and counts as "no call"
  for irrelevance / relevance;
* simple: exactly one call, checked against the first function description;
  multiple: one call, checked against the function the gold answer names;
  parallel*: as many calls as gold calls, each gold call matched to one unused model call;
* one call: right name, required parameters present, every given parameter both in the schema
  and in the gold answer, its type right (int accepted for float, tuple read as list, array
  elements checked one level deep; a value whose type equals the gold value's type but not the
  schema's counts as a "variable" and is compared as is), its value among the acceptable ones
  (strings compared after :func:`standardize_string`, also inside lists and dict values), and
  every gold parameter not given is optional (``""`` among its values).

Two modes. ``bfcl`` reproduces the official verdicts. ``strict`` decodes every format
:func:`toolace_r.calls.parse_calls` knows (JSON, ``<tool_call>``, fences) and does not credit a
malformed output as a correct abstention on irrelevance (BFCL does: a known weakness).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from toolace_r.calls import Call, DecodeError, _decode_bfcl, parse_calls

Mode = Literal["bfcl", "strict"]

# Schema type name -> Python type. BFCL's names first, then JSON Schema's and Python's.
_PY_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "boolean": bool, "array": list,
    "tuple": list, "dict": dict, "any": str,
    "number": float, "object": dict, "str": str, "int": int, "bool": bool, "list": list,
}
_NESTED_TYPES = frozenset({"array", "tuple", "list"})
_FLOAT_TYPES = frozenset({"float", "number"})
_STRIP_CHARS = str.maketrans("", "", " ,./-_*^")


@dataclass
class Verdict:
    valid: bool
    error_type: str = ""
    errors: list[str] = field(default_factory=list)
    calls: list[Call] | None = None  # None when the output did not decode
    decoded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "error_type": self.error_type, "errors": self.errors}


class _Fail(Exception):
    """A failed check. The message is formatted when it is read (``str``): parallel matching
    throws most failures away unread."""

    def __init__(self, error_type: str, message: str, *args: Any):
        super().__init__(message)
        self.error_type = error_type
        self.fargs = args

    def __str__(self) -> str:
        message = self.args[0]
        return message.format(*self.fargs) if self.fargs else message


def standardize_string(s: str) -> str:
    """Lower case; spaces and ``,./-_*^`` removed; single quotes read as double quotes."""
    return s.translate(_STRIP_CHARS).lower().replace("'", '"')


def is_relevance_category(category: str) -> bool:
    return "relevance" in category  # also matches "irrelevance"


def check(
    output: str,
    functions: list[dict[str, Any]],
    possible_answer: list[dict[str, dict[str, list[Any]]]] | None,
    category: str,
    *,
    mode: Mode = "bfcl",
) -> Verdict:
    """The verdict for one raw model output. Never raises on model output."""
    calls, decode_error, malformed, plain = _decode(output, mode)

    if "relevance" in category:  # is_relevance_category
        has_call = bool(calls)
        if "irrelevance" in category:
            if has_call:
                return Verdict(False, "irrelevance_error:decoder_success",
                               ["Valid syntax. Successfully decoded a call when none should be made."], calls, True)
            if mode == "strict" and malformed:
                return Verdict(False, "irrelevance_error:malformed_output",
                               [f"Output is neither calls nor plain text: {decode_error}"], None, False)
            return Verdict(True, "", [], calls, calls is not None)
        if not has_call:
            return Verdict(False, "relevance_error:decoder_failed",
                           [f"Expected at least one call. {decode_error}".strip()], calls, calls is not None)
        return Verdict(True, "", [], calls, True)

    if calls is None:
        return Verdict(False, "ast_decoder:decoder_failed", [f"Invalid syntax. Failed to decode: {decode_error}"])
    try:
        try:
            _check_ast(functions, calls, possible_answer or [], category, plain)
        except _Fail as f:
            return Verdict(False, f.error_type, [str(f)], calls, True)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError) as e:
        # Malformed gold data or function docs (BFCL itself would crash here), or a value whose
        # repr Python refuses (an int of more than 4300 digits) in a message.
        return Verdict(False, "checker_error:bad_reference", [f"cannot check against this reference: {e!r}"], calls, True)
    return Verdict(True, "", [], calls, True)


def _decode(output: Any, mode: Mode) -> tuple[list[Call] | None, str, bool, bool]:
    """(calls or None, error message, malformed?, plain?). Plain values (read by the
    scanner) have a repr that never fails, so failure messages can wait until read."""
    if mode == "strict":
        r = parse_calls(output)
        if r.status == "calls":
            return r.calls, "", False, False
        return None, r.error, r.status == "malformed", False
    try:
        calls, plain = _decode_bfcl(output)
        return calls, "", False, plain
    except DecodeError as e:
        return None, str(e), True, False


def _check_ast(functions: list[dict], calls: list[Call], answer: list[dict], category: str, plain: bool) -> None:
    if "parallel" in category:
        _check_parallel(functions, calls, answer, plain)
    elif "multiple" in category:
        if len(calls) != len(answer):
            raise _Fail("multiple_function_checker:wrong_count", "Wrong number of functions.")
        _check_call(_find_function(functions, _answer_name(answer[0])), calls[0], answer[0])
    else:
        if len(calls) != 1:
            raise _Fail("simple_function_checker:wrong_count", "Wrong number of functions.")
        _check_call(functions[0], calls[0], answer[0])


def _answer_name(gold: dict) -> str:
    return next(iter(gold))


def _find_function(functions: list[dict], name: str) -> dict:
    for f in functions:
        if f["name"] == name:
            return f
    raise KeyError(f"the gold answer calls {name!r}, which is not among the functions")


def _check_parallel(functions: list[dict], calls: list[Call], answer: list[dict], plain: bool) -> None:
    if len(calls) != len(answer):
        raise _Fail("parallel_function_checker_no_order:wrong_count", "Wrong number of functions.")
    used: set[int] = set()
    for i, gold in enumerate(answer):
        fdoc = _find_function(functions, _answer_name(gold))
        for j, call in enumerate(calls):
            if j in used:
                continue
            try:
                _check_call(fdoc, call, gold)
            except _Fail as f:
                if not plain:
                    str(f)  # as if formatted when raised: a repr that fails fails the check here
                continue
            used.add(j)
            break
        else:
            raise _Fail("parallel_function_checker_no_order:cannot_find_match",
                        "No unused model call matches gold call {} ({}).", i, _answer_name(gold))


_BAD_VALUE = "Invalid value for parameter {!r}: {!r}. Expected one of {}."


def _check_call(fdoc: dict, call: Call, gold: dict) -> None:
    """One model call against one function doc and one gold ``{name: {param: [values]}}``."""
    gold_params: dict[str, list] = next(iter(gold.values()))
    schema = fdoc["parameters"]
    props: dict[str, dict] = schema.get("properties", {})
    if call.name != fdoc["name"]:
        raise _Fail("simple_function_checker:wrong_func_name", "Function name {!r} not found in model output.",
                    fdoc["name"])
    args = call.arguments
    for p in schema.get("required", []):
        if p not in args:
            raise _Fail("simple_function_checker:missing_required", "Missing required parameter: {!r}.", p)

    for p, value in args.items():
        if p not in props or p not in gold_params:
            raise _Fail("simple_function_checker:unexpected_param", "Unexpected parameter: {!r}.", p)
        acceptable = gold_params[p]
        prop = props[p]
        tname = prop.get("type")
        expected = _PY_TYPES.get(tname) if isinstance(tname, str) else None
        if expected is None:  # no or unknown type in the schema: compare values only
            _check_untyped(p, value, acceptable)
            continue
        nested = None
        if tname in _NESTED_TYPES:
            items = prop.get("items")
            item_t = items.get("type") if isinstance(items, dict) else None
            nested = _PY_TYPES.get(item_t) if isinstance(item_t, str) else None
        vtype = type(value)
        if tname == "tuple" and vtype is tuple:
            value = list(value)
            vtype = list
        if vtype is int and tname in _FLOAT_TYPES:
            value = float(value)
            vtype = float

        # the type check (see _check_type): is the value a "variable"?
        if vtype is expected and nested is None:
            if type(acceptable) is list and acceptable and acceptable[0] != "":
                is_variable = type(acceptable[0]) is not expected  # (the first answer type, quickly)
            else:
                answer_type = _first_answer_type(acceptable)
                is_variable = answer_type is not None and answer_type is not expected
        else:
            is_variable = _check_type(p, value, acceptable, tname, expected, nested)
        if not is_variable:
            if expected is str:
                if not _string_in(value, acceptable):
                    raise _Fail("value_error:string", _BAD_VALUE, p, value, acceptable)
                continue
            if expected is dict:
                _check_dict(p, value, acceptable)
                continue
            if expected is list:
                if nested is dict:
                    _check_list_of_dicts(p, value, acceptable)
                else:
                    _check_list(p, value, acceptable)
                continue
        if value not in acceptable:
            raise _Fail("value_error:others", _BAD_VALUE, p, value, acceptable)

    for p, acceptable in gold_params.items():
        if p not in args and "" not in acceptable:
            raise _Fail("simple_function_checker:missing_optional",
                        "Parameter {!r} not provided and not marked as optional.", p)


def _string_in(value: str, acceptable: list) -> bool:
    """standardize_string(value) in [standardize_string(a) for the string answers a]."""
    std = None
    for a in acceptable:
        if type(a) is str:
            if a == value:
                return True
            if std is None:
                std = value.translate(_STRIP_CHARS).lower().replace("'", '"')
            if a.translate(_STRIP_CHARS).lower().replace("'", '"') == std:
                return True
    return False


def _first_answer_type(acceptable: list) -> type | None:
    for a in acceptable:
        if a != "":
            return type(a)
    return None


def _check_type(p: str, value: Any, acceptable: list, tname: str, expected: type, nested: type | None) -> bool:
    """Raise on a type error; return whether the value is a "variable" (see module doc)."""
    answer_type = _first_answer_type(acceptable)
    is_variable = answer_type is not None and answer_type is not expected
    nested_failed = False
    if type(value) is expected:
        if nested is None:
            return is_variable
        types = set(map(type, value))
        for item in acceptable:
            if type(item) is list and not types <= {nested, _first_answer_type(item)}:
                continue  # some element is neither of the nested type nor of the item's answer type
            return is_variable
        nested_failed = True
    if answer_type is not None and type(value) is answer_type:
        if nested_failed:
            raise _Fail("type_error:nested", "Nested type check failed for parameter {!r}: {!r}.", p, value)
        return True
    raise _Fail("type_error:simple", "Incorrect type for parameter {!r}. Expected type {}, got {}.",
                p, tname, type(value).__name__)


def _std(x: Any) -> Any:
    return standardize_string(x) if type(x) is str else x


def _check_untyped(p: str, value: Any, acceptable: list) -> None:
    if type(value) is str:
        ok = _std(value) in [_std(a) for a in acceptable]
    else:
        ok = value in acceptable
    if not ok:
        raise _Fail("value_error:others", _BAD_VALUE, p, value, acceptable)


def _check_list(p: str, value: list, acceptable: list) -> None:
    std_value = [_std(x) for x in value] if str in set(map(type, value)) else value  # (equal lists)
    std_acceptable = [[_std(x) for x in a] for a in acceptable]
    if std_value not in std_acceptable:
        raise _Fail("value_error:list/tuple", _BAD_VALUE, p, value, acceptable)


def _dict_matches(value: dict, gold: Any) -> tuple[bool, str]:
    """(match?, error type). Extra keys and wrong values are looked for first; a missing
    required key is reported last and then wins the label, as in BFCL."""
    if gold == "":
        return False, "dict_checker:unclear"
    ok, error_type = True, ""
    for k, v in value.items():
        if k not in gold:
            ok, error_type = False, "value_error:dict_key"
            break
        if _std(v) not in [_std(a) for a in gold[k]]:
            ok, error_type = False, "value_error:dict_value"
            break
    for k, vals in gold.items():
        if k not in value and "" not in vals:
            ok, error_type = False, "value_error:dict_key"
            break
    return ok, error_type


def _check_dict(p: str, value: dict, acceptable: list) -> None:
    error_type = "dict_checker:unclear"
    for gold in acceptable:
        if gold == "":
            continue
        ok, error_type = _dict_matches(value, gold)
        if ok:
            return
    raise _Fail(error_type, _BAD_VALUE, p, value, acceptable)


def _check_list_of_dicts(p: str, value: list, acceptable: list) -> None:
    error_type = "list_dict_checker:unclear"
    for gold_list in acceptable:
        if len(value) != len(gold_list):
            error_type = "value_error:list_dict_count"
            continue
        for v, g in zip(value, gold_list):
            ok, error_type = _dict_matches(v, g)
            if not ok:
                break
        else:
            return
    raise _Fail(error_type, _BAD_VALUE, p, value, acceptable)
