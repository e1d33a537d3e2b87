"""A run's ``data.source`` as a Hugging Face data set: ``org/name[:config]`` on the hub (or in the
HF cache, ``HF_HUB_OFFLINE`` honoured), or a folder a ``datasets`` data set was saved to
(``save_to_disk``: it holds ``dataset_dict.json``). Its rows must be toolace-r samples (a raw
public data set is converted first: ``toolace-r data convert org/name out.jsonl --from ...``).

Splits: ``train`` with ``validation`` (or ``dev``) and ``test`` are used as they are; otherwise the
``train`` split (or the only one) is split as ``toolace-r data split`` does, seeded, the split
recorded. ``datasets`` is imported only when such a source is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolace_r import jsonin
from toolace_r.data.io import DataError, Record, RecordError, looks_like_hub_name, validate_sample, write_samples
from toolace_r.data.schema import Sample
from toolace_r.data.split import SPLITS, split_samples

_DEV_NAMES = ("validation", "dev", "valid", "val")


def is_dataset_source(source: str) -> bool:
    """A data set name (not a local path) or a ``save_to_disk`` folder."""
    p = Path(source)
    if p.is_dir():
        return (p / "dataset_dict.json").is_file() or (p / "dataset_info.json").is_file()
    return not p.exists() and looks_like_hub_name(source)


def load(source: str) -> Any:
    """The ``datasets.DatasetDict`` (or ``Dataset``) of a source; :class:`DataError` in one line."""
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise DataError(f"data.source {source}: reading a data set needs the 'datasets' package ({e})") from None
    try:
        if Path(source).is_dir():
            return datasets.load_from_disk(source)
        name, _, config = source.partition(":")
        return datasets.load_dataset(name, config or None)
    except Exception as e:  # the hub and the loaders raise many kinds; say which source failed
        first = next((ln for ln in str(e).splitlines() if ln.strip()), "")
        raise DataError(f"data.source {source}: cannot load the data set: {type(e).__name__}: {first}") from None


def drop_nulls(value: Any) -> Any:
    """``value`` without the null entries of its objects: Arrow gives every row of a column the
    union of all rows' keys, null where a row had none (a sample's own nulls are defaults)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _samples(rows: Any, label: str) -> list[Sample]:
    from toolace_r.data.sniff import raw_file_message

    out = []
    for i, row in enumerate(rows):
        rec = Record(f"{label}#{i}", drop_nulls(dict(row)))
        try:
            jsonin.check_value(rec.data)
            out.append(validate_sample(rec))
        except jsonin.JsonInputError as e:
            raise DataError(f"{rec.location}: {e}") from None
        except RecordError as e:
            hint = raw_file_message(rec, label.split("[")[0])
            raise DataError(hint or str(e)) from None
    return out


def write_splits(source: str, out: Path, *, seed: int) -> dict[str, Any]:
    """Write ``out/{train,dev,test}.jsonl`` from the data set; returns what was done (for the
    stage's metrics)."""
    ds = load(source)
    splits = dict(ds) if hasattr(ds, "keys") else {"train": ds}
    dev_name = next((n for n in _DEV_NAMES if n in splits), None)
    if "train" in splits and dev_name and "test" in splits:
        for ours, theirs in (("train", "train"), ("dev", dev_name), ("test", "test")):
            write_samples(out / f"{ours}.jsonl", _samples(splits[theirs], f"{source}[{theirs}]"))
        return {"dataset": source, "splits": {"train": "train", "dev": dev_name, "test": "test"}}
    name = "train" if "train" in splits else (next(iter(splits)) if len(splits) == 1 else None)
    if name is None:
        raise DataError(f"data.source {source}: no 'train' split to use (it has {', '.join(splits)})")
    samples = _samples(splits[name], f"{source}[{name}]")
    if not samples:
        raise DataError(f"data.source {source}: the {name} split is empty")
    result = split_samples(samples, seed=seed)
    for s in SPLITS:
        write_samples(out / f"{s}.jsonl", result.splits[s])
    return {"dataset": source, "from_split": name, "split": result.info()}
