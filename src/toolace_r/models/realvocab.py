"""Real tokenizers and chat templates without the Hub: from the llama-cpp-python source distribution.

The PyPI sdist of ``llama-cpp-python`` (77 MB) vendors llama.cpp's test files: full vocabularies of
real models (``vendor/llama.cpp/models/ggml-vocab-*.gguf``: qwen2, llama-bpe = Llama 3, ...) and real
chat templates (``models/templates/*.jinja``: Qwen2.5, Qwen3, Llama 3.x, Hermes, ...). Tests and
``toolace-r model tiny`` use them to check prompts, loss masks and tool-call formats on real
templates with the matching real tokenizer, offline after one download.

:func:`fetch` downloads the sdist once (checked against its sha256) into the cache folder
(``$TOOLACE_R_VOCAB_CACHE``, default ``~/.cache/toolace-r/llama-cpp-python-0.3.36/``) and extracts
only the files asked for; without network, put ``llama_cpp_python-0.3.36.tar.gz`` (e.g. from ``pip
download --no-deps --no-binary :all: llama-cpp-python==0.3.36``) in that folder. :func:`load_vocab`
loads a ``.gguf`` vocabulary with transformers (needs the ``gguf`` package; about 10-20 s the first time,
then about a second from the converted copy it keeps) and
:func:`with_chat_template` gives it a chat template whose end-of-turn marker is its EOS token, as
the real instruct tokenizers do (:func:`chat_tokenizer`: both).
None of these files is part of the repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

VERSION = "0.3.36"
SDIST = f"llama_cpp_python-{VERSION}.tar.gz"
SDIST_URL = ("https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a"
             f"59fe7cf3/{SDIST}")
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
MODELS_DIR = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/models/"

# Short names for the files the project uses; any other file name under models/ works too.
VOCABS = {"qwen2": "ggml-vocab-qwen2.gguf", "llama-bpe": "ggml-vocab-llama-bpe.gguf"}
TEMPLATES = {
    "qwen2.5": "templates/Qwen-Qwen2.5-7B-Instruct.jinja",
    "qwen3": "templates/Qwen-Qwen3-0.6B.jinja",
    "llama3.1": "templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
    "hermes3": "templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
    "qwq": "templates/Qwen-QwQ-32B.jinja",
    "llama3.2": "templates/meta-llama-Llama-3.2-3B-Instruct.jinja",
    "llama3.3": "templates/meta-llama-Llama-3.3-70B-Instruct.jinja",
    "hermes2pro": "templates/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
    "qwen3-coder": "templates/Qwen3-Coder.jinja",  # XML calls: a format we do not write
}


class VocabUnavailable(RuntimeError):
    """The sdist can be neither found in the cache nor downloaded (the message says how to provide it)."""


def cache_dir() -> Path:
    """Where the sdist and the extracted files live (``$TOOLACE_R_VOCAB_CACHE`` or the default)."""
    env = os.environ.get("TOOLACE_R_VOCAB_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "toolace-r" / f"llama-cpp-python-{VERSION}"


def _member(name: str) -> str:
    """The path inside models/ for a short name or a file name."""
    name = VOCABS.get(name, TEMPLATES.get(name, name))
    if name.startswith("/") or ".." in Path(name).parts:
        raise ValueError(f"{name}: no such file (nor a file under llama.cpp's models/ in {SDIST})")
    return name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sdist(folder: Path, timeout: float) -> Path:
    """The sdist in ``folder``, downloaded there first when missing."""
    path = folder / SDIST
    if path.is_file():
        return path
    tmp = folder / (SDIST + ".part")
    try:
        with urllib.request.urlopen(SDIST_URL, timeout=timeout) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out, 1 << 20)
    except OSError as e:  # URLError, timeouts and disk errors are all OSErrors
        tmp.unlink(missing_ok=True)
        raise VocabUnavailable(f"cannot download {SDIST} ({type(e).__name__}: {e}); put it in {folder} "
                               f"(pip download --no-deps --no-binary :all: llama-cpp-python=={VERSION})") from None
    if _sha256(tmp) != SDIST_SHA256:
        tmp.unlink()
        raise VocabUnavailable(f"the downloaded {SDIST} does not match its sha256: not used")
    tmp.replace(path)
    return path


def fetch(names: Iterable[str], timeout: float = 120.0) -> dict[str, Path]:
    """``{name: path}`` of the extracted files (short names of :data:`VOCABS` / :data:`TEMPLATES`, or
    paths under llama.cpp's ``models/``), downloading the sdist once when one is missing."""
    from filelock import FileLock

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {n: _member(n) for n in names}
    out = {n: folder / "models" / m for n, m in wanted.items()}
    with FileLock(str(folder / ".lock")):  # one download and extraction when tests run in parallel
        missing = {m for n, m in wanted.items() if not out[n].is_file()}
        if not missing:
            return out
        with tarfile.open(_sdist(folder, timeout)) as tar:
            for m in sorted(missing):
                try:
                    src = tar.extractfile(MODELS_DIR + m)
                except KeyError:
                    src = None
                if src is None:
                    raise FileNotFoundError(f"{m}: no such file, nor in {SDIST} (look under {MODELS_DIR})")
                dest = folder / "models" / m
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                    shutil.copyfileobj(src, tmp)
                Path(tmp.name).replace(dest)
    return out


def end_of_turn(tokenizer: PreTrainedTokenizerBase) -> str:
    """The marker the chat template closes an assistant turn with (``<|im_end|>``, ``<|eot_id|>``)."""
    turns = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "ANSWER"}]
    # with a tool: some tool_use templates (Hermes) iterate the tools unconditionally
    tool = {"type": "function", "function": {"name": "f", "description": "d",
                                             "parameters": {"type": "object", "properties": {}}}}
    text = tokenizer.apply_chat_template(turns, tools=[tool], tokenize=False)
    marker = text[text.rindex("ANSWER") + len("ANSWER"):].strip()
    if not marker:
        raise ValueError("the chat template writes nothing after an assistant turn: no end-of-turn marker")
    return marker


