"""Writers from the unified sample format to public formats (``toolace-r data export --to``):
``openai`` (TRL / OpenAI messages) and ``sharegpt`` (LLaMA-Factory). One record per dialogue (the
longest sample's history plus its target), with ``id``, ``source`` and ``meta`` beside the format's
own fields, so that convert -> export -> convert gives the same samples (what cannot be kept is
listed in :mod:`toolace_r.data.convert`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from toolace_r.data.io import DataError
from toolace_r.data.schema import Message, Sample, ToolSpec

WRITE_FORMATS = ("openai", "sharegpt")


def _tool_dict(t: ToolSpec) -> dict[str, Any]:
    return {"name": t.name, "description": t.description, "parameters": t.parameters}


def _target_message(s: Sample) -> Message:
    calls = s.gold_calls()
    if calls:
        return Message(role="assistant", content="", tool_calls=calls)
    return Message(role="assistant", content=s.text or "")


def dialogues(samples: Iterable[Sample]) -> list[tuple[str, Sample, list[Message]]]:
    """Group samples into dialogues: (id, the sample with the longest history, full messages).

    Samples of one dialogue (same ``meta.dialogue``) are written once, as the longest
    sample's history plus its target, when every shorter sample is a prefix of it; otherwise
    (samples edited apart) each is written on its own."""
    groups: dict[str, list[Sample]] = {}
    order: list[str] = []
    for s in samples:
        key = str(s.meta.get("dialogue", s.id))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(s)
    out = []
    for key in order:
        group = groups[key]
        last = max(group, key=lambda s: len(s.messages))
        full = list(last.messages) + [_target_message(last)]
        consistent = all(
            full[: len(s.messages)] == list(s.messages) and _same_turn(full[len(s.messages)], _target_message(s))
            for s in group
        )
        if consistent and len({len(s.messages) for s in group}) == len(group):
            out.append((key, last, full))
        else:
            out.extend((s.id, s, list(s.messages) + [_target_message(s)]) for s in group)
    return out


def _same_turn(a: Message, b: Message) -> bool:
    if b.tool_calls:
        return a.tool_calls == b.tool_calls
    return not a.tool_calls and a.content == b.content


def _record_extras(did: str, s: Sample) -> dict[str, Any]:
    extras: dict[str, Any] = {"id": did, "source": s.source}
    meta = {k: v for k, v in s.meta.items() if k not in ("dialogue", "turn")}
    if meta:
        extras["meta"] = meta
    return extras


def to_openai(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """TRL / OpenAI records: ``{"messages", "tools"}`` with call arguments as dicts."""
    out = []
    for did, s, full in dialogues(samples):
        msgs = []
        for m in full:
            d: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.tool_calls:
                d["tool_calls"] = [{"type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                                   for c in m.tool_calls]
            if m.name:
                d["name"] = m.name
            msgs.append(d)
        rec = {**_record_extras(did, s), "messages": msgs,
               "tools": [{"type": "function", "function": _tool_dict(t)} for t in s.tools]}
        out.append(rec)
    return out


def to_sharegpt(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """LLaMA-Factory sharegpt records: ``conversations`` (human / gpt / function_call /
    observation), ``system`` and ``tools`` (a JSON string)."""
    out = []
    for did, s, full in dialogues(samples):
        system = ""
        conv: list[dict[str, str]] = []
        for j, m in enumerate(full):
            if m.role == "system":
                if j != 0:
                    raise DataError(f"sample {s.id}: sharegpt keeps a system message only at the start")
                system = m.content
            elif m.role == "user":
                conv.append({"from": "human", "value": m.content})
            elif m.role == "assistant" and m.tool_calls:
                items = [{"name": c.name, "arguments": c.arguments} for c in m.tool_calls]
                value = items[0] if len(items) == 1 else items
                conv.append({"from": "function_call", "value": json.dumps(value, ensure_ascii=False)})
            elif m.role == "assistant":
                conv.append({"from": "gpt", "value": m.content})
            elif conv and conv[-1]["from"] == "observation":
                # LLaMA-Factory wants turns to alternate: consecutive results share one observation.
                conv[-1]["value"] += "\n" + m.content
            else:
                conv.append({"from": "observation", "value": m.content})
        rec = {**_record_extras(did, s), "conversations": conv, "system": system,
               "tools": json.dumps([_tool_dict(t) for t in s.tools], ensure_ascii=False)}
        out.append(rec)
    return out


def export(fmt: str, samples: Iterable[Sample]) -> list[dict[str, Any]]:
    if fmt == "openai":
        return to_openai(samples)
    if fmt == "sharegpt":
        return to_sharegpt(samples)
    raise DataError(f"unknown output format {fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """LLaMA-Factory's ``dataset_info.json`` entry for a file :func:`to_sharegpt` wrote: the columns
    and the speaker tags it uses, spelled out (they are LLaMA-Factory's sharegpt defaults)."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"},
    }


def write_dataset_info(records_path: Path, name: str) -> Path:
    """Add (or replace) the entry ``name`` for ``records_path`` in the ``dataset_info.json`` beside
    it, keeping the other entries; returns that file's path."""
    from toolace_r import jsonin
    from toolace_r.data.io import write_json

    info_path = records_path.parent / "dataset_info.json"
    info: dict[str, Any] = {}
    if info_path.is_file():
        try:
            info = jsonin.loads(info_path.read_text(encoding="utf-8"))
        except (jsonin.JsonInputError, UnicodeDecodeError) as e:
            raise DataError(f"{info_path}: cannot add to it: {e}") from None
        if not isinstance(info, dict):
            raise DataError(f"{info_path}: cannot add to it: expected a JSON object of data sets")
    info[name] = dataset_info_entry(records_path.name)
    write_json(info_path, info)
    return info_path
