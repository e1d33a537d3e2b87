"""Constrained decoding for ``tool_choice``: the answer must be calls of the offered functions.

OpenAI's ``tool_choice: "required"`` (at least one call, of an offered function) and a named
``tool_choice`` (calls of that function only) are guarantees, so they are enforced while the model
decodes, not checked afterwards. A :class:`CallConstraint` says which functions may be called and in
which tool-call format the model answers (``PromptConfig.tool_format``):

* ``pythonic``: ``[f(a=1), g(b="x")]``: keyword arguments as Python literals, in the schema's order,
  required ones present, no others (:func:`python_kwargs_grammar`, our own schema -> EBNF);
* ``hermes``: ``<tool_call>\\n{"name": "f", "arguments": {...}}\\n</tool_call>`` blocks, one per call;
* ``llama3_json``: ``{"name": "f", "parameters": {...}}`` joined by ``"; "``.

JSON arguments follow the function's JSON Schema through xgrammar's own schema converter. The
whole is an xgrammar *structural tag* (:meth:`CallConstraint.structural_tag`, a plain dict): the
hf backend compiles it with xgrammar and masks each step's logits (:class:`CallMasker`); the vLLM
backend hands the same JSON to vLLM's structured outputs (:func:`vllm_structured_kw`). Refinement
passes carry the same constraint, where the answer may also be the confirmation (``allow_confirm``),
which keeps the previous, already constrained answer.

xgrammar is an optional extra (``pip install 'toolace-r[constrained]'``), imported only when a
constrained request is decoded.
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from toolace_r.calls.native import check_tool_format

MISSING_XGRAMMAR = ("tool_choice 'required' or a named function needs constrained decoding: "
                    "pip install 'toolace-r[constrained]' (xgrammar)")


@dataclass(frozen=True)
class CallConstraint:
    """The answer must be calls (at least one) of ``tools``: ``(name, parameters JSON Schema as
    JSON text)`` pairs, names as the model sees them. ``max_calls=1`` stops after the first call
    (``parallel_tool_calls: false``); ``allow_confirm``: the confirmation is a valid answer too
    (refinement passes under ``confirm=token``)."""

    tools: tuple[tuple[str, str], ...]
    tool_format: str = "pythonic"
    max_calls: int | None = None
    allow_confirm: bool = False

    def __post_init__(self) -> None:
        check_tool_format(self.tool_format)
        if not self.tools:
            raise ValueError("a call constraint needs at least one function")

    @classmethod
    def for_tools(cls, tools: Iterable[Any], tool_format: str = "pythonic", *,
                  max_calls: int | None = None) -> "CallConstraint":
        """From :class:`~toolace_r.data.schema.ToolSpec` objects or ``{"name", "parameters"}`` dicts."""
        pairs = []
        for t in tools:
            name = t["name"] if isinstance(t, dict) else t.name
            params = (t.get("parameters") if isinstance(t, dict) else t.parameters) or {"type": "object"}
            pairs.append((name, json.dumps(params, sort_keys=False, ensure_ascii=False)))
        return cls(tuple(pairs), tool_format, max_calls, False)

    def with_confirm(self) -> "CallConstraint":
        return replace(self, allow_confirm=True)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.tools]

    def structural_tag(self, confirm: int | str | None = None, *, loose: bool = False) -> dict[str, Any]:
        """The xgrammar structural tag (``{"type": "structural_tag", "format": ...}``) of this
        constraint. ``confirm``: the confirmation's token id (a special token) or text, allowed as
        the whole answer when ``allow_confirm``. ``loose``: arguments only as any JSON object /
        any keyword arguments (the fallback when a schema is beyond the converter)."""
        fmt = self.tool_format
        tags = []
        for name, params in self.tools:
            schema = {"type": "object"} if loose else json.loads(params)
            if fmt == "pythonic":
                content = {"type": "grammar", "grammar": python_kwargs_grammar(schema)}
                tags.append({"type": "tag", "begin": f"{name}(", "content": content, "end": ")"})
            else:
                key = "arguments" if fmt == "hermes" else "parameters"
                begin = json.dumps({"name": name, key: 0}, ensure_ascii=False)[:-2]  # '{"name": "f", "arguments": '
                # bounded whitespace: a model cannot wander off into blank space between JSON tokens
                content = {"type": "json_schema", "json_schema": schema, "max_whitespace_cnt": 2}
                if fmt == "hermes":
                    tags.append({"type": "tag", "begin": "<tool_call>\n" + begin, "content": content,
                                 "end": "}\n</tool_call>"})
                else:
                    tags.append({"type": "tag", "begin": begin, "content": content, "end": "}"})
        sep = {"pythonic": ", ", "hermes": "\n", "llama3_json": "; "}[fmt]
        calls: dict[str, Any] = {"type": "tags_with_separator", "tags": tags, "separator": sep, "at_least_one": True,
                                 "stop_after_first": self.max_calls == 1}
        if fmt == "pythonic":
            calls = {"type": "sequence", "elements": [{"type": "const_string", "value": "["}, calls,
                                                      {"type": "const_string", "value": "]"}]}
        if self.allow_confirm and confirm is not None:
            yes = ({"type": "token", "token": confirm} if isinstance(confirm, int)
                   else {"type": "const_string", "value": confirm})
            calls = {"type": "or", "elements": [yes, calls]}
        return {"type": "structural_tag", "format": calls}


def constraint_for(tools: Sequence[Any], tool_choice: Any, tool_format: str,
                   parallel: bool = True) -> CallConstraint | None:
    """The constraint of a request: ``tool_choice`` ``"required"`` or a function name (the tools
    are then that function alone) gives one; ``None``, ``"auto"`` and ``"none"`` give none."""
    if tool_choice in (None, "auto", "none") or not tools:
        return None
    return CallConstraint.for_tools(tools, tool_format, max_calls=None if parallel else 1)


# --------------------------------------------------------------------------------------------
# JSON Schema -> EBNF of Python keyword arguments (the pythonic format). Our own converter: the
# values are Python literals (True/None, either quote), which no JSON converter writes.

_EBNF_BASE = r"""
ws ::= " "?
sep ::= "," ws
pystr ::= "\"" ([^"\\\r\n\x00-\x1f] | esc)* "\"" | "'" ([^'\\\r\n\x00-\x1f] | esc)* "'"
esc ::= "\\" ([\\"'nrtbf0] | "u" hex hex hex hex | "x" hex hex)
hex ::= [0-9a-fA-F]
pyint ::= "-"? ("0" | [1-9] [0-9]*)
pynum ::= pyint ("." [0-9]+)? ([eE] [+\-]? [0-9]+)?
pybool ::= "True" | "False"
pynone ::= "None"
anyval ::= pystr | pynum | pybool | pynone | anylist | anydict
anylist ::= "[" ws (anyval (sep anyval)*)? ws "]"
anydict ::= "{" ws (anyentry (sep anyentry)*)? ws "}"
anyentry ::= (pystr | pynum) ":" ws anyval
"""


def _lit(text: str) -> str:
    """An EBNF string literal for ``text``."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _py_literal(v: Any) -> str | None:
    """The literal an enum/const value is written as (:func:`toolace_r.calls.format.format_value`)."""
    from toolace_r.calls.format import format_value

    if isinstance(v, (str, int, float, bool)) or v is None:
        return format_value(v)
    return None


class _PyGrammar:
    """Rules for values of a schema, named ``v1``, ``v2``, ... (depth-bounded)."""

    def __init__(self) -> None:
        self.rules: list[str] = []

    def rule(self, body: str) -> str:
        name = f"v{len(self.rules) + 1}"
        self.rules.append(f"{name} ::= {body}")
        return name

    def value(self, schema: Any, depth: int = 0) -> str:
        if not isinstance(schema, dict) or depth > 8:
            return "anyval"
        for key in ("enum", "const"):
            if key in schema:
                vals = schema[key] if key == "enum" else [schema[key]]
                lits = [x for x in (_py_literal(v) for v in vals if isinstance(vals, list)) if x is not None]
                if lits:
                    return self.rule(" | ".join(_lit(x) for x in dict.fromkeys(lits)))
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.rule(" | ".join(self.value(s, depth + 1) for s in schema[key]))
        t = schema.get("type")
        if isinstance(t, list):
            alts = [self.value({**schema, "type": x}, depth + 1) for x in t if isinstance(x, str)]
            return self.rule(" | ".join(alts)) if alts else "anyval"
        if t == "string":
            return "pystr"
        if t == "integer":
            return "pyint"
        if t in ("number", "float"):
            return "pynum"
        if t == "boolean":
            return "pybool"
        if t == "null":
            return "pynone"
        if t in ("array", "tuple"):
            item = self.value(schema.get("items"), depth + 1) if isinstance(schema.get("items"), dict) else "anyval"
            return self.rule(f'"[" ws ({item} (sep {item})*)? ws "]"')
        if t in ("object", "dict"):
            props = schema.get("properties")
            if not isinstance(props, dict) or not props:
                return "anydict"
            required = schema.get("required") if isinstance(schema.get("required"), list) else []
            items = [(_lit(json.dumps(k, ensure_ascii=False)) + ' ":" ws ' + self.value(s, depth + 1), k in required)
                     for k, s in props.items()]
            return self.rule('"{" ws ' + self.ordered(items) + ' ws "}"')
        return "anyval"

    def ordered(self, items: list[tuple[str, bool]]) -> str:
        """Items in the given order, each ``(rule text, required)``, separated by ``sep``: the
        required ones always, the optional ones or not. Two rules per position: nothing written
        yet (no separator before the next item) or something written (a separator first)."""
        first, more = '""', '""'
        for text, req in reversed(items):
            f_body = f"({text}) {more}" if req else f"({text}) {more} | {first}"
            m_body = f"sep ({text}) {more}" if req else f"sep ({text}) {more} | {more}"
            first, more = self.rule(f_body), self.rule(m_body)
        return first


def python_kwargs_grammar(schema: dict[str, Any]) -> str:
    """EBNF (root rule ``root``) for the keyword arguments of a call with parameters ``schema``:
    ``a=1, b="x"``. Arguments come in the schema's order; required ones must be present; names
    Python cannot write as keywords are left out (a call cannot carry them in this format)."""
    g = _PyGrammar()
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):  # parameters not declared: any keyword arguments
        body = '(kw (sep kw)*)?'
        return "root ::= " + body + '\nkw ::= [a-zA-Z_] [a-zA-Z_0-9]* "=" anyval\n' + _EBNF_BASE
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    items = [(_lit(k + "=") + " " + g.value(s), k in required) for k, s in props.items()
             if k.isidentifier() and not keyword.iskeyword(k)]
    root = g.ordered(items)
    return f"root ::= {root}\n" + "\n".join(g.rules) + "\n" + _EBNF_BASE


# --------------------------------------------------------------------------------------------
# hf: xgrammar token masks


def _xgrammar() -> Any:
    try:
        import xgrammar
    except ImportError:
        raise ImportError(MISSING_XGRAMMAR) from None
    return xgrammar


_XGRAMMAR_CHECKED: list[str | None] = []


def xgrammar_problem() -> str | None:
    """None when xgrammar imports (tried once: a broken install counts as missing), else why not."""
    if not _XGRAMMAR_CHECKED:
        try:
            _xgrammar()
            _XGRAMMAR_CHECKED.append(None)
        except ImportError as e:
            _XGRAMMAR_CHECKED.append(str(e) if str(e) == MISSING_XGRAMMAR else f"{MISSING_XGRAMMAR} ({e})")
    return _XGRAMMAR_CHECKED[0]


class CallMasker:
    """Compiles constraints for one tokenizer (cached) and makes per-row matchers. Made once per
    :class:`~toolace_r.models.generation.HFGenerator`, on the first constrained request."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Iterable[int], confirm: int | str | None):
        xgr = _xgrammar()
        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size,
                                                   stop_token_ids=sorted(stop_ids))
        self.compiler = xgr.GrammarCompiler(info, max_threads=1)
        self.vocab_size, self.stop_ids, self.confirm = vocab_size, sorted(stop_ids), confirm
        self._compiled: dict[CallConstraint, Any] = {}
        self._info = info
        self._close_table: Any = None  # made on the first answer that needs closing

    def compiled(self, c: CallConstraint) -> Any:
        if c not in self._compiled:
            if len(self._compiled) > 256:  # requests bring their own tools: keep the cache bounded
                self._compiled.clear()
            try:
                grammar = self.compiler.compile_structural_tag(json.dumps(c.structural_tag(self.confirm)))
            except Exception:  # a schema beyond xgrammar's converter: names still enforced, arguments loose
                grammar = self.compiler.compile_structural_tag(json.dumps(c.structural_tag(self.confirm, loose=True)))
            self._compiled[c] = grammar
        return self._compiled[c]

    def matchers(self, constraints: Sequence[CallConstraint | None]) -> list[Any]:
        return [None if c is None else self.xgr.GrammarMatcher(self.compiled(c), override_stop_tokens=self.stop_ids)
                for c in constraints]

    def mask(self, logits: Any, matchers: Sequence[Any]) -> None:
        """Set to -inf, in place, the logits of tokens row i's matcher does not allow (rows
        without a matcher, or whose matcher has ended, are left as they are)."""
        rows = [i for i, m in enumerate(matchers) if m is not None and not m.is_terminated()]
        if not rows:
            return
        bitmask = self.xgr.allocate_token_bitmask(len(matchers), self.vocab_size)
        for i in rows:
            matchers[i].fill_next_token_bitmask(bitmask, i)
        self.xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device), indices=rows)

    @staticmethod
    def accept(matchers: Sequence[Any], tokens: Sequence[int]) -> None:
        for m, t in zip(matchers, tokens):
            if m is not None and not m.is_terminated() and not m.accept_token(t):
                raise RuntimeError(f"constrained decoding: token {t} was not accepted by its grammar")

    def close(self, matcher: Any, ids: Sequence[int], budget: int, *, max_back: int = 64) -> list[int]:
        """``ids`` (what ``matcher`` has accepted, cut off by the token budget inside a call)
        turned into a complete answer of at most ``budget`` tokens, ending with a stop token: the
        last tokens are taken back one by one until a closing found greedily (:meth:`_closing`)
        fits in what is left. Why: a max_tokens cut inside a call would otherwise return no call at
        all, which ``tool_choice`` required / named promises never happens; an untrained model's
        string arguments, for one, rarely end by themselves. Tries ``max_back`` cuts, then the
        empty answer; returns ``ids`` unchanged if nothing fits (a budget too small for any call)."""
        ids = list(ids)
        cuts = list(range(len(ids), max(-1, len(ids) - max_back - 1), -1))
        if cuts[-1] != 0:
            cuts.append(0)
        at = len(ids)
        for cut in cuts:
            if cut > budget:
                continue
            matcher.rollback(at - cut)
            at = cut
            tail = self._closing(matcher, budget - cut, ids[:cut])
            if tail is not None:
                return ids[:cut] + tail
        return ids

    def _closing(self, matcher: Any, limit: int, ids: Sequence[int] = ()) -> list[int] | None:
        """At most ``limit`` tokens, from the grammar's allowed ones, that end the answer ``ids``
        (a stop token last), or None (the matcher is then left as it was). Greedy: a stop token
        when allowed, else the allowed token after which the fewest strings and brackets are left
        open (:func:`_openness`), though one without a separator (which asks for one more item)
        before any with one, the longest of those (a fixed literal such as a required argument's
        name goes by in as few tokens as it can) unless it opens something. Only structural tokens
        (quotes, brackets, separators) and the longest allowed token are weighed, so a step stays
        cheap on a 150k vocabulary."""
        import torch

        texts, structural, length = self._token_table()
        bitmask = self.xgr.allocate_token_bitmask(1, self.vocab_size)
        state = _scan("".join(texts[t] for t in ids if t < len(texts)))
        out: list[int] = []
        for _ in range(limit):
            matcher.fill_next_token_bitmask(bitmask, 0)
            masked = torch.zeros((1, self.vocab_size))
            self.xgr.apply_token_bitmask_inplace(masked, bitmask)
            allowed = torch.isfinite(masked[0])
            stop = [t for t in self.stop_ids if t < self.vocab_size and bool(allowed[t])]
            if stop:
                tok = stop[0]
            else:
                longest = int(torch.where(allowed, length, torch.tensor(-1.0)).argmax())
                cands = [longest] + structural[allowed[structural]].tolist()
                now = _openness(state)

                def rank(t: int) -> tuple[bool, int, int]:
                    after = _openness(_scan(texts[t], state))
                    # a separator asks for one more item (`"}),` closes three but starts a next call),
                    # so it goes last; what opens something: as little of it as can be
                    more = any(ch in ",:=" for ch in texts[t])
                    return more, after, (-len(texts[t]) if after <= now else len(texts[t]))
                tok = min(cands, key=rank)
            if not matcher.accept_token(tok):
                break
            out.append(tok)
            if matcher.is_terminated():
                return out
            state = _scan(texts[tok], state)
        matcher.rollback(len(out))
        return None

    def _token_table(self) -> tuple[list[str], Any, Any]:
        """Each token's text, the ids of the structural ones, and each token's length (-1: none)."""
        import torch

        if self._close_table is None:
            texts = [raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                     for raw in self._info.decoded_vocab[:self.vocab_size]]
            texts += [""] * (self.vocab_size - len(texts))
            structural = torch.tensor([i for i, t in enumerate(texts) if t and set(t) <= _STRUCTURAL], dtype=torch.long)
            length = torch.tensor([float(len(t)) if t else -1.0 for t in texts])
            self._close_table = (texts, structural, length)
        return self._close_table


_STRUCTURAL = set("\"')]}[{(,:= \n")


def _scan(text: str, state: tuple[int, str, bool] = (0, "", False)) -> tuple[int, str, bool]:
    """(open brackets, the open string's quote or "", inside an escape) after ``text``, continuing
    from ``state``."""
    depth, quote, esc = state
    for ch in text:
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return depth, quote, esc


def _openness(state: tuple[int, str, bool]) -> int:
    """How many strings and brackets are open: what the closing greedily brings to 0."""
    depth, quote, esc = state
    return depth + bool(quote) + esc


# --------------------------------------------------------------------------------------------
# vLLM: structured outputs


def vllm_structured_kw(c: CallConstraint | None, confirm: int | str | None = None) -> dict[str, Any]:
    """Keywords for ``vllm.SamplingParams`` that enforce ``c``: ``structured_outputs=
    StructuredOutputsParams(structural_tag=...)`` (vLLM >= 0.10.2), else the older
    ``guided_decoding=GuidedDecodingParams(structural_tag=...)``; ``{}`` without a constraint."""
    if c is None:
        return {}
    tag = json.dumps(c.structural_tag(confirm), ensure_ascii=False)
    from vllm import sampling_params as sp

    if hasattr(sp, "StructuredOutputsParams"):
        return {"structured_outputs": sp.StructuredOutputsParams(structural_tag=tag)}
    return {"guided_decoding": sp.GuidedDecodingParams(structural_tag=tag)}
