"""Reading and writing tool-use data: raw records and validated samples.

Sources are local ``.json`` files (one array of objects, or one object), local ``.jsonl``
files (one object per line), or a Hugging Face ``datasets`` name (``org/name`` or
``org/name:split``), loaded through ``datasets.load_dataset`` only when asked for.

Every record carries a *location* (``file:line`` for local files, ``name[split]#row`` for a
hub data set), so that an error names where the bad record is and what is wrong with it.
With ``skip_invalid`` a bad record is skipped instead, and a :class:`ConversionReport` counts
it with its reason: nothing is dropped silently, and the counts add up (records = converted +
skipped). JSON is read strictly (:mod:`toolace_r.jsonin`): invalid UTF-8, ``NaN`` / ``Infinity``,
nesting bombs, lone surrogates and over-long lines are bad records like any other. JSON-lines
files are read line by line; a ``.json`` file is read whole, and a syntax error in it stops the
read even with ``skip_invalid`` (nothing after it can be located).

Writes are atomic: the data goes to a temporary file beside the target, which then replaces
the target in one ``os.replace`` (a crash never leaves half a file under the real name).
"""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from pydantic import ValidationError

from toolace_r import jsonin
from toolace_r.data.schema import Sample


class DataError(ValueError):
    """Bad input data; the message names the file, the line and what is wrong."""


class RecordError(DataError):
    """One bad record (its location, then what is wrong): the kind of error ``skip_invalid`` skips."""


@dataclass
class Record:
    """One raw JSON value and where it came from (``file:line`` or ``dataset#row``); a record that
    could not be read (only with ``skip_invalid``) has ``data`` None and ``error`` saying why."""

    location: str
    data: Any
    error: str | None = None


@dataclass
class ConversionReport:
    """What a read or conversion kept and what it skipped, with each skip's reason."""

    converted: int = 0  # samples made
    kept: int = 0  # records that made them
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, location: str, reason: str) -> None:
        self.skipped.append((location, reason))

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    @property
    def records(self) -> int:
        """Records read: every one is either kept or skipped."""
        return self.kept + self.n_skipped

    def reasons(self) -> Counter:
        """Skips counted by reason, with the record-specific detail cut off after ':'."""
        return Counter(r.split(":", 1)[0] for _, r in self.skipped)

    def summary(self) -> str:
        line = (f"{self.converted} samples from {self.records} records "
                f"({self.kept} converted, {self.n_skipped} skipped)")
        if self.skipped:
            top = ", ".join(f"{n}x {r}" for r, n in self.reasons().most_common(5))
            line += f": {top}"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "records_converted": self.kept,
            "converted": self.converted,
            "skipped": self.n_skipped,
            "skip_reasons": dict(self.reasons().most_common()),
            "skipped_examples": [{"location": loc, "reason": r} for loc, r in self.skipped[:20]],
        }


def summarize_validation_error(err: ValidationError) -> str:
    """A pydantic error in one line: the first problem's field path and message (+N more)."""
    errors = err.errors()
    if not errors:
        return str(err).splitlines()[0]
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "<sample>"
    msg = first.get("msg", "invalid")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {msg}{more}"


# --------------------------------------------------------------------------------------
# Raw records


def is_local_source(source: str | os.PathLike) -> bool:
    """A local JSON / JSON-lines file (a folder goes to ``datasets``, which reads folders)."""
    p = Path(source)
    return p.is_file() or (not p.exists() and p.suffix.lower() in (".json", ".jsonl"))


def looks_like_hub_name(name: str) -> bool:
    """``org/name`` (optionally ``:split`` or ``:config``) that is not a local path: one slash, no
    leading ``.``, ``/`` or ``~``, no .json/.jsonl suffix, and no local folder named ``org``."""
    base = name.split(":", 1)[0]
    parts = base.split("/")
    if len(parts) != 2 or not all(parts) or base[0] in "./~":
        return False
    if Path(base).suffix.lower() in (".json", ".jsonl") or Path(parts[0]).is_dir():
        return False
    return all(c.isalnum() or c in "-_." for c in "".join(parts))


