"""BFCL's side of the round trip: the model names ``bfcl`` knows, and its result files.

* :func:`known_models` reads the model list of the bfcl-eval package beside the data
  (``bfcl_eval/constants/model_config.py``, parsed with :mod:`ast`, never imported): each name and
  whether BFCL runs it in function-calling (FC) or prompt mode. :func:`check_export_name` uses it
  so that ``toolace-r eval --export-bfcl`` writes result files under a name ``bfcl evaluate``
  decodes as prompt-mode Python calls.
* :func:`find_result_files` and :func:`score_result_dir` read the layout ``bfcl generate`` writes,
  ``result/<model>/<non_live|live|multi_turn>/BFCL_v4_<category>_result.json`` (the model name with
  ``/`` as ``_``; one JSON line per entry with its ``id`` and ``result``), and score every entry
  against BFCL's possible answers with our checkers (``toolace-r score --bfcl-result``). A
  single-turn ``result`` is the model's text (prompt mode) or, as FC handlers write it, a list of
  ``{function: arguments}`` with the arguments as an object or a JSON string; the list is scored as
  those calls. A multi-turn ``result`` is, per turn, a list of steps, each the model's text or such
  a list of calls; it is judged by :func:`toolace_r.multiturn.checker.check_entry` (executed on
  BFCL's backend classes), a result that is not a list of turns being an inference error as in
  BFCL. Agentic and non-Python categories are skipped: they need BFCL's own checker.
"""

from __future__ import annotations

import ast
import difflib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from toolace_r import bfcl, jsonin
from toolace_r.bfcl import BfclError, BfclSource
from toolace_r.calls import format_calls
from toolace_r.scoring import score_rows

MODEL_CONFIG = "constants/model_config.py"  # relative to the bfcl_eval package
RESULT_SUFFIX = "_result.json"


# --------------------------------------------------------------------------------------
# Model names


@dataclass
class BfclModels:
    """BFCL's model names: prompt-mode ones (with their handler class) and FC-mode ones."""

    where: str
    prompt: dict[str, str] = field(default_factory=dict)
    fc: set[str] = field(default_factory=set)


def _package_text(source: BfclSource, rel: str) -> tuple[Optional[str], str]:
    """The text of ``bfcl_eval/<rel>`` next to the data folder of ``source`` (None when absent), and
    where it was looked for."""
    if source.archive:
        pkg = source.prefix[: -len("data/")] if source.prefix.endswith("data/") else source.prefix
        name = pkg + rel
        where = f"{source.path}!{name}"
        try:
            with zipfile.ZipFile(source.path) as z:
                return (z.read(name).decode("utf-8") if name in z.namelist() else None), where
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError):
            return None, where
    path = Path(source.path).parent / rel
    try:
        return (path.read_text(encoding="utf-8") if path.is_file() else None), str(path)
    except (OSError, UnicodeDecodeError):
        return None, str(path)


def parse_model_config(text: str, where: str) -> BfclModels:
    """Every ``"name": ModelConfig(..., is_fc_model=..., model_handler=Handler)`` of a model-config
    source text (``is_fc_model`` defaults to True, as in BFCL's dataclass)."""
    out = BfclModels(where)
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise BfclError(f"{where}: cannot read BFCL's model list ({e.msg}, line {e.lineno})") from None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(value, ast.Call)):
                continue
            func = value.func
            if not (isinstance(func, ast.Name) and func.id.endswith("ModelConfig")):
                continue
            kw = {k.arg: k.value for k in value.keywords if k.arg}
            fc_node = kw.get("is_fc_model")
            is_fc = fc_node.value if isinstance(fc_node, ast.Constant) else True
            handler = kw.get("model_handler")
            if is_fc:
                out.fc.add(key.value)
            else:
                out.prompt[key.value] = handler.id if isinstance(handler, ast.Name) else "?"
    return out


def known_models(source: BfclSource) -> Optional[BfclModels]:
    """BFCL's model list from the package beside ``source``'s data (None when only data is there)."""
    text, where = _package_text(source, MODEL_CONFIG)
    return None if text is None else parse_model_config(text, where)


