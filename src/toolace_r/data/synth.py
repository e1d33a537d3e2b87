"""A procedural tool-use corpus: no model, no network, byte-identical for the same seed.

It exists to train and test a from-scratch model of about 2M parameters on a CPU (see
``method.md`` section 5), so requests are short (about 10-25 words), values are short, and
every request is built from reusable phrase *fragments*:

    request = opener + clause [+ connective + clause ...] + closer + punctuation
    clause  = an action phrase of the tool (a lookup verb + the tool's noun phrase, or the
              tool's own verb phrase) + one slot phrase per argument given, in random order

A *template* is one choice of frame, opener, closer (and connective for several clauses).
About 15% of the templates are held out of train/dev: the test split's ``unseen_template``
samples use them, so they are new combinations of fragments that all occur in training,
not new words. Some tools (one in most domains) are held out entirely: test samples with
``unseen_tool`` call them, and they never appear in train or dev, not even as distractors.

Argument values are *copied* from the request (cities, names, codes), *converted* (number
words: "three" -> 3) or *chosen* (enums named by a synonym: "by bike" -> "cycling").
Categories: ``simple`` (one tool, one call), ``multiple`` (2-6 candidate tools, often from
the same domain), ``parallel`` (one tool called 2-3 times), ``parallel_multiple`` (2-3
tools called, with distractors), ``irrelevance`` (no listed tool fits; often tools of
the same domain) and ``multi_step`` (one step of a longer conversation: the request asks for
two dependent actions, the conversation already holds the first call and its tool result,
and the target is the second call, whose id argument only the tool result holds; the tool
pairs are in :mod:`toolace_r.data.synth_steps`, and ``multi_step`` has no share unless given,
so the default corpus is unchanged). Answers are BFCL possible answers: an optional parameter the request does
not mention is ``["", default]`` (omitted, or given as its default).

Determinism: every sample has its own ``random.Random`` seeded from a string (seed, split,
part, index): Python seeds a str through SHA-512, so the corpus does not depend on hash
randomisation, and iteration is over lists and sorted keys only.

Where things live: the world (tools and value pools) is data, ``synth_tools.json``, read and
validated by :mod:`toolace_r.data.synth_inventory`; templates and the wording of values,
clauses and requests are in :mod:`toolace_r.data.synth_phrases`; this module draws samples
and writes the corpus.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from toolace_r.data.schema import Message, Sample, ToolCall
from toolace_r.data.synth_inventory import Param, SynthTool, build_inventory
from toolace_r.data.synth_phrases import (
    HELD_OUT_TEMPLATE_SHARE,
    NOUN_FRAMES,
    VERB_FRAMES,
    Arg,
    PlannedCall,
    Template,
    _sample_scalar,
    all_templates,
    is_held_out_template,
    plan_call,
    possible_answer,
    render_clause,
    render_request,
)
from toolace_r.data.synth_steps import CHAINS, chain_specs, draw_step

SYNTH_CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance", "multi_step")
# multi_step is not among the defaults: a share for it must be given (the default corpus stays as it was)
DEFAULT_SHARES = {"simple": 0.2, "multiple": 0.25, "parallel": 0.15, "parallel_multiple": 0.2, "irrelevance": 0.2}
DEFAULT_SPLITS = {"train": 0.8, "dev": 0.1, "test": 0.1}
# Test split: in-distribution, held-out templates, held-out tools.
DEFAULT_TEST_MIX = {"seen": 0.5, "unseen_template": 0.25, "unseen_tool": 0.25}
IRRELEVANCE_TEXT = "None of the available tools can do that."
GENERATOR_VERSION = 1

# --------------------------------------------------------------------------------------
# The generator


@dataclass
class _Ctx:
    """What one part of one split may use."""

    targets: list[SynthTool]  # tools a request may call (held-out ones for unseen_tool)
    distractors: list[SynthTool]  # tools that may be listed beside them (never held-out)
    templates_single: list[Template]
    templates_multi: list[Template]
    unseen_tool: bool


@dataclass
class _Gen:
    tools: list[SynthTool]
    request: str
    answer: list
    text: str | None
    template: Template
    domain: str
    history: list[Message] = field(default_factory=list)  # after the request: earlier calls and results


MAX_WORDS_SINGLE = 26
MAX_WORDS_MULTI = 32


class Synthesizer:
    def __init__(self, seed: int, *, held_out_template_share: float = HELD_OUT_TEMPLATE_SHARE):
        self.seed = seed
        self.inventory = build_inventory()
        self.by_domain: dict[str, list[SynthTool]] = {}
        for t in self.inventory:
            self.by_domain.setdefault(t.domain, []).append(t)
        self.specs = {t.name: t.spec() for t in self.inventory}
        single, multi = all_templates()
        share = held_out_template_share
        self.single_seen = [t for t in single if not is_held_out_template(t, share)]
        self.single_held = [t for t in single if is_held_out_template(t, share)]
        self.multi_seen = [t for t in multi if not is_held_out_template(t, share)]
        self.multi_held = [t for t in multi if is_held_out_template(t, share)]
        self.held_templates = set(self.single_held + self.multi_held)
        self.seen_tools = [t for t in self.inventory if not t.held_out]
        self.held_tools = [t for t in self.inventory if t.held_out]
        # multi_step's tool pairs: stubs for the name / held_out bookkeeping, their specs beside the
        # inventory's (never in the inventory, so never distractors of the other categories)
        self.chain_tools: dict[str, tuple[SynthTool, SynthTool]] = {}
        for c in CHAINS:
            pair = []
            for spec in chain_specs(c):
                self.specs[spec.name] = spec
                pair.append(SynthTool(spec.name, c.name, spec.description, [], held_out=c.held_out))
            self.chain_tools[c.name] = (pair[0], pair[1])

    # -- pieces ---------------------------------------------------------------------------

    def _pick_template(self, rng: random.Random, ctx: _Ctx, multi: bool, lookup: bool) -> Template:
        pool = ctx.templates_multi if multi else ctx.templates_single
        if not multi and not lookup:
            pool = [t for t in pool if t.frame in VERB_FRAMES]
        return rng.choice(pool)

    def _distractors(self, rng: random.Random, ctx: _Ctx, exclude: list[SynthTool], k: int,
                     same_domain_p: float, avoid_groups: bool) -> list[SynthTool]:
        taken = {t.name for t in exclude}
        groups = {t.key for t in exclude} if avoid_groups else set()

        def ok(t: SynthTool) -> bool:
            return t.name not in taken and t.key not in groups

        out: list[SynthTool] = []
        domain = exclude[0].domain
        near = [t for t in ctx.distractors if t.domain == domain and ok(t)]
        far = [t for t in ctx.distractors if t.domain != domain and ok(t)]
        for _ in range(k):
            src = near if (near and rng.random() < same_domain_p) else far
            if not src:
                src = near or far
            if not src:
                break
            t = src.pop(rng.randrange(len(src)))
            out.append(t)
        return out

    def _clause_for(self, rng: random.Random, tool: SynthTool, opt_p: float, noun_form: bool) -> tuple[PlannedCall, str]:
        call = plan_call(tool, rng, opt_p)
        return call, render_clause(call, rng, noun_form=noun_form)

    def _single_request(self, rng: random.Random, ctx: _Ctx, tool: SynthTool) -> tuple[PlannedCall, str, Template]:
        t = self._pick_template(rng, ctx, False, tool.lookup)
        call, clause = self._clause_for(rng, tool, 0.4, t.frame in NOUN_FRAMES)
        return call, render_request(t, [clause]), t

    def _coordinated(self, rng: random.Random, tool: SynthTool, n: int, *,
                     noun_form: bool = False) -> tuple[list[dict], str] | None:
        """Several calls of one tool that differ in one scalar required parameter, worded as
        one clause with the values coordinated ("in Paris and Rome")."""
        cands = [p for p in tool.params if p.required and p.scalar and not (p.kind == "enum" and len(p.values) < n + 1)]
        if not cands:
            return None
        vary = rng.choice(cands)
        base = plan_call(tool, rng, 0.3)
        used = {a.value for name, a in base.args.items()
                if vary.distinct and name != vary.name and _param(tool, name).distinct == vary.distinct}
        values: list[Arg] = []
        for _ in range(n):
            a = _sample_scalar(vary, rng, used | {x.value for x in values})
            if a.value in used or a.value in {x.value for x in values}:
                return None
            values.append(a)
        call = PlannedCall(tool, dict(base.args))
        call.args[vary.name] = values[0]
        clause = render_clause(call, rng, noun_form=noun_form, coordinated={vary.name: values})
        answers = [possible_answer(call, {vary.name: a.value}) for a in values]
        return answers, clause

    # -- categories -----------------------------------------------------------------------

    def gen(self, category: str, rng: random.Random, ctx: _Ctx) -> _Gen:
        return getattr(self, f"_gen_{category}")(rng, ctx)

    def _gen_simple(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        tool = rng.choice(ctx.targets)
        call, req, t = self._single_request(rng, ctx, tool)
        return _Gen([tool], req, [possible_answer(call)], None, t, tool.domain)

    def _gen_multiple(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        tool = rng.choice(ctx.targets)
        call, req, t = self._single_request(rng, ctx, tool)
        others = self._distractors(rng, ctx, [tool], rng.randint(1, 5), 0.6, avoid_groups=False)
        tools = [tool] + others
        rng.shuffle(tools)
        return _Gen(tools, req, [possible_answer(call)], None, t, tool.domain)

    def _gen_parallel(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        for _ in range(20):
            tool = rng.choice(ctx.targets)
            n = 2 if rng.random() < 0.7 else 3
            if rng.random() < 0.6:
                # one clause, the varying values coordinated: "weather in Paris and Rome"
                t = self._pick_template(rng, ctx, False, tool.lookup)
                got = self._coordinated(rng, tool, n, noun_form=t.frame in NOUN_FRAMES)
                if got is None:
                    continue
                answers, clause = got
                req = render_request(t, [clause])
            else:
                # one clause per call, joined by connectives
                t = self._pick_template(rng, ctx, True, False)
                calls = [plan_call(tool, rng, 0.25) for _ in range(n)]
                answers = [possible_answer(c) for c in calls]
                if len({json.dumps(a, sort_keys=True) for a in answers}) < n:
                    continue  # two identical calls: not a parallel request
                req = render_request(t, [render_clause(c, rng) for c in calls])
            return _Gen([tool], req, answers, None, t, tool.domain)
        raise RuntimeError("could not build a parallel request")

    def _gen_parallel_multiple(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        m = 2 if rng.random() < 0.7 else 3
        first = rng.choice(ctx.targets)
        # unseen_tool: the first called tool is held out, the others come from the seen ones
        pool = [x for x in (self.seen_tools if ctx.unseen_tool else ctx.targets) if x.key != first.key]
        chosen = [first]
        while len(chosen) < m:
            cand = rng.choice(pool)
            if all(cand.key != c.key for c in chosen):
                chosen.append(cand)
        t = self._pick_template(rng, ctx, True, False)
        parts: list[tuple[str, list]] = []  # (clause, its calls' answers)
        for i, tool in enumerate(chosen):
            if i == 0 and m == 2 and rng.random() < 0.3:
                got = self._coordinated(rng, tool, 2)
                if got is not None:
                    answers_i, clause = got
                    parts.append((clause, answers_i))
                    continue
            call, clause = self._clause_for(rng, tool, 0.25, False)
            parts.append((clause, [possible_answer(call)]))
        # the order the request says things in is the order of the gold calls
        rng.shuffle(parts)
        req = render_request(t, [c for c, _ in parts])
        answers = [a for _, ans in parts for a in ans]
        n_tools = rng.randint(len(chosen), 6)
        others = self._distractors(rng, ctx, chosen, n_tools - len(chosen), 0.5, avoid_groups=False)
        tools = chosen + others
        rng.shuffle(tools)
        return _Gen(tools, req, answers, None, t, first.domain)

    def _gen_irrelevance(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        wanted = rng.choice(ctx.targets)
        _, req, t = self._single_request(rng, ctx, wanted)
        tools = self._distractors(rng, ctx, [wanted], rng.randint(1, 4), 0.5, avoid_groups=True)
        rng.shuffle(tools)
        return _Gen(tools, req, [], IRRELEVANCE_TEXT, t, wanted.domain)

    def _gen_multi_step(self, rng: random.Random, ctx: _Ctx) -> _Gen:
        # unseen_tool: the held-out chain; otherwise the others
        chain = rng.choice([c for c in CHAINS if c.held_out == ctx.unseen_tool])
        step = draw_step(chain, rng)
        find, act = self.chain_tools[chain.name]
        t = self._pick_template(rng, ctx, True, False)
        req = render_request(t, [step.find_clause, step.act_clause])
        tools = [find, act] + rng.sample(ctx.distractors, rng.randint(0, 3))
        rng.shuffle(tools)
        history = [Message(role="assistant", tool_calls=[ToolCall(name=find.name, arguments=step.find_args)]),
                   Message(role="tool", name=find.name, content=step.result)]
        answer = [{act.name: {k: [v] for k, v in step.act_args.items()}}]
        return _Gen(tools, req, answer, None, t, chain.name, history)

    # -- splits ---------------------------------------------------------------------------

    def context(self, part: str) -> _Ctx:
        if part == "unseen_tool":
            return _Ctx(self.held_tools, self.seen_tools, self.single_seen, self.multi_seen, True)
        if part == "unseen_template":
            return _Ctx(self.seen_tools, self.seen_tools, self.single_held, self.multi_held, False)
        return _Ctx(self.seen_tools, self.seen_tools, self.single_seen, self.multi_seen, False)

    def make_sample(self, split: str, part: str, index: int, category: str, seen_keys: set) -> Sample:
        ctx = self.context(part)
        for attempt in range(100):
            rng = random.Random(f"{self.seed}/{split}/{part}/{index}/{attempt}")
            g = self.gen(category, rng, ctx)
            limit = MAX_WORDS_MULTI if g.template.conn >= 0 else MAX_WORDS_SINGLE
            if len(g.request.split()) > limit:
                continue
            key = g.request.lower() + "|" + ",".join(sorted(t.name for t in g.tools))
            if key in seen_keys:
                continue
            seen_keys.add(key)
            break
        else:
            raise RuntimeError(f"could not make a fresh {category} sample for {split}/{part}/{index}")
        unseen_tool = any(t.held_out for t in g.tools) or (category == "irrelevance" and ctx.unseen_tool)
        return Sample(
            id=f"synth-{split}-{index:06d}",
            tools=[self.specs[t.name] for t in g.tools],
            messages=[Message(role="user", content=g.request), *g.history],
            answer=g.answer,
            text=g.text,
            category=category,
            source="synth",
            meta={"split": split, "part": part, "unseen_tool": unseen_tool,
                  "unseen_template": g.template in self.held_templates, "template_id": g.template.id, "domain": g.domain},
        )


def _param(tool: SynthTool, name: str) -> Param:
    for p in tool.params:
        if p.name == name:
            return p
    raise KeyError(name)


def _allocate(n: int, shares: dict[str, float]) -> dict[str, int]:
    """Split n by shares, largest remainders first (ties by name): exact and deterministic."""
    keys = sorted(shares)
    total = sum(shares.values())
    raw = {k: n * shares[k] / total if total else 0 for k in keys}
    out = {k: int(raw[k]) for k in keys}
    rest = n - sum(out.values())
    for k in sorted(keys, key=lambda k: (-(raw[k] - out[k]), k))[:rest]:
        out[k] += 1
    return out


def resolve_shares(shares: dict[str, float] | None) -> dict[str, float]:
    """Category shares: given ones are kept, the others share the rest in their default
    proportions. Unknown categories, negative shares or a sum above 1 are errors."""
    if not shares:
        return dict(DEFAULT_SHARES)
    bad = sorted(set(shares) - set(SYNTH_CATEGORIES))
    if bad:
        raise ValueError(f"unknown categories {bad}; choose among {', '.join(SYNTH_CATEGORIES)}")
    if any(v < 0 for v in shares.values()):
        raise ValueError("shares must not be negative")
    given = sum(shares.values())
    if given > 1 + 1e-9:
        raise ValueError(f"shares add up to {given:g}, more than 1")
    rest = [c for c in DEFAULT_SHARES if c not in shares]
    rest_default = sum(DEFAULT_SHARES[c] for c in rest)
    # a category without a default share (multi_step) appears only where it is given
    out = {c: float(shares.get(c, 0.0)) for c in SYNTH_CATEGORIES if c in DEFAULT_SHARES or c in shares}
    for c in rest:
        out[c] = (1 - given) * DEFAULT_SHARES[c] / rest_default if rest_default else 0.0
    if sum(out.values()) <= 0:
        raise ValueError("shares add up to 0")
    return out


def parse_shares(text: str) -> dict[str, float]:
    """``"simple=0.3,irrelevance=0.2"`` -> {"simple": 0.3, "irrelevance": 0.2}."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"bad share {part.strip()!r}: write CATEGORY=FRACTION")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise ValueError(f"bad share {part.strip()!r}: {v.strip()!r} is not a number") from None
    return out


