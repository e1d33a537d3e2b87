"""Converters between public tool-use data formats and the unified sample format.

Readers (``--from``): ``toolace``, ``xlam``, ``openai`` (TRL / OpenAI messages), ``sharegpt``
(LLaMA-Factory) and ``bfcl`` (BFCL v4 question file + possible-answer file). The writers
(``--to``: ``openai`` and ``sharegpt``) are in :mod:`toolace_r.data.export`; type and name
normalisation in :mod:`toolace_r.data.normalize`.

How a dialogue becomes samples: every assistant turn is one sample, whose messages are the
conversation before that turn and whose target is the turn itself.

- A call turn gets ``answer`` = its calls (one acceptable value per argument). The first call
  turn of a dialogue keeps its real category, decided by counts: one call and one tool is
  ``simple``, one call among several tools ``multiple``, several calls ``parallel`` (one tool)
  or ``parallel_multiple`` (several tools). Call turns after it are ``multi_turn``.
- A text turn gets ``text`` = its words. When it is the dialogue's first assistant turn no
  call was right there, so it is ``irrelevance`` with ``answer = []``; later text turns
  (typically the summary after a tool result) are ``multi_turn`` with ``answer = None``.

Ids: a dialogue with one assistant turn gives one sample with the dialogue's id; a longer
one gives ``<id>-<k>`` for its k-th assistant turn (0-based), with ``meta.dialogue`` and
``meta.turn``. The writers emit one record per dialogue (the longest sample's history plus
its target), with ``id``, ``source`` and ``meta`` beside the format's own fields, so that
convert -> export -> convert gives the same samples. What the writers cannot keep: extra
acceptable values of an answer (only the canonical call is written), the text of an
assistant turn that also makes calls, and in sharegpt the names of tool results and the
split of consecutive results (joined by a newline into one observation, since LLaMA-Factory
wants turns to alternate).

Function names that the Python-call format cannot carry (ToolACE's "Market Trends API") are
rewritten with :func:`safe_name` ("Market_Trends_API"), in tools, calls and answers alike.

Parameter types are mapped to JSON Schema: Python-style ``str/int/float/bool/dict/list/
tuple/any`` (also ``List[int]``, ``str, optional``) and BFCL's ``dict/float/tuple/any``
become ``string/integer/number/boolean/object/array/array/string``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable

from pydantic import ValidationError

from toolace_r.calls import parse_calls
from toolace_r.data.io import (
    ConversionReport,
    DataError,
    Record,
    RecordError,
    read_records,
    summarize_validation_error,
)
from toolace_r.data.normalize import ConvertError, make_call, plain_value, safe_name, tools_from_value
from toolace_r.data.schema import Message, Sample, ToolCall, ToolSpec, answer_from_calls, gold_calls

READ_FORMATS = ("toolace", "xlam", "openai", "sharegpt", "bfcl")


# --------------------------------------------------------------------------------------
# Dialogue -> samples


def _category(n_calls: int, n_tools: int) -> str:
    if n_calls == 1:
        return "simple" if n_tools == 1 else "multiple"
    return "parallel" if n_tools == 1 else "parallel_multiple"


def dialogue_to_samples(
    did: str,
    tools: list[ToolSpec],
    messages: list[Message],
    *,
    source: str,
    meta: dict[str, Any] | None = None,
    answers: dict[int, list] | None = None,
) -> list[Sample]:
    """One sample per assistant turn (see the module docstring for categories and ids).

    ``answers`` may give, by message index, a richer possible answer than the turn's calls
    (BFCL's ground truth with several acceptable values)."""
    meta = dict(meta or {})
    turns = [i for i, m in enumerate(messages) if m.role == "assistant"]
    if not turns:
        raise ConvertError("the dialogue has no assistant turn")
    multi = len(turns) > 1
    out = []
    called_before = False
    for k, i in enumerate(turns):
        msg = messages[i]
        history = messages[:i]
        if not history or history[-1].role == "assistant" or all(m.role == "system" for m in history):
            raise ConvertError(f"assistant turn {k} does not follow a user or tool message")
        sid = f"{did}-{k}" if multi else did
        smeta = {**meta, "dialogue": did, "turn": k} if multi else dict(meta)
        kwargs: dict[str, Any] = {}
        if msg.tool_calls:
            answer = answers[i] if answers and i in answers else answer_from_calls(msg.tool_calls)
            category = "multi_turn" if called_before else _category(len(answer), len(tools))
            called_before = True
            kwargs = {"answer": answer}
        else:
            text = msg.content if msg.content else None
            if k == 0:
                kwargs = {"answer": [], "text": text}
                category = "irrelevance"
            else:
                kwargs = {"answer": None, "text": text if text is not None else ""}
                category = "multi_turn"
        try:
            out.append(Sample(id=sid, tools=tools, messages=history, category=category, source=source,
                              meta=smeta, **kwargs))
        except ValidationError as e:
            raise ConvertError(f"assistant turn {k}: {summarize_validation_error(e)}") from None
    return out


def _message(role: str, content: Any = "", tool_calls: list[ToolCall] | None = None, name: Any = None) -> Message:
    if content is None:
        content = ""
    elif not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False)  # structured tool results, kept as JSON text
    return Message(role=role, content=content, tool_calls=tool_calls or None,
                   name=safe_name(name) if isinstance(name, str) and name else None)


