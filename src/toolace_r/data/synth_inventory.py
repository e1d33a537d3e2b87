"""The synthetic corpus's world: value pools and tools, read from ``synth_tools.json``.

The inventory is data, shipped in the package next to this module and maintained by hand:
``pools`` (name -> the short values a string or array parameter draws from) and ``tools`` (in a
fixed order; the corpus depends on it). The file's ``about`` entry describes its format; a
parameter lists only the fields that differ from :class:`Param`'s defaults. Loading checks the
shape of every entry and that every parameter can be worded in every phrasing of its tool,
and raises :class:`InventoryError` naming the tool and parameter at fault.
"""

from __future__ import annotations

import dataclasses
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolace_r.data.schema import ToolSpec

INVENTORY_PATH = Path(__file__).with_name("synth_tools.json")
KINDS = ("string", "enum", "integer", "number", "boolean", "array", "object")


class InventoryError(ValueError):
    """The inventory file is malformed, or a tool in it cannot be worded."""


@dataclass
class Param:
    """One parameter: its JSON Schema type and how a request mentions it.

    ``kind``: string | enum | integer | number | boolean | array | object.
    ``phr``: slot patterns with ``{v}`` (object: ``{sub-name}``; boolean: phrases meaning
    True). ``surf``: enum value -> the phrases that name it (default: the value itself)."""

    name: str
    kind: str
    desc: str
    required: bool = True
    phr: list[str] = field(default_factory=list)
    pool: str = ""
    values: list[Any] = field(default_factory=list)
    surf: dict[str, list[str]] = field(default_factory=dict)
    default: Any = None
    lo: float = 0
    hi: float = 0
    step: float = 1
    words: bool = True  # integers up to 20 may be written as words
    items: str = ""  # array: a pool name, or "number"
    n_items: tuple[int, int] = (2, 3)
    sub: list["Param"] = field(default_factory=list)
    distinct: str = ""  # parameters sharing this tag take different values in one call
    phr_false: list[str] = field(default_factory=list)

    def schema(self) -> dict[str, Any]:
        d: dict[str, Any]
        if self.kind == "enum":
            d = {"type": "string", "enum": list(self.values)}
        elif self.kind == "array":
            d = {"type": "array", "items": {"type": "number" if self.items == "number" else "string"}}
        elif self.kind == "object":
            d = {"type": "object", "properties": {s.name: s.schema() for s in self.sub},
                 "required": [s.name for s in self.sub if s.required]}
        else:
            d = {"type": self.kind}
        d["description"] = self.desc
        if not self.required and self.default is not None:
            d["default"] = self.default
        return d

    @property
    def scalar(self) -> bool:
        return self.kind in ("string", "enum", "integer", "number")


@dataclass
class SynthTool:
    """A tool of the inventory. Lookup tools have ``nouns`` (said after a lookup verb, or
    alone in a question frame); action tools have ``acts`` (whole verb phrases). Both may
    hold ``{param}`` placeholders for required parameters."""

    name: str
    domain: str
    desc: str
    params: list[Param]
    nouns: list[str] = field(default_factory=list)
    acts: list[str] = field(default_factory=list)
    held_out: bool = False
    group: str = ""  # tools that could serve the same request (never irrelevance distractors of each other)

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.desc, parameters={
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
        })

    @property
    def lookup(self) -> bool:
        return bool(self.nouns)

    @property
    def key(self) -> str:
        return self.group or self.name


_PARAM_FIELDS = {f.name: f for f in dataclasses.fields(Param)}
_TOOL_KEYS = {"name", "domain", "desc", "params", "nouns", "acts", "held_out", "group"}
# JSON type each optional Param field must have (ints are numbers too)
_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "required": (bool,), "phr": (list,), "pool": (str,), "values": (list,), "surf": (dict,),
    "lo": (int, float), "hi": (int, float), "step": (int, float), "words": (bool,), "items": (str,),
    "n_items": (list,), "sub": (list,), "distinct": (str,), "phr_false": (list,),
}


def _embedded(pattern: str) -> list[str]:
    """The ``{name}`` placeholders of a phrase pattern."""
    return [f for _, f, _, _ in string.Formatter().parse(pattern) if f]


def _read(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InventoryError(f"{path}: cannot read the tool inventory: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pools"), dict) or not isinstance(data.get("tools"), list):
        raise InventoryError(f"{path}: expected an object with 'pools' and 'tools'")
    return data


def load_pools(path: str | Path = INVENTORY_PATH) -> dict[str, list[str]]:
    """The value pools: pool name -> values."""
    pools = _read(str(path))["pools"]
    for name, values in pools.items():
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InventoryError(f"pool {name!r}: expected a non-empty list of strings")
    return {name: list(values) for name, values in pools.items()}


def build_inventory(path: str | Path = INVENTORY_PATH) -> list[SynthTool]:
    """Every tool of the synthetic world, in the file's order (read afresh on each call); validated."""
    data = _read(str(path))
    pools = load_pools(path)
    tools = []
    for i, raw in enumerate(data["tools"]):
        where = f"tool {raw.get('name')!r}" if isinstance(raw, dict) else f"tool #{i}"
        tools.append(_tool(raw, where))
    _validate_inventory(tools, pools)
    return tools