def read_records(source: str | os.PathLike, *, split: str | None = None,
                 skip_invalid: bool = False) -> Iterator[Record]:
    """Raw JSON values from a local .json/.jsonl file or a Hugging Face data set name.

    A hub name may carry its split after a colon (``Team-ACE/ToolACE:train``); the default
    split is ``train``. A local folder is also read through ``datasets`` (its data files).
    A record that cannot be read (invalid UTF-8 or JSON, ``NaN``, too deep, too long) raises
    :class:`RecordError` naming file and line; with ``skip_invalid`` it comes as a
    :class:`Record` whose ``error`` says what is wrong, for the caller to count."""
    src = str(source)
    if is_local_source(src) or not (Path(src).is_dir() or looks_like_hub_name(src)):
        path = Path(src)
        if not path.is_file():
            raise DataError(f"{path}: no such file (give a local .json or .jsonl file, or a Hugging Face "
                            "data set as org/name)")
        reader = _read_jsonl if path.suffix.lower() == ".jsonl" else _read_json
        records = reader(path)
    else:
        records = _read_hub(src, split)
    for rec in records:
        if rec.error is not None and not skip_invalid:
            raise RecordError(f"{rec.location}: {rec.error}")
        yield rec


def _read_jsonl(path: Path) -> Iterator[Record]:
    for line in jsonin.iter_lines(path):
        yield Record(f"{path}:{line.lineno}", line.value, line.error)


def _read_json(path: Path) -> Iterator[Record]:
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: invalid UTF-8: byte 0x{raw[e.start]:02x} (save the file as UTF-8; "
                        "a .json file cannot be read past it)") from None
    decode = _Decoder(path, text)
    i = _skip_ws(text, 0)
    if i >= len(text):
        return
    if text[i] != "[":
        # One object (or a .json file that is really JSON lines): decode value after value.
        while i < len(text):
            record, end = decode(i)
            yield record
            i = _skip_ws(text, end)
        return
    # A top-level array: decode element by element, so each record knows its line.
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while True:
        record, end = decode(i)
        yield record
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "]":
            if _skip_ws(text, i + 1) < len(text):
                raise DataError(f"{path}:{decode.line_of(i + 1)}: invalid JSON: extra data after the array")
            return
        raise DataError(f"{path}:{decode.line_of(i)}: invalid JSON: expected ',' or ']' in the top-level array")


