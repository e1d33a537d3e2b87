"""BFCL v4 data for evaluation: find it, read it, turn entries into prompts, aggregate scores.

Where the data comes from (:func:`locate`), in this order:

* a path given by the user: the ``bfcl-eval`` wheel (read as a zip archive with :mod:`zipfile`;
  ``bfcl_eval`` is never imported, it pulls in dozens of heavy packages), a directory holding an
  unpacked wheel (``.../bfcl_eval/data``), the data directory itself, or a gorilla checkout
  (``.../berkeley-function-call-leaderboard/bfcl_eval/data``);
* otherwise the cache, ``$TOOLACE_R_CACHE/bfcl`` (default ``~/.cache/toolace-r/bfcl``): a wheel
  downloaded there earlier;
* otherwise one download into the cache: ``python -m pip download --no-deps bfcl-eval -d CACHE``.

The files are JSON Lines: ``BFCL_v4_<category>.json`` (``{"id", "question": [[{role, content}]],
"function": [...]}``) and ``possible_answer/BFCL_v4_<category>.json`` (``{"id", "ground_truth"}``,
absent for the relevance categories). Entries are scored against BFCL's own function docs
(``"type": "dict"`` etc.) and ground truth, verbatim; the :class:`~toolace_r.data.schema.Sample`
made from an entry (:func:`entry_sample`) only carries the prompt (tools and conversation).

Aggregates (:func:`aggregates`) follow BFCL v4's leaderboard: non-live AST accuracy is the
unweighted mean of simple_python, multiple, parallel and parallel_multiple (Java and JavaScript
are not evaluated here, so "simple" is simple_python alone); live AST accuracy is the mean over
live_simple, live_multiple, live_parallel and live_parallel_multiple weighted by entry count;
irrelevance is excluded from both. Hallucination (BFCL's "irrelevance detection") is the
unweighted mean of irrelevance and live_irrelevance; relevance is live_relevance.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from pydantic import ValidationError

from toolace_r import jsonin
from toolace_r.data.normalize import ConvertError, tools_from_value
from toolace_r.data.io import summarize_validation_error
from toolace_r.data.schema import Sample

PREFIX = "BFCL_v4"
NON_LIVE_AST = ("simple_python", "multiple", "parallel", "parallel_multiple")
LIVE_AST = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
HALLUCINATION = ("irrelevance", "live_irrelevance")
RELEVANCE = ("live_relevance",)
CATEGORIES = (*NON_LIVE_AST, "irrelevance", *LIVE_AST, "live_irrelevance", "live_relevance")
# Run by the multi-turn loop (toolace_r.multiturn), only when asked for: not part of "all".
MULTI_TURN = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
# BFCL v4's overall score (eval_runner_helper.py): weights of non-live, live, irrelevance, multi-turn, agentic.
OVERALL_WEIGHTS = {"non_live": 10, "live": 10, "hallucination": 10, "multi_turn": 30, "agentic": 40}
GROUPS = {
    "all": CATEGORIES,
    "non_live": (*NON_LIVE_AST, "irrelevance"),
    "live": (*LIVE_AST, "live_irrelevance", "live_relevance"),
}
# BFCL categories this evaluator cannot run: they need BFCL's executable state or other languages.
UNSUPPORTED = ("simple_java", "simple_javascript", "memory", "web_search", "format_sensitivity")
# The file BFCL's data folder always has; used to recognise that folder.
_MARKER = f"{PREFIX}_simple_python.json"


class BfclError(ValueError):
    """Missing or bad BFCL data; the message says which path or entry and what is wrong."""


def cache_dir() -> Path:
    return Path(os.environ.get("TOOLACE_R_CACHE") or Path.home() / ".cache" / "toolace-r").expanduser() / "bfcl"


# --------------------------------------------------------------------------------------
# Sources: a zip (wheel) or a directory


class BfclSource:
    """The BFCL data folder inside a wheel or on disk; ``read(name)`` gives a file's text, where
    ``name`` is relative to the data folder (``BFCL_v4_x.json``, ``possible_answer/BFCL_v4_x.json``)."""

    def __init__(self, path: Path, prefix: str = "", *, archive: bool = False):
        self.path, self.prefix, self.archive = path, prefix, archive
        self._names: set[str] | None = None

    def __repr__(self) -> str:
        return f"BfclSource({self.describe()!r})"

    def describe(self) -> str:
        return f"{self.path}!{self.prefix}" if self.archive else str(self.path)

    def _zip_names(self) -> set[str]:
        if self._names is None:
            with zipfile.ZipFile(self.path) as z:
                self._names = set(z.namelist())
        return self._names

    def has(self, name: str) -> bool:
        if self.archive:
            return self.prefix + name in self._zip_names()
        return (self.path / name).is_file()

    def read(self, name: str) -> str:
        if not self.has(name):
            raise BfclError(f"BFCL data at {self.describe()} has no {name}")
        if self.archive:
            with zipfile.ZipFile(self.path) as z:
                raw = z.read(self.prefix + name)
        else:
            raw = (self.path / name).read_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise BfclError(f"{self.describe()}/{name}:{line}: invalid UTF-8 (byte 0x{raw[e.start]:02x})") from None


def _from_zip(path: Path) -> BfclSource:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise BfclError(f"--bfcl-data {path}: not a readable wheel/zip ({e})") from None
    # The data folder is wherever the marker file sits (bfcl_eval/data/ in the wheel); the
    # shortest such prefix wins over copies in nested folders.
    prefixes = sorted((n[: -len(_MARKER)] for n in names if n == _MARKER or n.endswith("/" + _MARKER)), key=len)
    if not prefixes:
        raise BfclError(f"--bfcl-data {path}: the archive holds no {_MARKER} (is it the bfcl-eval wheel?)")
    return BfclSource(path, prefixes[0], archive=True)


def _dir_candidates(path: Path) -> list[Path]:
    return [path, path / "data", path / "bfcl_eval" / "data",
            path / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"]


def from_path(path: str | os.PathLike) -> BfclSource:
    """The BFCL data at a user-given path (see the module docstring for what it may be)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BfclError(f"--bfcl-data {p} does not exist")
    if p.is_file():
        return _from_zip(p)
    for cand in _dir_candidates(p):
        if (cand / _MARKER).is_file():
            return BfclSource(cand)
    wheels = sorted(p.glob("bfcl_eval-*.whl"))
    if wheels:
        return _from_zip(wheels[-1])
    looked = ", ".join(str(c) for c in _dir_candidates(p))
    raise BfclError(f"--bfcl-data {p}: no BFCL v4 data found (looked for {_MARKER} in {looked}, and for a bfcl_eval-*.whl)")