def synthesize(
    n: int,
    seed: int,
    shares: dict[str, float] | None = None,
    *,
    splits: dict[str, float] | None = None,
    test_mix: dict[str, float] | None = None,
    held_out_template_share: float = HELD_OUT_TEMPLATE_SHARE,
    on_sample: Callable[[], None] | None = None,
) -> dict[str, list[Sample]]:
    """Generate ``n`` samples split into train/dev/test (see the module docstring)."""
    if n < 0:
        raise ValueError("n must not be negative")
    shares = resolve_shares(shares)
    splits = splits or DEFAULT_SPLITS
    test_mix = test_mix or DEFAULT_TEST_MIX
    if set(splits) != {"train", "dev", "test"}:
        raise ValueError("splits must give train, dev and test")
    syn = Synthesizer(seed, held_out_template_share=held_out_template_share)
    counts = _allocate(n, splits)
    seen: set[str] = set()
    out: dict[str, list[Sample]] = {}
    # test first, then dev, then train: a request already used in an evaluation split is
    # never generated again for training.
    for split in ("test", "dev", "train"):
        parts = _allocate(counts[split], test_mix) if split == "test" else {"seen": counts[split]}
        samples: list[Sample] = []
        index = 0
        for part in sorted(parts):
            cats = _allocate(parts[part], shares)
            order = [c for c in sorted(cats) for _ in range(cats[c])]
            random.Random(f"{seed}/{split}/{part}/order").shuffle(order)
            for cat in order:
                samples.append(syn.make_sample(split, part, index, cat, seen))
                index += 1
                if on_sample is not None:
                    on_sample()
        out[split] = samples
    return {k: out[k] for k in ("train", "dev", "test")}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_corpus(
    out_dir: str | Path,
    n: int,
    seed: int,
    shares: dict[str, float] | None = None,
    *,
    on_sample: Callable[[], None] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Write train.jsonl, dev.jsonl, test.jsonl, tools.json and manifest.json to ``out_dir``;
    returns the manifest. Same arguments, same bytes."""
    from toolace_r.data.io import write_json, write_jsonl

    out = Path(out_dir)
    data = synthesize(n, seed, shares, on_sample=on_sample, **kwargs)
    syn = Synthesizer(seed, held_out_template_share=kwargs.get("held_out_template_share", HELD_OUT_TEMPLATE_SHARE))
    files: dict[str, str] = {}
    for split, samples in data.items():
        write_jsonl(out / f"{split}.jsonl", samples)
    listed = list(syn.inventory)
    if resolve_shares(shares).get("multi_step"):  # the chain tools, only where the corpus uses them
        listed += [t for c in CHAINS for t in syn.chain_tools[c.name]]
    write_json(out / "tools.json", [syn.specs[t.name].model_dump() for t in listed])
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "tools.json"):
        files[name] = _sha256(out / name)
    by_cat = {split: _count(s.category for s in samples) for split, samples in data.items()}
    manifest = {
        "generator": "toolace_r.data.synth",
        "version": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "shares": resolve_shares(shares),
        "splits": {split: len(samples) for split, samples in data.items()},
        "by_category": by_cat,
        "test_parts": _count(s.meta["part"] for s in data["test"]),
        "domains": {d: [t.name for t in ts] for d, ts in sorted(syn.by_domain.items())},
        "held_out_tools": sorted(t.name for t in syn.held_tools),
        "held_out_templates": sorted(t.id for t in syn.single_held + syn.multi_held),
        "irrelevance_text": IRRELEVANCE_TEXT,
        "files": files,
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def _count(items: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(items).items()))