class _Decoder:
    """Decodes the values of one .json text in order, counting lines as it goes (not from the
    start for every value, which is quadratic in a large file)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self._offset, self._line = 0, 1

    def line_of(self, offset: int) -> int:
        if offset < self._offset:
            return self.text.count("\n", 0, offset) + 1
        self._line += self.text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line

    def __call__(self, i: int) -> tuple[Record, int]:
        """The record whose value starts at ``text[i]``, and where it ends. A well-formed value
        that is refused (``NaN``, too deep) is a record with an error; bad syntax ends the read."""
        loc = f"{self.path}:{self.line_of(i)}"
        try:
            value, end, error = jsonin.raw_decode(self.text, i)
        except json.JSONDecodeError as e:
            raise DataError(f"{self.path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno}; a .json file "
                            "cannot be read past it)") from None
        except jsonin.JsonInputError as e:
            raise DataError(f"{loc}: {e} (a .json file cannot be read past it)") from None
        return Record(loc, value, error), end


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _read_hub(name: str, split: str | None) -> Iterator[Record]:
    if ":" in name and split is None and not Path(name).exists():
        name, split = name.rsplit(":", 1)
    split = split or "train"
    try:
        import datasets  # heavy: only when a hub data set is really asked for
    except ImportError as e:  # pragma: no cover - datasets is a declared dependency
        raise DataError(f"{name}: reading a Hugging Face data set needs the 'datasets' package ({e})") from None
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as e:  # the hub raises many kinds; one line says which data set failed
        raise DataError(f"{name}[{split}]: cannot load data set: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    for i, row in enumerate(ds):
        row = dict(row)
        try:
            jsonin.check_value(row)  # a float column may hold NaN
        except jsonin.JsonInputError as e:
            yield Record(f"{name}[{split}]#{i}", None, str(e))
            continue
        yield Record(f"{name}[{split}]#{i}", row)


# --------------------------------------------------------------------------------------
# Samples


def validate_sample(record: Record) -> Sample:
    """Validate one raw record as a :class:`Sample`; :class:`DataError` names where and why."""
    if not isinstance(record.data, dict):
        raise RecordError(f"{record.location}: expected a JSON object, got {type(record.data).__name__}")
    try:
        return Sample.model_validate(record.data)
    except ValidationError as e:
        raise RecordError(f"{record.location}: invalid sample: {summarize_validation_error(e)}") from None


def read_samples(
    source: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    report: ConversionReport | None = None,
    split: str | None = None,
) -> list[Sample]:
    """Read and validate samples in the unified format (see :mod:`toolace_r.data.schema`).

    With ``skip_invalid`` an invalid record is skipped and recorded in ``report``; without
    it the first invalid record raises :class:`RecordError`."""
    report = report if report is not None else ConversionReport()
    out: list[Sample] = []
    for rec in read_records(source, split=split, skip_invalid=skip_invalid):
        if rec.error is not None:
            report.skip(rec.location, rec.error)
            continue
        try:
            out.append(validate_sample(rec))
        except RecordError as e:
            from toolace_r.data.sniff import raw_file_message  # sniff imports this module

            hint = raw_file_message(rec, str(source))
            if hint is not None:  # a raw file where samples belong: skipping every record would not help
                raise DataError(hint) from None
            if not skip_invalid:
                raise
            report.skip(rec.location, str(e)[len(rec.location) + 2:])
            continue
        report.kept += 1
        report.converted += 1
    return out


def iter_jsonl_lines(samples: Iterable[Sample | dict]) -> Iterator[str]:
    for s in samples:
        obj = s.model_dump(mode="json", exclude_none=True) if isinstance(s, Sample) else s
        yield json.dumps(obj, ensure_ascii=False) + "\n"


def write_jsonl(path: str | os.PathLike, items: Iterable[Sample | dict]) -> int:
    """Write samples (or plain dicts) as JSON lines, atomically. Returns the count written."""
    n = 0

    def lines() -> Iterator[str]:
        nonlocal n
        for line in iter_jsonl_lines(items):
            n += 1
            yield line

    atomic_write_text(path, lines())
    return n


def write_samples(path: str | os.PathLike, samples: Iterable[Sample]) -> int:
    return write_jsonl(path, samples)


def check_output_name(path: str | os.PathLike, *suffixes: str) -> None:
    """A file to write must end in one of ``suffixes`` and must not be a folder: a name without an
    extension is usually a mistake (a folder meant, or the output argument forgotten)."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p} is a folder: give a file name ending in {' or '.join(suffixes)}")
    if p.suffix.lower() not in suffixes:
        what = f"has the extension {p.suffix!r}" if p.suffix else "has no extension"
        raise DataError(f"{p} {what}: give a file name ending in {' or '.join(suffixes)}")


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> None:
    """Write one JSON document atomically."""
    atomic_write_text(path, [json.dumps(obj, ensure_ascii=False, indent=indent) + "\n"])


def atomic_write_text(path: str | os.PathLike, chunks: Iterable[str]) -> None:
    """Write text chunks (or one string) to a temporary file beside ``path``, then
    ``os.replace`` it over ``path``."""
    if isinstance(chunks, str):
        chunks = [chunks]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates the file 0600; give it the mode an ordinary open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        # Never leave the temporary file behind, whatever stopped the write.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
