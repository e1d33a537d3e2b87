"""The cache of real vocabularies and templates (toolace_r.models.realvocab): downloads checked
against their sha256, only the asked files extracted, one-line errors when the sdist cannot be had."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolace_r.models import realvocab


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLACE_R_VOCAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_cache_folder_follows_the_environment(empty_cache, monkeypatch):
    assert realvocab.cache_dir() == empty_cache
    monkeypatch.delenv("TOOLACE_R_VOCAB_CACHE")
    assert realvocab.cache_dir().parts[-3:] == (".cache", "toolace-r", f"llama-cpp-python-{realvocab.VERSION}")


def test_an_unreachable_download_says_how_to_provide_the_file(empty_cache, monkeypatch):
    monkeypatch.setattr(realvocab, "SDIST_URL", "http://127.0.0.1:9/nothing.tar.gz")  # a closed port
    with pytest.raises(realvocab.VocabUnavailable, match="cannot download .*pip download --no-deps"):
        realvocab.fetch(["qwen2.5"], timeout=5)
    assert not list(empty_cache.glob("*.part"))  # nothing half-written is left


def test_a_download_that_is_not_the_sdist_is_refused(empty_cache, tmp_path, monkeypatch):
    fake = tmp_path / "fake.tar.gz"
    fake.write_bytes(b"not the llama-cpp-python sdist")
    monkeypatch.setattr(realvocab, "SDIST_URL", fake.as_uri())
    with pytest.raises(realvocab.VocabUnavailable, match="does not match its sha256"):
        realvocab.fetch(["qwen2.5"])
    assert not (empty_cache / realvocab.SDIST).exists()


def test_fetch_extracts_only_what_is_asked(tmp_path, monkeypatch):
    try:
        realvocab.fetch(["qwen2.5"])  # this machine's cache (downloaded there when missing)
    except realvocab.VocabUnavailable as e:
        pytest.skip(f"real vocabularies unavailable: {e}")
    sdist = realvocab.cache_dir() / realvocab.SDIST
    if not sdist.is_file():
        pytest.skip(f"the cache {realvocab.cache_dir()} holds the extracted files but not the sdist")
    # a fresh cache, downloading the sdist from this one (file://): the same code path as the network
    fresh = tmp_path / "cache"
    monkeypatch.setenv("TOOLACE_R_VOCAB_CACHE", str(fresh))
    monkeypatch.setattr(realvocab, "SDIST_URL", sdist.as_uri())
    got = realvocab.fetch(["qwen2.5", "templates/Qwen-Qwen3-0.6B.jinja"])
    assert got["qwen2.5"].read_text().startswith("{%- if tools %}")
    assert got["templates/Qwen-Qwen3-0.6B.jinja"].is_file()
    extracted = sorted(p.name for p in (fresh / "models").rglob("*") if p.is_file())
    assert extracted == ["Qwen-Qwen2.5-7B-Instruct.jinja", "Qwen-Qwen3-0.6B.jinja"]
    assert (fresh / realvocab.SDIST).is_file()  # kept: the next file asked for needs no download
    with pytest.raises(FileNotFoundError, match="no-such.jinja: no such file"):
        realvocab.fetch(["templates/no-such.jinja"])
    with pytest.raises(ValueError, match="no such file"):
        realvocab.fetch(["../outside"])


# llama.cpp and the Hugging Face tokenizer split this one reference text differently (NFC vs the
# pre-tokenizer's handling of combining marks); every other reference tokenization agrees
KNOWN_DIFFERENCES = {"llama-bpe": {"Cửa Việt"}}


@pytest.mark.parametrize("name", ["qwen2", "llama-bpe"])
def test_the_loaded_vocabulary_tokenizes_as_llama_cpps_references(real_vocab, name):
    """llama.cpp ships reference tokenizations beside each vocabulary (``.inp`` texts, ``.out`` ids).
    The tokenizer :func:`load_vocab` returns gives them, and so does the converted copy it keeps in
    the cache, which is what a second load reads."""
    tok = real_vocab(name)
    gguf = realvocab.VOCABS[name]
    files = realvocab.fetch([f"{gguf}.inp", f"{gguf}.out"])
    texts = files[f"{gguf}.inp"].read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    refs = [[int(x) for x in line.split()] for line in files[f"{gguf}.out"].read_text(encoding="utf-8").split("\n")]
    assert len(texts) == len(refs) > 40
    kept = [p for p in (realvocab.cache_dir() / "converted").glob(f"{Path(gguf).stem}-*") if p.is_dir()]
    assert len(kept) >= 1
    again = realvocab.load_vocab(name)
    for text, ref in zip(texts, refs):
        if text in KNOWN_DIFFERENCES.get(name, ()):
            continue
        assert tok.encode(text, add_special_tokens=False) == ref, text
        assert again.encode(text, add_special_tokens=False) == ref, text
    assert again.get_vocab() == tok.get_vocab()
    assert (again.bos_token, again.eos_token) == (tok.bos_token, tok.eos_token)