def _tool(raw: object, where: str) -> SynthTool:
    if not isinstance(raw, dict):
        raise InventoryError(f"{where}: expected an object")
    unknown = sorted(set(raw) - _TOOL_KEYS)
    if unknown:
        raise InventoryError(f"{where}: unknown keys {unknown}")
    for key in ("name", "domain", "desc"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise InventoryError(f"{where}: {key!r} must be a non-empty string")
    if not isinstance(raw.get("params"), list):
        raise InventoryError(f"{where}: 'params' must be a list")
    for key in ("nouns", "acts"):
        if not isinstance(raw.get(key, []), list) or not all(isinstance(s, str) for s in raw.get(key, [])):
            raise InventoryError(f"{where}: {key!r} must be a list of strings")
    if not isinstance(raw.get("held_out", False), bool) or not isinstance(raw.get("group", ""), str):
        raise InventoryError(f"{where}: 'held_out' must be true/false and 'group' a string")
    params = [_param(p, where) for p in raw["params"]]
    return SynthTool(raw["name"], raw["domain"], raw["desc"], params, nouns=list(raw.get("nouns", [])),
                     acts=list(raw.get("acts", [])), held_out=raw.get("held_out", False), group=raw.get("group", ""))


def _param(raw: object, tool: str) -> Param:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise InventoryError(f"{tool}: every parameter needs a 'name'")
    where = f"{tool} param {raw['name']!r}"
    unknown = sorted(set(raw) - set(_PARAM_FIELDS))
    if unknown:
        raise InventoryError(f"{where}: unknown keys {unknown}")
    if raw.get("kind") not in KINDS:
        raise InventoryError(f"{where}: kind {raw.get('kind')!r} is not one of {', '.join(KINDS)}")
    if not isinstance(raw.get("desc"), str):
        raise InventoryError(f"{where}: 'desc' must be a string")
    kw: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("name", "kind", "desc"):
            continue
        types = _PARAM_TYPES.get(key)
        if types is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            raise InventoryError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
        kw[key] = value
    if "n_items" in kw:
        n = kw["n_items"]
        if len(n) != 2 or not all(type(k) is int for k in n) or not 0 < n[0] <= n[1]:
            raise InventoryError(f"{where}: 'n_items' must be [min, max] with 0 < min <= max")
        kw["n_items"] = tuple(n)
    if "sub" in kw:
        kw["sub"] = [_param(s, where) for s in kw["sub"]]
    return Param(raw["name"], raw["kind"], raw["desc"], **kw)


def _validate_inventory(tools: list[SynthTool], pools: dict[str, list[str]]) -> None:
    """Every parameter must be wordable in every phrasing of its tool (a bug here would
    make requests that do not say a value the answer holds), and draw from a pool that exists."""
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InventoryError(f"duplicate tool names in the inventory: {dup}")
    for t in tools:
        heads = t.nouns or t.acts
        if not heads or (t.nouns and t.acts):
            raise InventoryError(f"{t.name}: give either nouns or acts")
        for p in t.params:
            _check_values(t.name, p, pools)
        for head in heads:
            inside = set(_embedded(head))
            for p in t.params:
                if p.name in inside and not p.required:
                    raise InventoryError(f"{t.name}: optional {p.name} cannot sit inside {head!r}")
                if p.name in inside and p.kind in ("boolean", "object"):
                    raise InventoryError(f"{t.name}: {p.kind} {p.name} cannot sit inside {head!r}")
                if p.name not in inside and not p.phr:
                    raise InventoryError(f"{t.name}: {p.name} has no slot phrase for {head!r}")
                if p.kind == "boolean" and p.default is None:
                    raise InventoryError(f"{t.name}: boolean {p.name} needs a default")


def _check_values(tool: str, p: Param, pools: dict[str, list[str]]) -> None:
    """What a parameter's values are drawn from exists and is consistent."""
    where = f"{tool}: {p.kind} {p.name}"
    if p.kind == "string" and p.pool not in pools:
        raise InventoryError(f"{where}: unknown pool {p.pool!r}")
    if p.kind == "array" and p.items != "number" and p.items not in pools:
        raise InventoryError(f"{where}: items must be 'number' or a pool, not {p.items!r}")
    if p.kind == "enum":
        if not p.values:
            raise InventoryError(f"{where}: no values")
        extra = sorted(set(p.surf) - set(p.values))
        if extra:
            raise InventoryError(f"{where}: surface words for values it does not have: {extra}")
    if p.kind in ("integer", "number") and (p.hi < p.lo or p.step <= 0):
        raise InventoryError(f"{where}: needs lo <= hi and step > 0")
    if p.kind == "object":
        if not p.sub or not p.phr:
            raise InventoryError(f"{where}: an object needs sub-parameters and phrases")
        for s in p.sub:
            if not s.scalar:
                raise InventoryError(f"{where}: sub-parameter {s.name} must be a string, enum or number")
            _check_values(f"{tool}.{p.name}", s, pools)
