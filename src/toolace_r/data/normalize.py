"""Tool and call normalisation shared by the readers (:mod:`toolace_r.data.convert`), BFCL
loading and the server: parameter types mapped to JSON Schema (Python-style ``str/int/float/
bool/dict/list/tuple/any``, also ``List[int]`` and ``str, optional``, and BFCL's ``dict/float/
tuple/any`` become ``string/integer/number/boolean/object/array/array/string``), function names
the Python-call format cannot carry rewritten by :func:`safe_name`, tool lists and calls checked
with errors that say what is wrong (:class:`ConvertError`)."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from toolace_r.data.io import summarize_validation_error
from toolace_r.data.schema import ToolCall, ToolSpec


class ConvertError(ValueError):
    """One record cannot be converted; the message says why (the caller adds where)."""


# --------------------------------------------------------------------------------------
# Types and tool schemas

_TYPE_MAP = {
    "str": "string", "string": "string", "text": "string", "char": "string", "any": "string",
    "int": "integer", "integer": "integer", "long": "integer", "short": "integer",
    "float": "number", "double": "number", "number": "number", "decimal": "number",
    "bool": "boolean", "boolean": "boolean",
    "dict": "object", "object": "object", "map": "object", "hashmap": "object", "mapping": "object",
    "list": "array", "array": "array", "tuple": "array", "arraylist": "array", "set": "array",
    "sequence": "array", "null": "null", "none": "null",
}


def map_type(t: str) -> tuple[str, dict[str, Any] | None, bool]:
    """Map a type name to (JSON Schema type, items schema or None, marked optional).

    Understands ``List[int]``, ``list[str]``, ``Dict[str, Any]``, ``Optional[int]``,
    ``str, optional`` and ``int|None``. Unknown names map to ``string`` (like BFCL's any)."""
    s = t.strip()
    optional = False
    low = s.lower()
    if low.endswith(", optional") or low.endswith(",optional"):
        optional = True
        s = s[: s.rfind(",")].strip()
        low = s.lower()
    m = re.fullmatch(r"optional\[(.*)\]", s, flags=re.IGNORECASE)
    if m:
        optional = True
        s = m.group(1).strip()
        low = s.lower()
    if "|" in s:
        parts = [p.strip() for p in s.split("|") if p.strip().lower() not in ("none", "null")]
        if len(parts) < len(s.split("|")):
            optional = True
        s = parts[0] if parts else "any"
        low = s.lower()
    m = re.fullmatch(r"([A-Za-z_]+)\s*\[(.*)\]", s)
    if m:
        outer = _TYPE_MAP.get(m.group(1).lower(), "string")
        if outer == "array":
            inner, _, _ = map_type(m.group(2).split(",")[0])
            return "array", {"type": inner}, optional
        return outer, None, optional
    return _TYPE_MAP.get(low, "string"), None, optional


def normalize_schema(schema: Any) -> Any:
    """A copy of a (JSON or BFCL/Python-typed) schema with every type name mapped to JSON
    Schema, recursively through ``properties`` and ``items``."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, val in schema.items():
        if key == "type" and isinstance(val, str):
            jtype, items, _ = map_type(val)
            out["type"] = jtype
            if items is not None and "items" not in schema:
                out["items"] = items
        elif key == "type" and isinstance(val, list):
            out["type"] = [map_type(v)[0] if isinstance(v, str) else v for v in val]
        elif key == "properties" and isinstance(val, dict):
            out["properties"] = {k: normalize_schema(v) for k, v in val.items()}
        elif key == "items":
            out["items"] = normalize_schema(val) if isinstance(val, dict) else val
        elif key == "required":
            # Some data sets write per-property ``required: true`` or ``required: null``; only a
            # list of names means something at object level.
            if isinstance(val, list):
                out["required"] = val
        else:
            out[key] = val
    if out.get("type") == "object" and isinstance(out.get("properties"), dict) and "required" in out:
        out["required"] = [r for r in out["required"] if isinstance(r, str) and r in out["properties"]]
    return out


def _flat_params_to_schema(params: dict[str, Any]) -> dict[str, Any]:
    """xLAM-style ``{"p": {"type": "str, optional", "default": ...}}`` -> JSON Schema object."""
    props: dict[str, Any] = {}
    required = []
    for name, spec in params.items():
        if not isinstance(spec, dict):
            raise ConvertError(f"parameter {name!r} is not described by an object")
        optional = False
        if isinstance(spec.get("type"), str):
            _, _, optional = map_type(spec["type"])
        props[name] = normalize_schema(spec)
        if not optional and "default" not in spec:
            required.append(name)
    return {"type": "object", "properties": props, "required": required}


def safe_name(name: str) -> str:
    """A function name the Python-call format can carry: runs of characters other than
    letters, digits, ``_`` and ``.`` become ``_`` ("Market Trends API" -> "Market_Trends_API",
    "get-weather" -> "get_weather"); a leading digit gets a ``_`` in front."""
    out = re.sub(r"[^A-Za-z0-9_.]+", "_", name.strip())
    if out and out[0].isdigit():
        out = "_" + out
    return out or name


def tool_from_dict(obj: Any) -> ToolSpec:
    """A :class:`ToolSpec` from an OpenAI tool (``{"type": "function", "function": {...}}``),
    a bare function description, BFCL's ``dict`` schemas or xLAM's flat parameter maps."""
    if not isinstance(obj, dict):
        raise ConvertError(f"a tool must be a JSON object, got {type(obj).__name__}")
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise ConvertError("a tool has no name")
    params = obj.get("parameters")
    if params is None:
        params = obj.get("arguments")  # a few ToolACE-like sets use this key
    if params is None or params == {}:
        schema: dict[str, Any] = {"type": "object", "properties": {}}
    elif not isinstance(params, dict):
        raise ConvertError(f"tool {name!r}: parameters must be an object")
    elif "properties" in params or params.get("type") in ("object", "dict"):
        schema = normalize_schema(params)
        schema["type"] = "object"
        schema.setdefault("properties", {})
        if schema["properties"] is None:
            schema["properties"] = {}
    else:
        schema = _flat_params_to_schema(params)
    desc = obj.get("description") or ""
    try:
        return ToolSpec(name=safe_name(name), description=str(desc), parameters=schema)
    except ValidationError as e:
        raise ConvertError(f"tool {name!r}: {summarize_validation_error(e)}") from None


def tools_from_value(value: Any) -> list[ToolSpec]:
    """Tools from a list, or from a JSON string holding a list (as xLAM and sharegpt store them)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConvertError(f"tools is not valid JSON: {e.msg}") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ConvertError(f"tools must be a list, got {type(value).__name__}")
    tools = [tool_from_dict(t) for t in value]
    seen: dict[str, ToolSpec] = {}
    out = []
    for t in tools:
        if t.name in seen:
            if seen[t.name] != t:
                raise ConvertError(f"two different tools are named {t.name!r}")
            continue  # identical duplicate definitions are common in xLAM; keep one
        seen[t.name] = t
        out.append(t)
    return out


def plain_value(v: Any) -> Any:
    """JSON-friendly copy of a parsed value (tuples become lists)."""
    if isinstance(v, (list, tuple)):
        return [plain_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain_value(x) for k, x in v.items()}
    return v


def make_call(name: Any, args: Any) -> ToolCall:
    if not isinstance(name, str) or not name:
        raise ConvertError("a call has no function name")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            raise ConvertError(f"arguments of {name!r} are not valid JSON: {e.msg}") from None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ConvertError(f"arguments of {name!r} must be an object, got {type(args).__name__}")
    return ToolCall(name=safe_name(name), arguments=plain_value(args))