def _record_id(data: dict, fmt: str, index: int) -> str:
    rid = data.get("id")
    if rid is None or rid == "":
        return f"{fmt}-{index}"
    return str(rid)


def _record_meta(data: dict) -> dict[str, Any]:
    meta = data.get("meta")
    return dict(meta) if isinstance(meta, dict) else {}


# --------------------------------------------------------------------------------------
# ToolACE


def extract_tools_from_text(text: str) -> tuple[list[Any], str]:
    """Find the JSON array of function descriptions inside a system prompt.

    Returns (the array, the prompt with the array cut out); ([], text) when there is none."""
    dec = json.JSONDecoder()
    for m in re.finditer(r"\[", text):
        try:
            obj, end = dec.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, list) and obj and all(isinstance(t, dict) and "name" in t for t in obj):
            return obj, text[: m.start()] + text[end:]
    return [], text


def parse_call_turn(text: str, tool_names: Iterable[str]) -> list[ToolCall] | None:
    """Calls of a ToolACE-style assistant turn ``[f(a=1), g(b="x")]``; None for plain text.

    ToolACE names tools with spaces ("Market Trends API"), which no Python parser reads: such
    names are swapped for placeholders before parsing and swapped back after."""
    s = text.strip()
    if not (s.startswith("[") and s.endswith("]")):
        return None
    subst: dict[str, str] = {}
    odd = sorted((n for n in tool_names if not re.fullmatch(r"[A-Za-z_][\w.]*", n)), key=len, reverse=True)
    for j, name in enumerate(odd):
        if name + "(" in s:
            ph = f"__tool_{j}__"
            s = s.replace(name + "(", ph + "(")
            subst[ph] = name
    res = parse_calls(s)
    if res.status == "text":
        return None
    if res.status == "malformed":
        raise ConvertError(f"unparseable call turn: {res.error}")
    return [ToolCall(name=safe_name(subst.get(c.name, c.name)), arguments=plain_value(c.arguments)) for c in res.calls]


def from_toolace(data: Any, index: int, *, keep_system: bool = False) -> list[Sample]:
    """``{"system": "...[tools JSON]...", "conversations": [{"from", "value"}]}``.

    The system prompt is ToolACE's generic tool-use instruction around the tool list; the
    tools go to ``tools`` and the prompt is dropped unless ``keep_system`` (the chat template
    supplies its own instruction)."""
    _need_object(data)
    system = data.get("system") or ""
    if not isinstance(system, str):
        raise ConvertError("'system' must be a string")
    raw_tools, rest = extract_tools_from_text(system)
    tools = tools_from_value(raw_tools)
    # the names as written (before safe_name), which is how the call turns spell them
    names = [t["name"] for t in raw_tools if isinstance(t.get("name"), str)]
    conv = _need_list(data, "conversations")
    messages: list[Message] = []
    if keep_system and rest.strip():
        messages.append(_message("system", rest.strip()))
    for j, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise ConvertError(f"conversations[{j}] is not an object")
        who, value = turn.get("from"), turn.get("value", "")
        if who in ("user", "human"):
            messages.append(_message("user", value))
        elif who in ("assistant", "gpt"):
            calls = parse_call_turn(value, names) if isinstance(value, str) else None
            messages.append(_message("assistant", "" if calls else value, calls))
        elif who in ("tool", "observation", "function"):
            messages.append(_message("tool", value))
        elif who == "system":
            messages.append(_message("system", value))
        else:
            raise ConvertError(f"conversations[{j}] has unknown speaker {who!r}")
    return dialogue_to_samples(_record_id(data, "toolace", index), tools, messages,
                               source=str(data.get("source") or "toolace"), meta=_record_meta(data))


