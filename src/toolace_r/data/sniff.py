"""Which format a raw record is in, told from its keys, for errors that say what to do:
``data convert --from sharegpt`` on an xLAM file ("this looks like xLAM: use `--from xlam`"), or
a raw file where converted samples are expected ("run `toolace-r data convert --from xlam` first").

Only the shape is looked at (which keys, which speaker names), never the values' meaning; a record
that fits no format is ``None``.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, TypeVar

R = TypeVar("R")  # a record: toolace_r.data.io.Record (not imported: io imports this module)

SAMPLES = "samples"  # toolace-r's own sample format (what `data convert` writes)

LABELS = {
    "toolace": "ToolACE",
    "xlam": "xLAM (APIGen)",
    "openai": "OpenAI / TRL messages",
    "sharegpt": "LLaMA-Factory sharegpt",
    "bfcl": "a BFCL question file",
    SAMPLES: "toolace-r samples",
}

_SHAREGPT_SPEAKERS = {"human", "gpt", "function_call", "observation"}
_TOOLACE_SPEAKERS = {"user", "assistant", "tool"}


def sniff(data: Any) -> Optional[str]:
    """The format of one raw record: a name of :data:`LABELS`, or None when it fits none."""
    if not isinstance(data, dict):
        return None
    keys = set(data)
    if "messages" in keys and "category" in keys and ({"answer", "text"} & keys or "tools" in keys):
        return SAMPLES
    if "query" in keys and "answers" in keys:
        return "xlam"
    if "question" in keys and "function" in keys:
        return "bfcl"
    if "messages" in keys:
        return "openai"
    conv = data.get("conversations")
    if isinstance(conv, list):
        speakers = {t.get("from") for t in conv if isinstance(t, dict)}
        if speakers & _SHAREGPT_SPEAKERS:
            return "sharegpt"
        if speakers & _TOOLACE_SPEAKERS or isinstance(data.get("system"), str):
            return "toolace"
    return None


def peek(records: Iterable[R]) -> tuple[Optional[R], Iterator[R]]:
    """The first record that could be read (None if there is none) and every record, that one
    included, to go on with (the records are read once)."""
    it = iter(records)
    seen: list[R] = []
    first = None
    for rec in it:
        seen.append(rec)
        if getattr(rec, "error", None) is None:
            first = rec
            break

    def chained() -> Iterator[R]:
        yield from seen
        yield from it

    return first, chained()


def location_text(location: str) -> str:
    """``file:3`` as ``file line 3`` (a hub row's location is kept as it is)."""
    path, sep, line = location.rpartition(":")
    return f"{path} line {line}" if sep and line.isdigit() else location


def wrong_format_message(record: Any, chosen: str) -> Optional[str]:
    """What to say when ``--from chosen`` meets a record of another known format (None: no hint)."""
    found = sniff(record.data)
    if found is None or found == chosen:
        return None
    where = location_text(record.location)
    if found == SAMPLES:
        return (f"{where}: this is already in toolace-r's sample format: nothing to convert (use the file "
                "as it is with `data split`, `data stats`, `run` or `eval --bench`)")
    return f"{where}: this looks like {LABELS[found]}, not {LABELS.get(chosen, chosen)}: use `--from {found}`"


def raw_file_message(record: Any, source: str) -> Optional[str]:
    """What to say when a record where samples are expected is a raw record of a known format."""
    found = sniff(record.data)
    if found is None or found == SAMPLES:
        return None
    extra = " --answers POSSIBLE_ANSWER_FILE" if found == "bfcl" else ""
    return (f"{location_text(record.location)}: this is a raw {LABELS[found]} file, not toolace-r samples: "
            f"run `toolace-r data convert {source} OUT.jsonl --from {found}{extra}` first")
