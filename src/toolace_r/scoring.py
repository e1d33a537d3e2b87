"""Scoring: the one checker call shared by training rewards (the MAIT probe), evaluation and
`toolace-r score`.

* :func:`score_answer`: is a model's answer right for one of our samples (strict checking: a
  malformed output is never credited as a correct abstention, so the probe never rewards broken
  text and evaluation never counts it);
* :func:`score_rows` / :func:`validate_row` / :func:`summarize`: verdicts for ``toolace-r score``
  rows (``{functions, output, possible_answer, category}``) and accuracy by category.

Kept free of heavy imports so that it starts fast.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolace_r.checker import check, is_relevance_category
from toolace_r.jsonin import iter_lines

if TYPE_CHECKING:
    from toolace_r.data.schema import Sample


def score_answer(sample: "Sample", output: str, mode: str = "strict") -> bool:
    """Is ``output`` a right answer to ``sample``?"""
    tools = [t.model_dump() for t in sample.tools]
    return check(output, tools, sample.answer, sample.checker_category(), mode=mode).valid  # type: ignore[arg-type]


class RowError(ValueError):
    pass


# The categories a row may name: the checker categories of our samples and BFCL v4's AST
# categories (toolace_r.bfcl.CATEGORIES, spelled out here to keep this module light).
KNOWN_CATEGORIES = (
    "simple", "multiple", "parallel", "parallel_multiple", "irrelevance", "relevance",
    "simple_python", "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
    "live_irrelevance", "live_relevance",
)


def validate_row(row: Any) -> dict[str, Any]:
    """Check one input row's shape; raise :class:`RowError` saying what is wrong."""
    if not isinstance(row, dict):
        raise RowError(f"expected a JSON object, got {type(row).__name__}")
    for key, kind in (("functions", list), ("output", str), ("category", str)):
        if key not in row:
            raise RowError(f"missing field {key!r}")
        if not isinstance(row[key], kind):
            raise RowError(f"field {key!r} must be a {kind.__name__}, got {type(row[key]).__name__}")
    if row["category"] not in KNOWN_CATEGORIES:
        raise RowError(f"unknown category {row['category']!r}; known: {', '.join(KNOWN_CATEGORIES)}")
    for i, f in enumerate(row["functions"]):
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not isinstance(f.get("parameters"), dict):
            raise RowError(f"functions[{i}] must be an object with a string 'name' and an object 'parameters'")
    pa = row.get("possible_answer")
    if not is_relevance_category(row["category"]):
        if not isinstance(pa, list) or not pa:
            raise RowError(f"category {row['category']!r} needs 'possible_answer' as a non-empty list of gold calls")
        for i, gold in enumerate(pa):
            if not isinstance(gold, dict) or len(gold) != 1 or not isinstance(next(iter(gold.values())), dict):
                raise RowError(f"possible_answer[{i}] must be {{function_name: {{param: [values]}}}}")
            for p, vals in next(iter(gold.values())).items():
                if not isinstance(vals, list):
                    raise RowError(f"possible_answer[{i}] parameter {p!r} must list its acceptable values")
    return row


def score_rows(rows: list[dict[str, Any]], mode: str = "bfcl") -> list[dict[str, Any]]:
    out = []
    for row in rows:
        v = check(row["output"], row["functions"], row.get("possible_answer"), row["category"], mode=mode)  # type: ignore[arg-type]
        res = v.to_dict()
        if "id" in row:
            res = {"id": row["id"], **res}
        out.append(res)
    return out


def summarize(rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, res in zip(rows, results):
        by_cat[row["category"]][0] += int(res["valid"])
        by_cat[row["category"]][1] += 1
    summary = {c: {"correct": k, "total": n, "accuracy": k / n} for c, (k, n) in sorted(by_cat.items())}
    k = sum(v["correct"] for v in summary.values())
    n = sum(v["total"] for v in summary.values())
    summary["overall"] = {"correct": k, "total": n, "accuracy": k / n if n else 0.0}
    return summary


def read_rows(path: Path, skip_invalid: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a ``toolace-r score`` JSONL file, validated, and the messages of skipped lines.

    The file is read line by line (:func:`toolace_r.jsonin.iter_lines`: strict JSON, bounded
    lines and nesting). A malformed line raises :class:`RowError` (``path:line: what is wrong``)
    unless ``skip_invalid``, which skips it and records the message. Blank lines are ignored;
    every other line is either a row or a skipped message."""
    rows, skipped = [], []
    for line in iter_lines(path):
        try:
            if line.error is not None:
                raise RowError(line.error)
            rows.append(validate_row(line.value))
        except RowError as e:
            msg = f"{path}:{line.lineno}: {e}"
            if not skip_invalid:
                raise RowError(msg + " (fix the line, or pass --skip-invalid to skip such lines)") from None
            skipped.append(msg)
    return rows, skipped