# --------------------------------------------------------------------------------------
# xLAM / APIGen


def from_xlam(data: Any, index: int) -> list[Sample]:
    """``{"id", "query", "tools": "<json>", "answers": "<json>"}``: one sample per record."""
    _need_object(data)
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ConvertError("'query' is missing or empty")
    tools = tools_from_value(data.get("tools"))
    answers = data.get("answers")
    if isinstance(answers, str):
        try:
            answers = json.loads(answers)
        except json.JSONDecodeError as e:
            raise ConvertError(f"'answers' is not valid JSON: {e.msg}") from None
    if answers is None:
        raise ConvertError("'answers' is missing")
    if isinstance(answers, dict):
        answers = [answers]
    if not isinstance(answers, list):
        raise ConvertError("'answers' must be a list of {name, arguments}")
    calls = []
    for a in answers:
        if not isinstance(a, dict):
            raise ConvertError("an answer is not a {name, arguments} object")
        calls.append(make_call(a.get("name"), a.get("arguments", {})))
    rid = data.get("id")
    did = f"xlam-{rid}" if rid is not None and rid != "" else f"xlam-{index}"
    messages = [_message("user", query), _message("assistant", "", calls)]
    return dialogue_to_samples(did, tools, messages, source=str(data.get("source") or "xlam"),
                               meta=_record_meta(data))


# --------------------------------------------------------------------------------------
# OpenAI / TRL messages


def from_openai(data: Any, index: int) -> list[Sample]:
    """``{"messages": [...], "tools": [{"type": "function", "function": {...}}]}``; call
    arguments may be a dict (as chat templates want) or a JSON string (as the API sends)."""
    _need_object(data)
    tools = tools_from_value(data.get("tools"))
    raw = data.get("messages")
    if isinstance(raw, str):  # some hub copies store the messages as a JSON string
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConvertError(f"'messages' is not valid JSON: {e.msg}") from None
    messages = openai_messages(raw)
    return dialogue_to_samples(_record_id(data, "openai", index), tools, messages,
                               source=str(data.get("source") or "openai"), meta=_record_meta(data))


def openai_messages(raw: Any) -> list[Message]:
    """Messages in the OpenAI / TRL chat form as :class:`Message` objects (also used by the
    server for incoming requests). ``developer`` counts as ``system``; a tool result without a
    ``name`` takes the name of the call its ``tool_call_id`` answers."""
    if not isinstance(raw, list) or not raw:
        raise ConvertError("'messages' must be a non-empty list")
    messages = []
    call_names: dict[str, str] = {}  # tool_call_id -> function name
    for j, m in enumerate(raw):
        if not isinstance(m, dict):
            raise ConvertError(f"messages[{j}] is not an object")
        role = m.get("role")
        if role == "assistant":
            calls = []
            raw_calls = m.get("tool_calls") or []
            if not isinstance(raw_calls, list):
                raise ConvertError(f"messages[{j}].tool_calls must be a list, not {type(raw_calls).__name__}")
            for tc in raw_calls:
                fn = tc.get("function", tc) if isinstance(tc, dict) else None
                if not isinstance(fn, dict):
                    raise ConvertError(f"messages[{j}].tool_calls has an entry that is not an object")
                try:
                    calls.append(make_call(fn.get("name"), fn.get("arguments", {})))
                except ConvertError as e:
                    raise ConvertError(f"messages[{j}].tool_calls: {e}") from None
                if isinstance(tc.get("id"), str):
                    call_names[tc["id"]] = calls[-1].name
            if isinstance(m.get("function_call"), dict):  # the API's older single-call field
                calls.append(make_call(m["function_call"].get("name"), m["function_call"].get("arguments", {})))
            messages.append(_message("assistant", m.get("content"), calls))
        elif role in ("tool", "function", "ipython"):
            name = m.get("name") or call_names.get(m.get("tool_call_id"))  # type: ignore[arg-type]
            messages.append(_message("tool", m.get("content"), name=name))
        elif role in ("user", "system", "developer"):
            messages.append(_message("system" if role == "developer" else role, m.get("content")))
        else:
            raise ConvertError(f"messages[{j}] has unknown role {role!r}")
    return messages


# --------------------------------------------------------------------------------------
# LLaMA-Factory sharegpt


