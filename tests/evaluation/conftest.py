"""Fixtures for the evaluation tests: the small BFCL v4 data folder of evalfixtures.py written to
disk (unpacked-wheel layout), the same packed as a fake bfcl-eval wheel, a JSONL of our samples
with seen/unseen flags, and a micro embedded model made on them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from evalfixtures import BFCL_ENTRIES, MODEL_CONFIG_PY, make_samples, write_bfcl_data


@pytest.fixture(scope="session")
def bfcl_unpacked(tmp_path_factory) -> Path:
    """An unpacked wheel: ROOT/bfcl_eval/data/..."""
    root = tmp_path_factory.mktemp("bfcl_unpacked")
    write_bfcl_data(root / "bfcl_eval" / "data")
    return root


@pytest.fixture(scope="session")
def bfcl_wheel(tmp_path_factory, bfcl_unpacked) -> Path:
    """The same data packed as a (fake) bfcl-eval wheel, with a module file beside it as in the real one."""
    whl = tmp_path_factory.mktemp("bfcl_wheel") / "bfcl_eval-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("bfcl_eval/__init__.py", "")
        z.writestr("bfcl_eval/constants/model_config.py", MODEL_CONFIG_PY)  # the model names BFCL knows
        for f in sorted((bfcl_unpacked / "bfcl_eval").rglob("*.json")):
            z.write(f, f.relative_to(bfcl_unpacked).as_posix())
        z.writestr("bfcl_eval-0.0.1.dist-info/METADATA", "Name: bfcl-eval\nVersion: 0.0.1\n")
    return whl


@pytest.fixture(scope="session")
def samples_file(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("samples") / "test.jsonl"
    f.write_text("".join(json.dumps(s) + "\n" for s in make_samples()))
    return f


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory, bfcl_unpacked, samples_file) -> Path:
    """An untrained micro embedded model whose tokenizer saw the fixture prompts (it answers badly:
    any accuracy is fine; what is tested is the evaluation around it)."""
    from toolace_r import bfcl
    from toolace_r.data.io import read_samples
    from toolace_r.models.embedded import init_model

    src = bfcl.from_path(bfcl_unpacked)
    corpus = read_samples(samples_file) + [bfcl.entry_sample(e) for e in bfcl.load(src, list(BFCL_ENTRIES))]
    out = tmp_path_factory.mktemp("micro")
    init_model(corpus, out, size="micro", seed=0)
    return out