def check_export_name(name: str, source: BfclSource, flag: str = "--name") -> tuple[str, Optional[str]]:
    """The BFCL model name to export under (``name``, or the model whose result folder ``name`` is),
    and a note when it could not be checked. :class:`BfclError` (one line, saying how to register
    a model) when BFCL would not decode the file as prompt-mode Python calls under that name."""
    register = ("register yours: add a prompt-mode entry (ModelConfig(..., is_fc_model=False)) for it to "
                "bfcl_eval/constants/model_config.py and supported_models.py in your BFCL checkout, and pass "
                "that checkout as --bfcl-data")
    if name.endswith("-FC"):
        raise BfclError(f"{flag} {name!r} is a function-calling (-FC) BFCL name, but the export holds prompt-mode "
                        f"Python-call text: use its prompt-mode name (without -FC) if BFCL has one, or {register}")
    models = known_models(source)
    if models is None:
        return name, (f"could not check {flag} {name!r} against BFCL's model list (no bfcl_eval/{MODEL_CONFIG} "
                      f"beside the data at {source.describe()}): `bfcl evaluate` needs a prompt-mode name")
    if name in models.prompt:
        return name, None
    folder_names = {k.replace("/", "_"): k for k in models.prompt}
    if name in folder_names:
        return folder_names[name], None
    close = difflib.get_close_matches(name, list(models.prompt), n=3, cutoff=0.4) or list(models.prompt)[:3]
    kind = "a function-calling (FC) model" if name in models.fc else "not a prompt-mode model"
    raise BfclError(f"{flag} {name!r} is {kind} in BFCL's model list ({models.where}); `bfcl evaluate` decodes "
                    f"Python calls only for prompt-mode names such as {', '.join(close)}: pass one whose chat "
                    f"format matches your model, or {register}")


def result_folder(name: str) -> str:
    """The folder ``bfcl generate`` writes a model's results to: its name with ``/`` as ``_``."""
    return name.replace("/", "_")


# --------------------------------------------------------------------------------------
# Result files


@dataclass
class ResultFile:
    model: str  # the result folder's name
    category: str
    path: Path


def _category_of(path: Path) -> Optional[str]:
    name = path.name
    head = bfcl.PREFIX + "_"
    if name.startswith(head) and name.endswith(RESULT_SUFFIX):
        return name[len(head): -len(RESULT_SUFFIX)]
    return None


def find_result_files(root: Path) -> list[ResultFile]:
    """The result files under ``root``: BFCL's ``result`` folder (one folder per model) or one
    model's folder (``live`` / ``non_live`` inside)."""
    if not root.is_dir():
        raise BfclError(f"--bfcl-result {root}: no such folder")
    out = []
    for f in sorted(root.rglob(f"{bfcl.PREFIX}_*{RESULT_SUFFIX}")):
        category = _category_of(f)
        if category is None:
            continue
        rel = f.relative_to(root).parts
        groups = ("live", "non_live", "agentic", "multi_turn")
        if len(rel) >= 3 and rel[1] in groups:
            model = rel[0]
        elif len(rel) >= 2 and rel[0] in groups or len(rel) == 1:
            model = root.resolve().name
        else:
            model = rel[0]
        out.append(ResultFile(model, category, f))
    if not out:
        raise BfclError(f"--bfcl-result {root}: no {bfcl.PREFIX}_<category>{RESULT_SUFFIX} file in it "
                        "(expected <model>/<live|non_live|multi_turn>/ as `bfcl generate` writes)")
    return out


def result_text(result: Any) -> Optional[str]:
    """An entry's ``result`` as the text the checker reads: prompt-mode text as it is, an FC-mode
    list of ``{function: arguments}`` as those calls; None when it is neither."""
    if isinstance(result, str):
        return result
    if isinstance(result, list) and all(isinstance(c, dict) and len(c) == 1 for c in result):
        calls = []
        for c in result:
            (fn, args), = c.items()
            if isinstance(args, str):
                try:
                    args = jsonin.loads(args)
                except jsonin.JsonInputError:
                    return None
            if not isinstance(fn, str) or not isinstance(args, dict):
                return None
            calls.append({fn: args})
        return format_calls(calls)
    return None


def _result_lines(path: Path) -> list[tuple[str, str, Any]]:
    """``(where, id, result as it is)`` per line of one result file, in order."""
    out, seen = [], set()
    for line in jsonin.iter_lines(path):
        where = f"{path}:{line.lineno}"
        if line.error is not None:
            raise BfclError(f"{where}: {line.error}")
        obj = line.value
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or "result" not in obj:
            raise BfclError(f"{where}: expected an object with a string 'id' and a 'result'")
        if obj["id"] in seen:
            raise BfclError(f"{where}: entry {obj['id']!r} appears twice")
        seen.add(obj["id"])
        out.append((where, obj["id"], obj["result"]))
    return out


def read_result_file(path: Path) -> list[tuple[str, str]]:
    """``(id, output text)`` per line of one single-turn result file, in order."""
    out = []
    for where, eid, result in _result_lines(path):
        text = result_text(result)
        if text is None:
            raise BfclError(f"{where}: 'result' must be the model's text or a list of {{function: arguments}}")
        out.append((eid, text))
    return out