def from_sharegpt(data: Any, index: int) -> list[Sample]:
    """``{"conversations": [{"from": human|gpt|function_call|observation, "value"}],
    "system": str, "tools": "<json>"}``; a function_call value is ``{"name", "arguments"}``
    or a list of them."""
    _need_object(data)
    tools = tools_from_value(data.get("tools"))
    conv = _need_list(data, "conversations")
    messages = []
    system = data.get("system")
    if isinstance(system, str) and system:
        messages.append(_message("system", system))
    for j, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise ConvertError(f"conversations[{j}] is not an object")
        who, value = turn.get("from"), turn.get("value", "")
        if who in ("human", "user"):
            messages.append(_message("user", value))
        elif who in ("gpt", "assistant"):
            messages.append(_message("assistant", value))
        elif who == "function_call":
            obj = value
            if isinstance(value, str):
                try:
                    obj = json.loads(value)
                except json.JSONDecodeError as e:
                    raise ConvertError(f"conversations[{j}]: function_call is not valid JSON: {e.msg}") from None
            items = obj if isinstance(obj, list) else [obj]
            calls = []
            for it in items:
                if not isinstance(it, dict):
                    raise ConvertError(f"conversations[{j}]: function_call entry is not {{name, arguments}}")
                calls.append(make_call(it.get("name"), it.get("arguments", {})))
            messages.append(_message("assistant", "", calls))
        elif who in ("observation", "tool"):
            messages.append(_message("tool", value))
        elif who == "system":
            messages.append(_message("system", value))
        else:
            raise ConvertError(f"conversations[{j}] has unknown speaker {who!r}")
    return dialogue_to_samples(_record_id(data, "sharegpt", index), tools, messages,
                               source=str(data.get("source") or "sharegpt"), meta=_record_meta(data))


# --------------------------------------------------------------------------------------
# BFCL v4


def bfcl_category_of(bfcl_id: str) -> str:
    """BFCL category from an id: ``live_multiple_3-1-0`` -> ``live_multiple``."""
    return re.sub(r"_\d+(-\d+)*$", "", bfcl_id)


def load_bfcl_answers(source: str) -> dict[str, list]:
    """``{id: ground_truth}`` from a BFCL possible-answer file."""
    out: dict[str, list] = {}
    try:
        for rec in read_records(source):
            d = rec.data
            if not isinstance(d, dict) or "id" not in d or "ground_truth" not in d:
                raise DataError(f"{rec.location}: a possible answer needs 'id' and 'ground_truth'")
            out[str(d["id"])] = d["ground_truth"]
    except RecordError as e:  # not a record of the input: --skip-invalid does not skip it
        raise DataError(f"{e} (in the possible-answer file)") from None
    return out


def from_bfcl(data: Any, index: int, *, answers: dict[str, list] | None = None) -> list[Sample]:
    """``{"id", "question": [[{role, content}]], "function": [...]}`` plus its ground truth
    (from ``answers`` by id, or a ``ground_truth`` field), kept as the answer verbatim."""
    _need_object(data)
    bid = data.get("id")
    if not isinstance(bid, str) or not bid:
        raise ConvertError("BFCL entry has no 'id'")
    cat = bfcl_category_of(bid)
    question = data.get("question")
    if isinstance(question, str):
        turns = [[{"role": "user", "content": question}]]
    elif isinstance(question, list) and question and all(isinstance(t, list) for t in question):
        turns = question
    elif isinstance(question, list) and question and all(isinstance(t, dict) for t in question):
        turns = [question]
    else:
        raise ConvertError("'question' must be a list of turns of {role, content} messages")
    if len(turns) > 1 or "multi_turn" in cat:
        raise ConvertError(f"unsupported BFCL category: {cat} (multi-turn entries need BFCL's executable state)")
    if cat.endswith("relevance") and not cat.endswith("irrelevance"):
        raise ConvertError(f"unsupported BFCL category: {cat} (any call passes, there is no answer to convert)")
    funcs = data.get("function")
    if isinstance(funcs, dict):
        funcs = [funcs]
    tools = tools_from_value(funcs or [])
    messages = []
    for j, m in enumerate(turns[0]):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            raise ConvertError(f"question[0][{j}] is not a {{role, content}} message")
        messages.append(_message(m["role"], m.get("content")))
    if cat.endswith("irrelevance"):
        messages.append(_message("assistant", ""))
        return dialogue_to_samples(bid, tools, messages, source=str(data.get("source") or "bfcl"),
                                   meta=_record_meta(data))
    gt = data.get("ground_truth")
    if gt is None and answers is not None:
        gt = answers.get(bid)
    if gt is None:
        raise ConvertError(f"no possible answer for {bid} (give the possible_answer file with --answers)")
    if not isinstance(gt, list) or not all(isinstance(c, dict) and len(c) == 1 for c in gt):
        raise ConvertError("ground_truth must be a list of {function: {param: [values]}}")
    gt = [{safe_name(k): v for k, v in c.items()} for c in gt]  # a no-op for BFCL's own names
    # The turn's concrete calls are the canonical answer; the answer keeps every acceptable value.
    try:
        canon = gold_calls(gt)
    except (ValueError, TypeError, AttributeError) as e:
        raise ConvertError(f"ground_truth is malformed: {e}") from None
    messages.append(_message("assistant", "", canon))
    return dialogue_to_samples(bid, tools, messages, source=str(data.get("source") or "bfcl"),
                               meta=_record_meta(data), answers={len(messages) - 1: gt})


