"""Split one sample file into train / dev / test (``toolace-r data split``, and ``data.source``
set to one ``.jsonl`` file in a run).

How a split is made, top to bottom:

1. Samples are grouped into *dialogues*: the samples ``data convert`` made from the turns of one
   conversation carry the same ``meta.dialogue`` (and ``meta.turn``), and stay together in one
   split, so no split sees part of a conversation another split is scored on. A sample without
   ``meta.dialogue`` is a dialogue of its own.
2. Each dialogue's *stratum* is the category of its first sample (a multi-turn conversation's
   later turns are all ``multi_turn``; its first turn says what kind of request it starts with).
3. The dev and test sizes (:func:`parse_size`: a count of samples, or a fraction of the file) are
   shared out over the strata in proportion to their sizes (largest remainders), so every
   category is represented in each split as it is in the file.
4. Within a stratum the dialogues are shuffled with a seed derived from ``seed`` and the
   category, then handed out in that order: to test while it is short of its share, then dev,
   the rest to train. A dialogue goes to a split when taking it brings that split closer to
   its share: with one sample per dialogue the sizes are exact; multi-turn dialogues, never
   cut, make them close to it instead.

Every split keeps the order of the input file. The same file, sizes and seed give the same
split, byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from toolace_r.data.io import DataError, read_samples, write_samples
from toolace_r.data.schema import Sample

SPLITS = ("train", "dev", "test")
DEFAULT_DEV = 0.1  # shares of the file that `data split` and data.source=FILE.jsonl hold out
DEFAULT_TEST = 0.1

Size = Union[int, float]  # a count of samples, or a fraction of them in (0, 1)


class SplitError(ValueError):
    """Sizes or files that do not make a split; the message says which and what to do."""


def parse_size(text: str, flag: str) -> Size:
    """``"200"`` -> 200 samples; ``"0.1"`` -> a tenth of the file. ``flag`` names the option in errors."""
    value: Size
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise SplitError(f"{flag} must be a count of samples (e.g. 200) or a fraction in (0, 1) "
                             f"(e.g. 0.1), not {text!r}") from None
    return check_size(value, flag)


def check_size(size: Size, flag: str) -> Size:
    """``size`` itself when it is a count >= 0 or a fraction in (0, 1)."""
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise SplitError(f"{flag} must be a count of samples or a fraction in (0, 1), not {size!r}")
    if isinstance(size, int) and size < 0:
        raise SplitError(f"{flag} must be a count >= 0, not {size}")
    if isinstance(size, float) and not 0 < size < 1:
        raise SplitError(f"{flag} as a fraction must be in (0, 1), not {size}; for a count of samples "
                         f"give a whole number (e.g. {flag} 200)")
    return size


def resolve_size(size: Size, total: int) -> int:
    """How many of ``total`` samples ``size`` asks for."""
    return size if isinstance(size, int) else round(size * total)


def dialogue_key(sample: Sample) -> tuple[str, ...]:
    """What binds samples into one dialogue: ``meta.dialogue`` (within its source), else the id."""
    dialogue = sample.meta.get("dialogue")
    if dialogue is None:
        return ("sample", sample.id)
    return ("dialogue", sample.source, str(dialogue))


@dataclass
class Split:
    """The three splits (each in file order) and what was asked for."""

    splits: dict[str, list[Sample]]
    dev: Size
    test: Size
    seed: int
    n_dialogues: int

    def info(self) -> dict[str, Any]:
        """Sizes, asked and made, and the counts by category: a run's data stage metrics."""
        return {
            "seed": self.seed, "dev": self.dev, "test": self.test, "n_dialogues": self.n_dialogues,
            "n": {name: len(samples) for name, samples in self.splits.items()},
            "by_category": {name: dict(sorted(Counter(s.category for s in samples).items()))
                            for name, samples in self.splits.items()},
        }

    def summary(self) -> str:
        """One line: ``train 800, dev 100, test 100 (1000 samples, 990 dialogues, seed 0)``."""
        sizes = ", ".join(f"{name} {len(self.splits[name])}" for name in SPLITS)
        total = sum(len(s) for s in self.splits.values())
        return f"{sizes} ({total} samples, {self.n_dialogues} dialogues, seed {self.seed})"