def read_multi_turn_file(path: Path) -> list[tuple[str, Any]]:
    """``(id, turns)`` per line of one multi-turn result file, in order: per turn the steps, a step
    given as FC-mode calls turned into their text (:func:`result_text`); anything else as it is,
    for the checker to judge (not a list of turns: an inference error; a step it cannot read: dropped)."""
    out = []
    for _, eid, result in _result_lines(path):
        if isinstance(result, list):
            result = [[(result_text(s) or s) if isinstance(s, list) and s else s for s in turn]
                      if isinstance(turn, list) else turn for turn in result]
        out.append((eid, result))
    return out


def _missing_entry(rf: ResultFile, eid: str, source: BfclSource) -> BfclError:
    return BfclError(f"{rf.path}: entry {eid!r} is not in BFCL's {rf.category} data at {source.describe()} "
                     "(results of another BFCL version?)")


def _score_multi_turn(rf: ResultFile, source: BfclSource, cache: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The verdict rows of one multi-turn result file, and the number of the category's entries
    (``cache``: what earlier files loaded)."""
    from toolace_r.multiturn.checker import check_entry
    from toolace_r.multiturn.envs import load_classes
    from toolace_r.multiturn.loop import load_entries

    if "classes" not in cache:
        cache["classes"] = load_classes(source)
    if rf.category not in cache:
        cache[rf.category] = {e.id: e for e in load_entries(source, rf.category)}
    entries = cache[rf.category]
    verdicts = []
    for eid, turns in read_multi_turn_file(rf.path):
        if eid not in entries:
            raise _missing_entry(rf, eid, source)
        e = entries[eid]
        v = check_entry(e.raw, e.ground_truth, turns, classes=cache["classes"])
        verdicts.append({"id": eid, "valid": v.valid, "error_type": v.error_type,
                         "errors": [v.error_message] if v.error_message else [], "failed_turn": v.turn})
    return verdicts, len(entries)


def score_result_dir(root: Path, source: BfclSource, categories: Optional[list[str]] = None,
                     mode: str = "bfcl") -> dict[str, Any]:
    """Score every result file under ``root`` (only ``categories`` when given). Returns
    ``{"models": {model: {"categories": {cat: {correct, total, accuracy, missing}}, "overall",
    "aggregates"}}, "rows": [verdict rows], "skipped": [(path, why)]}``; ``missing`` counts the
    category's BFCL entries with no result line (a run with a limit), which are not scored. ``mode``
    (``bfcl`` or ``strict``) is the single-turn checker's; multi-turn results are judged by
    executing their calls (:func:`toolace_r.multiturn.checker.check_entry`), their verdict rows
    also giving the 0-based ``failed_turn``."""
    files = find_result_files(root)
    want = set(categories) if categories is not None else None
    models: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    entries_by_cat: dict[str, dict[str, bfcl.BfclEntry]] = {}
    mt_cache: dict[str, Any] = {}  # the backend classes and the multi-turn entries, loaded once
    order = (*bfcl.CATEGORIES, *bfcl.MULTI_TURN)
    for rf in files:
        if rf.category not in order:
            skipped.append((str(rf.path), f"category {rf.category} is not scored here (agentic and non-Python "
                                          "categories need BFCL's own checker)"))
            continue
        if want is not None and rf.category not in want:
            continue
        if rf.category in bfcl.MULTI_TURN:  # judged by executing the calls, not by `mode`
            verdicts, n_entries = _score_multi_turn(rf, source, mt_cache)
        else:
            if rf.category not in entries_by_cat:
                entries_by_cat[rf.category] = {e.id: e for e in bfcl.load_category(source, rf.category)}
            entries = entries_by_cat[rf.category]
            scored = []
            for eid, text in read_result_file(rf.path):
                if eid not in entries:
                    raise _missing_entry(rf, eid, source)
                scored.append(entries[eid].score_row(text))
            verdicts, n_entries = score_rows(scored, mode), len(entries)
        correct = sum(v["valid"] for v in verdicts)
        cats = models.setdefault(rf.model, {"categories": {}})["categories"]
        cats[rf.category] = {"correct": correct, "total": len(verdicts),
                             "accuracy": correct / len(verdicts) if verdicts else 0.0,
                             "missing": n_entries - len(verdicts)}
        rows += [{"model": rf.model, "category": rf.category, **v} for v in verdicts]
    for m in models.values():
        m["categories"] = {c: m["categories"][c] for c in order if c in m["categories"]}
        k = sum(c["correct"] for c in m["categories"].values())
        n = sum(c["total"] for c in m["categories"].values())
        m["overall"] = {"correct": k, "total": n, "accuracy": k / n if n else 0.0}
        m["aggregates"] = bfcl.aggregates(m["categories"])
    return {"models": models, "rows": rows, "skipped": skipped}