# --------------------------------------------------------------------------------------
# Driver


def _need_object(data: Any) -> None:
    if not isinstance(data, dict):
        raise ConvertError(f"expected a JSON object, got {type(data).__name__}")


def _need_list(data: dict, key: str) -> list:
    v = data.get(key)
    if not isinstance(v, list) or not v:
        raise ConvertError(f"'{key}' must be a non-empty list")
    return v


def reader_for(fmt: str, *, answers: dict[str, list] | None = None) -> Callable[[Any, int], list[Sample]]:
    if fmt == "toolace":
        return from_toolace
    if fmt == "xlam":
        return from_xlam
    if fmt == "openai":
        return from_openai
    if fmt == "sharegpt":
        return from_sharegpt
    if fmt == "bfcl":
        return lambda data, index: from_bfcl(data, index, answers=answers)
    raise DataError(f"unknown input format {fmt!r}; choose one of {', '.join(READ_FORMATS)}")


def convert_records(
    fmt: str,
    records: Iterable[Record],
    *,
    answers: dict[str, list] | None = None,
    skip_invalid: bool = False,
    report: ConversionReport | None = None,
    on_record: Callable[[], None] | None = None,
) -> list[Sample]:
    """Convert raw records of one format. A bad record (one that could not be read, see
    :func:`~toolace_r.data.io.read_records`, or cannot be converted) raises :class:`RecordError`
    naming its location, or with ``skip_invalid`` is skipped and recorded in ``report``."""
    read = reader_for(fmt, answers=answers)
    report = report if report is not None else ConversionReport()
    out: list[Sample] = []
    seen: dict[str, str] = {}
    for index, rec in enumerate(records):
        if on_record is not None:
            on_record()
        try:
            samples = _convert_one(read, rec, index, seen)
        except RecordError as e:
            if not skip_invalid:
                raise
            report.skip(rec.location, str(e)[len(rec.location) + 2:])
            continue
        for s in samples:
            seen[s.id] = rec.location
        out.extend(samples)
        report.kept += 1
        report.converted += len(samples)
    return out


def _convert_one(read: Callable[[Any, int], list[Sample]], rec: Record, index: int,
                 seen: dict[str, str]) -> list[Sample]:
    """One record's samples, or :class:`RecordError` (location: reason). A type error from a
    converter is a record of an unexpected shape (a number where a list belongs), not a crash."""
    if rec.error is not None:
        raise RecordError(f"{rec.location}: {rec.error}")
    try:
        samples = read(rec.data, index)
        for s in samples:
            if s.id in seen:
                raise ConvertError(f"duplicate sample id {s.id!r} (first at {seen[s.id]})")
    except ConvertError as e:
        raise RecordError(f"{rec.location}: {e}") from None
    except ValidationError as e:
        raise RecordError(f"{rec.location}: {summarize_validation_error(e)}") from None
    except (TypeError, AttributeError, KeyError, IndexError, RecursionError) as e:
        raise RecordError(f"{rec.location}: unexpected record shape ({type(e).__name__}: {e})") from None
    return samples


def convert(
    fmt: str,
    source: str,
    *,
    answers: str | None = None,
    skip_invalid: bool = False,
    report: ConversionReport | None = None,
    split: str | None = None,
) -> list[Sample]:
    """Read ``source`` (file or hub name) in format ``fmt`` into samples."""
    if fmt != "bfcl" and answers:
        raise DataError("possible answers (--answers) are only for the bfcl format")
    ans = load_bfcl_answers(answers) if answers else None
    return convert_records(fmt, read_records(source, split=split, skip_invalid=skip_invalid), answers=ans,
                           skip_invalid=skip_invalid, report=report)