def split_samples(samples: list[Sample], *, dev: Size = DEFAULT_DEV, test: Size = DEFAULT_TEST,
                  seed: int = 0) -> Split:
    """Split ``samples`` into train / dev / test (see the module docstring)."""
    if not samples:
        raise SplitError("there are no samples to split")
    total = len(samples)
    n_dev, n_test = resolve_size(check_size(dev, "dev"), total), resolve_size(check_size(test, "test"), total)
    if n_dev + n_test >= total:
        raise SplitError(f"dev {dev} and test {test} take {n_dev + n_test} of the {total} samples, leaving none "
                         "to train on; ask for fewer (counts, or fractions that sum to less than 1)")
    dialogues = _dialogues(samples)
    strata: dict[str, list[list[int]]] = {}
    for members in dialogues:
        strata.setdefault(samples[members[0]].category, []).append(members)
    names = sorted(strata)
    sizes = [sum(len(d) for d in strata[c]) for c in names]
    test_share = _apportion(n_test, sizes, caps=sizes)
    dev_share = _apportion(n_dev, sizes, caps=[n - t for n, t in zip(sizes, test_share)])
    where: dict[int, str] = {}
    for cat, want_test, want_dev in zip(names, test_share, dev_share):
        order = list(strata[cat])
        random.Random(_stratum_seed(seed, cat)).shuffle(order)
        _hand_out(order, {"test": want_test, "dev": want_dev}, where)
    splits = {name: [s for i, s in enumerate(samples) if where.get(i, "train") == name] for name in SPLITS}
    return Split(splits, dev, test, seed, len(dialogues))


def _dialogues(samples: list[Sample]) -> list[list[int]]:
    """The samples' positions grouped by dialogue, in order of first appearance."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(dialogue_key(s), []).append(i)
    return list(groups.values())


def _apportion(total: int, sizes: list[int], caps: list[int]) -> list[int]:
    """``total`` shared out in proportion to ``sizes`` (largest remainders, ties by position),
    never more than ``caps`` to one."""
    whole = sum(sizes)
    ideal = [total * n / whole for n in sizes]
    share = [min(int(x), cap) for x, cap in zip(ideal, caps)]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(ideal[i] - int(ideal[i])), i))
    while sum(share) < total:  # sum(caps) >= total: each pass gives at least one
        for i in by_remainder:
            if sum(share) < total and share[i] < caps[i]:
                share[i] += 1
    return share


def _stratum_seed(seed: int, category: str) -> int:
    """Each category's own shuffle seed: adding a category to the file leaves the others' order."""
    return int.from_bytes(hashlib.sha256(f"split/{seed}/{category}".encode()).digest()[:8], "little")


def _hand_out(dialogues: list[list[int]], wants: dict[str, int], where: dict[int, str]) -> None:
    """Give each dialogue to the first held-out split it brings closer to its share (else train)."""
    got = {name: 0 for name in wants}
    for members in dialogues:
        for name, want in wants.items():
            if len(members) < 2 * (want - got[name]):  # |short - len| < short: closer with it
                got[name] += len(members)
                where.update((i, name) for i in members)
                break


def split_file(source: str | os.PathLike, out_dir: str | os.PathLike, *, dev: Size = DEFAULT_DEV,
               test: Size = DEFAULT_TEST, seed: int = 0, force: bool = False) -> Split:
    """Read ``source`` (a JSONL of samples), split it and write ``out_dir/{train,dev,test}.jsonl``.

    Existing split files are kept unless ``force``: nothing is read or written then."""
    path, out = Path(source), Path(out_dir)
    if not path.is_file():
        raise SplitError(f"{path}: no such file; give a JSONL of samples (toolace-r data convert writes one)")
    if out.exists() and not out.is_dir():
        raise SplitError(f"{out} is a file; --out must be a folder for train.jsonl, dev.jsonl and test.jsonl")
    existing = [str(out / f"{name}.jsonl") for name in SPLITS if (out / f"{name}.jsonl").exists()]
    if existing and not force:
        raise SplitError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                         "pass --force to overwrite, or choose another --out")
    samples = read_samples(path)
    if not samples:
        raise DataError(f"{path}: holds no samples")
    result = split_samples(samples, dev=dev, test=test, seed=seed)
    for name in SPLITS:
        write_samples(out / f"{name}.jsonl", result.splits[name])
    return result