def _version_key(wheel: Path) -> tuple:
    ver = wheel.name.split("-")[1] if wheel.name.count("-") >= 2 else ""
    return tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.]", ver))


def fetch(dest: Path) -> Path:
    """Download the bfcl-eval wheel (no dependencies) into ``dest``; return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "bfcl-eval", "-d", str(dest)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BfclError(f"could not download bfcl-eval ({e}); pass --bfcl-data PATH to a bfcl-eval wheel or unpacked copy") from None
    wheels = sorted(dest.glob("bfcl_eval-*.whl"), key=_version_key)
    if res.returncode != 0 or not wheels:
        last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BfclError(f"'pip download bfcl-eval' failed ({last[0]}); pass --bfcl-data PATH to a bfcl-eval wheel or unpacked copy")
    return wheels[-1]


def locate(path: str | os.PathLike | None = None, *, cache: Path | None = None, download: bool = True,
           log: Callable[[str], None] | None = None) -> BfclSource:
    """The BFCL data: at ``path``, else in the cache, else downloaded once into the cache."""
    if path is not None:
        return from_path(path)
    cache = cache or cache_dir()
    wheels = sorted(cache.glob("bfcl_eval-*.whl"), key=_version_key) if cache.is_dir() else []
    if wheels:
        return _from_zip(wheels[-1])
    if not download:
        raise BfclError(f"no BFCL data given and none cached in {cache}; pass --bfcl-data PATH")
    if log:
        log(f"downloading the bfcl-eval wheel into {cache} (once)")
    return _from_zip(fetch(cache))


# --------------------------------------------------------------------------------------
# Entries


@dataclass
class BfclEntry:
    id: str
    category: str
    question: list[list[dict[str, Any]]]
    functions: list[dict[str, Any]]
    ground_truth: list[dict[str, Any]] | None  # None for the relevance categories

    def score_row(self, output: str) -> dict[str, Any]:
        """The ``toolace-r score`` input row for one output of the model on this entry."""
        return {"id": self.id, "category": self.category, "functions": self.functions,
                "possible_answer": self.ground_truth, "output": output}


def parse_categories(text: str | Iterable[str] | None, *, multi_turn: bool = False) -> list[str]:
    """Category names (comma list; ``all``, ``live``, ``non_live`` expand) in BFCL order.
    ``multi_turn``: also accept the multi-turn categories and the group ``multi_turn`` (what
    ``toolace-r eval`` runs with :mod:`toolace_r.multiturn`; not part of ``all``)."""
    if text is None:
        return list(CATEGORIES)
    known = CATEGORIES + (MULTI_TURN if multi_turn else ())
    groups = {**GROUPS, **({"multi_turn": MULTI_TURN} if multi_turn else {})}
    items = text.split(",") if isinstance(text, str) else [x for t in text for x in t.split(",")]
    want: set[str] = set()
    for raw in items:
        c = raw.strip()
        if not c:
            continue
        if c == "simple":
            c = "simple_python"  # BFCL v3's name
        if c in groups:
            want.update(groups[c])
        elif c in known:
            want.add(c)
        elif c in UNSUPPORTED or c in MULTI_TURN:
            where = "agentic and non-Python categories need BFCL's own runner" if c in UNSUPPORTED else \
                "multi-turn categories are run by `toolace-r eval`, not here"
            raise BfclError(f"BFCL category {c!r} is not supported here ({where}); choose from {', '.join(known)}")
        else:
            raise BfclError(f"unknown BFCL category {c!r}; choose from {', '.join(known)} (or {', '.join(groups)})")
    if not want:
        raise BfclError("no BFCL category given")
    return [c for c in known if c in want]


def _jsonl(source: BfclSource, name: str) -> list[dict[str, Any]]:
    out = []
    for lineno, line in enumerate(source.read(name).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = jsonin.loads(line)
        except jsonin.JsonInputError as e:
            raise BfclError(f"{source.describe()}/{name}:{lineno}: {e}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise BfclError(f"{source.describe()}/{name}:{lineno}: expected an object with a string 'id'")
        out.append(obj)
    return out


def load_category(source: BfclSource, category: str, limit: int | None = None) -> list[BfclEntry]:
    """The first ``limit`` entries (all when None) of one category, with their ground truth."""
    name = f"{PREFIX}_{category}.json"
    if not source.has(name):
        raise BfclError(f"BFCL data at {source.describe()} has no {name} (pass --categories to choose the categories to run)")
    raw = _jsonl(source, name)
    if limit is not None:
        raw = raw[: max(0, limit)]
    answers: dict[str, Any] = {}
    if "relevance" not in category:  # also irrelevance: neither has a possible-answer file
        answers = {d["id"]: d.get("ground_truth") for d in _jsonl(source, f"possible_answer/{name}")}
    out = []
    for d in raw:
        where = f"{source.describe()}/{name}: entry {d['id']}"
        q, funcs = d.get("question"), d.get("function")
        if isinstance(funcs, dict):
            funcs = [funcs]
        if not (isinstance(q, list) and q and all(isinstance(t, list) for t in q)):
            raise BfclError(f"{where}: 'question' must be a list of turns")
        if not isinstance(funcs, list) or not all(isinstance(f, dict) for f in funcs):
            raise BfclError(f"{where}: 'function' must be a list of function docs")
        gt = None
        if "relevance" not in category:
            if d["id"] not in answers:
                raise BfclError(f"{where}: no ground truth in possible_answer/{name}")
            gt = answers[d["id"]]
            if not isinstance(gt, list) or not gt:
                raise BfclError(f"{where}: ground_truth must be a non-empty list")
        out.append(BfclEntry(d["id"], category, q, funcs, gt))
    return out


def load(source: BfclSource, categories: Iterable[str], limit: int | None = None) -> list[BfclEntry]:
    """Entries of the given categories, ``limit`` per category."""
    out: list[BfclEntry] = []
    for c in categories:
        out.extend(load_category(source, c, limit))
    return out


_OUR_CATEGORY = {"simple_python": "simple", "live_simple": "simple", "multiple": "multiple",
                 "live_multiple": "multiple", "parallel": "parallel", "live_parallel": "parallel",
                 "parallel_multiple": "parallel_multiple", "live_parallel_multiple": "parallel_multiple",
                 "irrelevance": "irrelevance", "live_irrelevance": "irrelevance", "live_relevance": "multiple"}


def entry_sample(entry: BfclEntry) -> Sample:
    """A prompt-only :class:`Sample` for one entry (tools and the single-turn conversation).

    Its answer is left empty on purpose: BFCL entries are scored with :meth:`BfclEntry.score_row`
    against BFCL's own docs and ground truth, which our sample schema cannot always hold (a few
    live entries have a parameter with no acceptable value)."""
    if len(entry.question) != 1:
        raise BfclError(f"BFCL entry {entry.id}: {len(entry.question)} turns; only single-turn entries are supported")
    try:
        tools = tools_from_value(entry.functions)
        cat = _OUR_CATEGORY[entry.category]
        target: dict[str, Any] = {"answer": []} if cat == "irrelevance" else {"answer": None, "text": ""}
        return Sample(id=entry.id, tools=tools, category=cat, source="bfcl",
                      messages=[{"role": m.get("role"), "content": str(m.get("content") or "")} for m in entry.question[0]],
                      meta={"bfcl_category": entry.category, "prompt_only": True}, **target)
    except ConvertError as e:
        raise BfclError(f"BFCL entry {entry.id}: {e}") from None
    except ValidationError as e:
        raise BfclError(f"BFCL entry {entry.id}: {summarize_validation_error(e)}") from None


# --------------------------------------------------------------------------------------
# Aggregates and the result-file layout


def aggregates(per_category: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """BFCL v4 summary scores from ``{category: {"correct", "total", "accuracy"}}``.

    Each aggregate says which categories it was computed from and whether all of them were
    evaluated (``complete``); an aggregate none of whose categories ran is left out. ``non_live``,
    ``hallucination``, ``relevance`` and ``multi_turn`` are unweighted means of their categories,
    ``live`` a mean weighted by entries; where multi-turn ran, ``bfcl_overall`` is BFCL v4's
    overall score: :data:`OVERALL_WEIGHTS` over those groups, ``parts`` giving each (0 when not run)."""
    out: dict[str, dict[str, Any]] = {}

    def put(name: str, cats: tuple[str, ...], weighted: bool) -> None:
        have = [c for c in cats if c in per_category and per_category[c]["total"]]
        if not have:
            return
        if weighted:
            n = sum(per_category[c]["total"] for c in have)
            acc = sum(per_category[c]["correct"] for c in have) / n
        else:
            acc = sum(per_category[c]["accuracy"] for c in have) / len(have)
        out[name] = {"accuracy": acc, "categories": have, "complete": len(have) == len(cats),
                     "total": sum(per_category[c]["total"] for c in have)}

    put("non_live", NON_LIVE_AST, weighted=False)
    put("live", LIVE_AST, weighted=True)
    put("hallucination", HALLUCINATION, weighted=False)
    put("relevance", RELEVANCE, weighted=False)
    put("multi_turn", MULTI_TURN, weighted=False)
    if "multi_turn" in out:
        # BFCL v4's overall (calculate_percentage_weighted_accuracy): a weighted mean of its groups,
        # a group not run counting 0 (agentic never runs here); shown where multi-turn ran.
        parts = {k: out[k]["accuracy"] if k in out else 0.0 for k in OVERALL_WEIGHTS}
        acc = sum(OVERALL_WEIGHTS[k] * v for k, v in parts.items()) / sum(OVERALL_WEIGHTS.values())
        ran = [c for c in (*CATEGORIES, *MULTI_TURN) if c in per_category and per_category[c]["total"]]
        out["bfcl_overall"] = {"accuracy": acc, "categories": ran, "weights": dict(OVERALL_WEIGHTS),
                               "parts": parts, "complete": all(out.get(k, {}).get("complete") for k in OVERALL_WEIGHTS),
                               "total": sum(per_category[c]["total"] for c in ran)}
    return out


def group_dir(category: str) -> str:
    """BFCL's result sub-folder for a category: ``multi_turn``, ``live`` or ``non_live``."""
    if category in MULTI_TURN:
        return "multi_turn"
    return "live" if "live" in category else "non_live"


def result_file(category: str) -> str:
    """The result file name ``bfcl generate`` writes for a category."""
    return f"{PREFIX}_{category}_result.json"
