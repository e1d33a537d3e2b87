"""How the synthetic corpus words requests: templates, argument values, clauses, answers.

A request is ``opener + clause [+ connective + clause ...] + closer + punctuation``; a
*template* is one choice of frame, opener, closer (and connective). A clause is a tool's action
phrase plus one slot phrase per argument given. Values are drawn from the inventory's pools
(:mod:`toolace_r.data.synth_inventory`) and worded (number words, enum synonyms). The
generator that combines these into samples is :mod:`toolace_r.data.synth`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Any

from toolace_r.data.schema import to_possible_value
from toolace_r.data.synth_inventory import Param, SynthTool, _embedded, load_pools

HELD_OUT_TEMPLATE_SHARE = 0.15
POOLS: dict[str, list[str]] = load_pools()

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                "twenty"]

LOOKUP_VERBS = ["get", "check", "find", "look up", "show me", "fetch", "pull up", "tell me"]


# --------------------------------------------------------------------------------------
# Templates: frame + opener + closer (+ connective)

OPENERS: dict[str, list[str]] = {
    "imp": ["", "Please ", "Hey, ", "Quick one: ", "Okay, ", "Hi, please "],
    "q": ["Can you ", "Could you ", "Would you ", "Can you please ", "Could you quickly "],
    "want": ["I need you to ", "I'd like you to ", "I want you to ", "Go ahead and ", "Try to "],
    "nq": ["What's ", "What is ", "Do you know "],  # lookup tools only: + noun phrase
    "ns": ["Tell me ", "Show me ", "I want ", "Give me ", "I'd like "],  # lookup tools only
}
PUNCT = {"imp": ".", "q": "?", "want": ".", "nq": "?", "ns": "."}
CLOSERS = ["", " for me", " please", " thanks", " right away", " if you can", " now"]
CONNECTIVES = [" and ", ", and also ", ", then ", ". Also ", "; plus ", " and then "]
VERB_FRAMES = ("imp", "q", "want")
NOUN_FRAMES = ("nq", "ns")


@dataclass(frozen=True)
class Template:
    frame: str
    opener: int
    closer: int
    conn: int = -1  # -1: one clause

    @property
    def id(self) -> str:
        base = f"{self.frame}{self.opener}-c{self.closer}"
        return base if self.conn < 0 else f"{base}-j{self.conn}"

    @property
    def fragments(self) -> list[str]:
        out = [f"o:{self.frame}{self.opener}", f"c:{self.closer}"]
        if self.conn >= 0:
            out.append(f"j:{self.conn}")
        return out


def all_templates() -> tuple[list[Template], list[Template]]:
    """(single-clause templates, multi-clause templates), in a fixed order."""
    single = [Template(f, o, c) for f in VERB_FRAMES + NOUN_FRAMES for o in range(len(OPENERS[f]))
              for c in range(len(CLOSERS))]
    multi = [Template(f, o, c, j) for f in VERB_FRAMES for o in range(len(OPENERS[f]))
             for c in range(len(CLOSERS)) for j in range(len(CONNECTIVES))]
    return single, multi


def is_held_out_template(t: Template, share: float = HELD_OUT_TEMPLATE_SHARE) -> bool:
    # A fixed hash of the id, so the held-out set does not depend on the seed or on n.
    return zlib.crc32(t.id.encode()) % 1000 < share * 1000


# --------------------------------------------------------------------------------------
# Values and their wording


@dataclass
class Arg:
    value: Any
    text: str  # how the request words it


def _render_int(v: int, p: Param, rng: random.Random) -> str:
    if p.words and 0 <= v <= 20 and rng.random() < 0.4:
        return NUMBER_WORDS[v]
    return str(v)


def _num(v: float) -> int | float:
    v = round(v, 4)
    return int(v) if float(v).is_integer() else v


def _sample_scalar(p: Param, rng: random.Random, avoid: set) -> Arg:
    for _ in range(20):
        if p.kind == "string":
            v: Any = rng.choice(POOLS[p.pool])
        elif p.kind == "enum":
            v = rng.choice(p.values)
        elif p.kind == "integer":
            v = int(p.lo) + int(p.step) * rng.randrange(int((p.hi - p.lo) // p.step) + 1)
        else:
            v = _num(p.lo + p.step * rng.randrange(int(round((p.hi - p.lo) / p.step)) + 1))
        if v not in avoid:
            break
    return Arg(v, _word_value(p, v, rng))


def _word_value(p: Param, v: Any, rng: random.Random) -> str:
    if p.kind == "enum":
        return rng.choice(p.surf.get(v, [v]))
    if p.kind == "integer":
        return _render_int(v, p, rng)
    return str(v)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _sample_arg(p: Param, rng: random.Random, avoid: set) -> Arg:
    if p.scalar:
        return _sample_scalar(p, rng, avoid)
    if p.kind == "boolean":
        value = not (p.phr_false and rng.random() < 0.3)
        return Arg(value, rng.choice(p.phr if value else p.phr_false))
    if p.kind == "array":
        k = rng.randint(*p.n_items)
        if p.items == "number":
            vals = rng.sample(range(int(p.lo), int(p.hi) + 1), k)
            return Arg(vals, _join([str(v) for v in vals]))
        vals = rng.sample(POOLS[p.items], k)
        return Arg(vals, _join(vals))
    # object: one value per sub-parameter, worded by the object's own pattern
    sub = {s.name: _sample_scalar(s, rng, set()) for s in p.sub}
    pattern = rng.choice(p.phr)
    return Arg({k: a.value for k, a in sub.items()}, pattern.format(**{k: a.text for k, a in sub.items()}))


# --------------------------------------------------------------------------------------
# Calls, clauses, requests


@dataclass
class PlannedCall:
    tool: SynthTool
    args: dict[str, Arg]  # parameters the request mentions


def plan_call(tool: SynthTool, rng: random.Random, opt_p: float, fixed: dict[str, Arg] | None = None) -> PlannedCall:
    """Choose the arguments of one call: every required parameter, each optional one with
    probability ``opt_p``; ``fixed`` arguments are taken as given."""
    fixed = fixed or {}
    args: dict[str, Arg] = {}
    used: dict[str, set] = {}
    for p in tool.params:
        if p.name in fixed:
            args[p.name] = fixed[p.name]
            if p.distinct:
                used.setdefault(p.distinct, set()).add(fixed[p.name].value)
    for p in tool.params:
        if p.name in args:
            continue
        if not p.required and rng.random() >= opt_p:
            continue
        avoid = used.setdefault(p.distinct, set()) if p.distinct else set()
        a = _sample_arg(p, rng, avoid)
        if p.distinct:
            avoid.add(a.value)
        args[p.name] = a
    return PlannedCall(tool, args)


def render_clause(call: PlannedCall, rng: random.Random, *, noun_form: bool = False,
                  coordinated: dict[str, list[Arg]] | None = None) -> str:
    """One clause for one call (or for several calls of one tool that differ in one
    ``coordinated`` parameter: "in Paris, Rome and Oslo")."""
    tool = call.tool
    if tool.lookup:
        head = rng.choice(tool.nouns)
        if not noun_form:
            head = rng.choice(LOOKUP_VERBS) + " " + head
    else:
        head = rng.choice(tool.acts)
    texts: dict[str, str] = {}
    for name, arg in call.args.items():
        texts[name] = arg.text
    if coordinated:
        for name, args in coordinated.items():
            texts[name] = _join([a.text for a in args])
    inside = set(_embedded(head))
    head = head.format(**{k: texts[k] for k in inside})
    slots = []
    by_name = {p.name: p for p in tool.params}
    for name in call.args:
        if name in inside:
            continue
        p = by_name[name]
        if p.kind in ("boolean", "object"):
            slots.append(call.args[name].text)
        else:
            slots.append(rng.choice(p.phr).format(v=texts[name]))
    rng.shuffle(slots)
    return " ".join([head] + slots)


def render_request(t: Template, clauses: list[str]) -> str:
    if len(clauses) == 1:
        core = clauses[0]
    else:
        conn = CONNECTIVES[t.conn]
        # several clauses: the chosen connective between the first two, " and " before a third
        core = clauses[0] + conn + clauses[1] + "".join(" and " + c for c in clauses[2:])
    text = OPENERS[t.frame][t.opener] + core + CLOSERS[t.closer] + PUNCT[t.frame]
    return text[0].upper() + text[1:]


def possible_answer(call: PlannedCall, fixed: dict[str, Any] | None = None) -> dict[str, dict[str, list[Any]]]:
    """BFCL possible answer of one call: mentioned values; ``""`` marks optional parameters
    that may be omitted (with their default as the other acceptable value)."""
    vals = {k: a.value for k, a in call.args.items()}
    if fixed:
        vals.update(fixed)
    params: dict[str, list[Any]] = {}
    for p in call.tool.params:
        if p.name in vals:
            v = vals[p.name]
            acceptable = [to_possible_value(v)]
            if not p.required and p.default is not None and v == p.default and type(v) is type(p.default):
                acceptable.append("")  # saying the default is the same as leaving it out
            params[p.name] = acceptable
        elif not p.required and p.default is not None:
            params[p.name] = ["", p.default]
    return {call.tool.name: params}