def _path(name: str | Path) -> Path:
    """A file, or the cached file of a short name / models/ path (fetched when missing)."""
    return Path(name) if Path(name).is_file() else fetch([str(name)])[str(name)]


def load_vocab(vocab: str | Path) -> PreTrainedTokenizerBase:
    """The ``.gguf`` vocabulary ``vocab`` (a file or a short name) as a transformers tokenizer, as
    the GGUF file describes it. Converting a GGUF vocabulary is slow (10-20 s for 150k tokens), so the
    converted tokenizer is kept in the cache folder (under ``converted/``, keyed by the file's sha256
    and the transformers version) and later loads read that (about a second)."""
    import importlib.util

    import transformers
    from filelock import FileLock
    from transformers import AutoTokenizer

    path = _path(vocab)
    key = f"{path.stem}-{_sha256(path)[:16]}-transformers-{transformers.__version__}"
    kept = cache_dir() / "converted" / key
    if (kept / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(kept))
    if importlib.util.find_spec("gguf") is None:
        raise ImportError("reading a .gguf vocabulary needs the gguf package: pip install 'toolace-r[gguf]'")
    kept.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(kept) + ".lock"):  # parallel test workers convert it once
        if (kept / "tokenizer_config.json").is_file():
            return AutoTokenizer.from_pretrained(str(kept))
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        tmp = Path(tempfile.mkdtemp(dir=kept.parent, prefix=f".{key}-"))
        tok.save_pretrained(str(tmp))
        tmp.replace(kept)
    return tok


def with_chat_template(tokenizer: PreTrainedTokenizerBase, template: str | Path) -> PreTrainedTokenizerBase:
    """A copy of ``tokenizer`` with the chat template in ``template`` (a file or a short name). Like the
    real instruct tokenizers, its EOS token is the template's end-of-turn marker (made one special
    token where the vocabulary lacks it), and it pads with the vocabulary's own end-of-text token."""
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = _path(template).read_text(encoding="utf-8")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.add_special_tokens({"eos_token": end_of_turn(tok)})
    tok.padding_side = "left"  # generation pads on the left
    return tok


def chat_tokenizer(vocab: str | Path, template: str | Path) -> PreTrainedTokenizerBase:
    """:func:`load_vocab` with :func:`with_chat_template`: a real tokenizer ready to prompt a chat model."""
    return with_chat_template(load_vocab(vocab), template)
