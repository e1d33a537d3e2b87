"""One rule for model references: a local folder, or a Hugging Face Hub id.

Every command that takes a model (``run``'s ``model.init``, ``train sft --model``, ``eval --model``,
``serve --model``, ``data stats --tokenizer``) resolves it here, before any work starts, so that a bad
reference is one line at once, not a traceback after the data stage:

- an existing folder is used as it is (it must hold ``config.json``, a LoRA adapter's
  ``adapter_config.json`` (:mod:`toolace_r.models.adapters`), or ``tokenizer_config.json`` when only
  a tokenizer is wanted);
- anything that names a local path -- starts with ``.``, ``/`` or ``~``, has more than one ``/``, or
  sits under a folder that exists here (``models/nomodel`` while ``models/`` exists) -- and is missing
  is an error naming it, never a hub lookup (the hub would be retried for a minute for nothing);
- otherwise ``org/name`` (optionally ``org/name@revision``) is a hub id, resolved by
  ``huggingface_hub.snapshot_download``: from the HF cache when it is there, downloaded when not.
  ``HF_HUB_OFFLINE=1`` is honoured: only the cache is looked at, and a model that is not in it is an
  error that says how to get it.

Only the files a model needs are fetched (weights as safetensors, configs, tokenizer files, chat
templates), not the extra copies some repositories carry (``original/``, ``*.pth``, ``*.gguf``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?$")
# what a causal LM and its tokenizer need; the weights in safetensors only
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"]
TOKENIZER_FILES = ["*.json", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"]


class ModelRefError(ValueError):
    """A model reference that names no model: the message is one line saying what to do."""


def offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it, at call time (tests and users set it late)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def looks_local(ref: str) -> bool:
    """Does ``ref`` name a path on this machine rather than a hub id?"""
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref:
        return True
    head = ref.split("/", 1)[0]
    return "/" in ref and Path(head).is_dir()


def resolve_model(ref: str | Path, *, what: str = "model", tokenizer_only: bool = False) -> Path:
    """The local folder of the model ``ref`` names (see the module docstring), or
    :class:`ModelRefError`. ``what`` names the option in messages (``--model``, ``model.init``)."""
    text = str(ref).strip()
    if not text:
        raise ModelRefError(f"{what} is empty: give a model folder or a hub id such as Qwen/Qwen2.5-1.5B-Instruct")
    path = Path(text).expanduser()
    marker = "tokenizer_config.json" if tokenizer_only else "config.json"
    if path.is_dir():
        if not any((path / name).is_file() for name in (marker, "config.json", "adapter_config.json")):
            raise ModelRefError(f"{what} {text}: the folder holds no {marker}, so it is not a saved "
                                f"{'tokenizer' if tokenizer_only else 'model'} (nor a LoRA adapter); point at "
                                "the folder save_pretrained wrote")
        return path
    if path.exists():
        raise ModelRefError(f"{what} {text} is a file; give the model's folder (or a hub id)")
    if looks_local(text) or not HUB_ID.match(text):
        raise ModelRefError(f"{what} {text} does not exist here; give a model folder, or a hub id such as "
                            "Qwen/Qwen2.5-1.5B-Instruct")
    return _from_hub(text, what, TOKENIZER_FILES if tokenizer_only else MODEL_FILES)


def _from_hub(ref: str, what: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id, _, revision = ref.partition("@")
    local = offline()
    try:
        folder = snapshot_download(repo_id, revision=revision or None, allow_patterns=patterns,
                                   local_files_only=local)
    except GatedRepoError:
        raise ModelRefError(f"{what} {ref}: the repository is gated; accept its licence on the Hub and log in "
                            "(huggingface-cli login or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise ModelRefError(f"{what} {ref}: no such model on the Hub (or it is private: log in with "
                            "huggingface-cli login or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise ModelRefError(f"{what} {ref}: the Hub repository has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        how = ("HF_HUB_OFFLINE is set, so only the HF cache is read: download it first with "
               f"`hf download {repo_id}` on a machine with the Hub, or unset HF_HUB_OFFLINE") if local else (
               "it is not in the HF cache and the Hub cannot be reached; check the network or download it "
               f"elsewhere with `hf download {repo_id}` and copy the HF cache")
        raise ModelRefError(f"{what} {ref}: {how}") from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelRefError(f"{what} {ref}: cannot fetch it from the Hub ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else e!r})") from None
    path = Path(folder)
    if not (path / "config.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise ModelRefError(f"{what} {ref}: the Hub repository holds no config.json; it is not a transformers model")
    return path
