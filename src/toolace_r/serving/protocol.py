"""The OpenAI chat-completions wire format of ``toolace-r serve``.

* :func:`parse_request`: raw body bytes -> a validated :class:`ChatCompletionRequest`, or an
  :class:`APIError` (400) that says what is wrong and where (``param``). Validation is strict: no
  type coercion (``"0.5"`` is not a number, ``"yes"`` is not a boolean), no unknown fields, no
  ``NaN``/``Infinity``, bounded nesting (64 levels), no lone surrogates in any string
  (:func:`check_text`); earlier calls' ``arguments`` strings are checked the same way.
* :func:`check_request`: the server's limits (``max_tokens``, ``n``, number of messages and
  tools, refinement rounds) and the parts of the API this server does not implement
  (``logprobs``, penalties, non-text ``response_format``, image content) -> 400 with a clear message.
* :func:`request_to_sample`: messages + tools -> the project's :class:`~toolace_r.data.schema.Sample`,
  through the same reader as ``toolace-r data convert --from openai``
  (:func:`toolace_r.data.convert.openai_messages`, :func:`~toolace_r.data.normalize.tools_from_value`),
  so a served model sees exactly the prompt it was trained and evaluated with.
* :func:`build_response` / :func:`stream_events`: the model's final answer -> an OpenAI response.
  Answer text that parses as calls (:func:`toolace_r.calls.parse_calls`, ``ast``/``json`` only:
  tool arguments are data, never executed) becomes ``message.tool_calls`` with ``arguments`` as a
  JSON string and ``finish_reason: "tool_calls"``; anything else is ``content`` (so are calls
  whose arguments nest past 64 levels). Every response goes through
  :func:`toolace_r.serving.safe.json_safe`, so no answer can fail to encode. Refinement cost is
  reported in ``usage`` (``refinement_rounds``, ``refinement_tokens``) and in the ``refinement``
  extension field.

Errors have OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolace_r.calls import answers_equal, parse_calls
from toolace_r.data.convert import openai_messages
from toolace_r.data.normalize import ConvertError, safe_name, tools_from_value
from toolace_r.data.schema import Sample
from toolace_r.refine import parse_mode
from toolace_r.serving.safe import MAX_DEPTH, MAX_INT_DIGITS, Unencodable, dumps, json_safe, scan_json, short

if TYPE_CHECKING:
    from toolace_r.refine import RefineResult

# --------------------------------------------------------------------------------------------
# Errors


class APIError(Exception):
    """An error answered to the client: HTTP ``status`` and OpenAI's error body."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> APIError:
    return APIError(400, message, param=param, code=code)


# --------------------------------------------------------------------------------------------
# Request models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ImagePart(_Strict):
    """Accepted by the parser only to answer "not supported" instead of a type error."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["image_url", "input_audio", "file"]


class FunctionCallIn(_Strict):
    name: str = Field(min_length=1, max_length=256)
    arguments: Union[str, dict[str, Any]] = "{}"


class ToolCallIn(_Strict):
    id: Optional[str] = None
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[Union[TextPart, ImagePart]], None] = None
    name: Optional[str] = None
    tool_calls: Optional[list[ToolCallIn]] = None
    tool_call_id: Optional[str] = None
    refusal: Optional[str] = None  # sent back by some clients with earlier assistant turns


class FunctionDef(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
    description: Optional[str] = None
    parameters: Optional[dict[str, Any]] = None
    strict: Optional[bool] = None


class ToolIn(_Strict):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Strict):
    name: str


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


class StreamOptions(_Strict):
    include_usage: bool = False


class ResponseFormat(_Strict):
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["text", "json_object", "json_schema"]


class ChatCompletionRequest(_Strict):
    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    tools: Optional[list[ToolIn]] = None
    tool_choice: Union[Literal["none", "auto", "required"], NamedToolChoice, None] = None
    parallel_tool_calls: Optional[bool] = None
    temperature: Optional[float] = Field(None, ge=0, le=2)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    max_tokens: Optional[int] = Field(None, ge=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    n: Optional[int] = Field(None, ge=1)
    stream: Optional[bool] = False
    stream_options: Optional[StreamOptions] = None
    stop: Union[str, list[str], None] = None
    seed: Optional[int] = Field(None, ge=-(2**63), le=2**64 - 1)  # 64 bits, as OpenAI's
    user: Optional[str] = None
    presence_penalty: Optional[float] = Field(None, ge=-2, le=2)
    frequency_penalty: Optional[float] = Field(None, ge=-2, le=2)
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = Field(None, ge=0, le=20)
    response_format: Optional[ResponseFormat] = None
    # toolace-r extensions (pass them with the openai client's extra_body=...)
    refine: Optional[str] = Field(None, max_length=32)
    max_rounds: Optional[int] = Field(None, ge=1)


MAX_JSON_DEPTH = MAX_DEPTH  # 64


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_text(data: Any, where: str = "") -> None:
    """:class:`APIError` 400 when parsed JSON nests past :data:`MAX_JSON_DEPTH` or holds a lone
    surrogate (an escaped ``\\ud800`` is valid JSON but not text: tokenizers and UTF-8 refuse it)."""
    problem = scan_json(data, MAX_JSON_DEPTH)
    if problem is None:
        return
    kind, path = problem
    path = short(".".join(p for p in (where, path) if p).replace(".[", "["), 120)
    if kind == "depth":
        raise bad_request(f"{path or 'the request body'}: nests deeper than {MAX_JSON_DEPTH} levels",
                          path or None, "invalid_json")
    raise bad_request(f"{path}: the text holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not "
                      "valid Unicode; send the text as UTF-8", path or None, "invalid_text")


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "list", "function-after", "literal") or "[" in str(part) or str(part)[:1].isupper():
            continue  # pydantic's union-branch labels: not a field
        else:
            out += ("." if out else "") + str(part)
    return out


def summarize_errors(e: ValidationError) -> tuple[str, str | None]:
    """A one-line message (first problem, and how many more) and the parameter it is about."""
    errs = e.errors(include_url=False)
    first = errs[0]
    where = _loc(first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field (this server does not accept it)"
    elif first["type"] == "missing":
        msg = "required field is missing"
    text = f"{where}: {msg}" if where else msg
    if len(errs) > 1:
        text += f" ({len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})"
    return text, where or None


def _json_problem(e: ValueError) -> str:
    if "integer string conversion" in str(e):  # Python's int->str limit, hit by json.loads
        return f"an integer has more than {MAX_INT_DIGITS} digits"
    return str(e)


def parse_arguments(text: str, where: str) -> None:
    """Check an earlier call's ``arguments`` JSON string the way the body is checked (JSON, at most
    :data:`MAX_JSON_DEPTH` levels, no lone surrogates, an object): :class:`APIError` 400 if not."""
    try:
        value = json.loads(text, parse_constant=_reject_constant) if text.strip() else {}
    except ValueError as e:
        raise bad_request(f"{where}: not valid JSON: {_json_problem(e)}", where) from None
    except RecursionError:
        raise bad_request(f"{where}: nests deeper than {MAX_JSON_DEPTH} levels", where, "invalid_json") from None
    check_text(value, where)
    if not isinstance(value, dict):
        raise bad_request(f"{where}: must be a JSON object, not {type(value).__name__}", where)


def parse_request(body: bytes) -> ChatCompletionRequest:
    """Body bytes -> request, or :class:`APIError` 400 with a clear message."""
    if not body.strip():
        raise bad_request("the request body is empty; send a JSON object", code="invalid_json")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"the request body is not valid JSON: {_json_problem(e)}", code="invalid_json") from None
    except RecursionError:
        raise bad_request(f"the request body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request(f"the request body must be a JSON object, not {type(data).__name__}", code="invalid_json")
    check_text(data)
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as e:
        msg, param = summarize_errors(e)
        raise bad_request(msg, param=param, code="invalid_value") from None


# --------------------------------------------------------------------------------------------
# Limits and what the request asks for


@dataclass(frozen=True)
class Limits:
    """Bounds and defaults for one request (``toolace-r serve`` options of the same names)."""

    max_tokens: int = 4096
    default_max_tokens: int = 256
    max_n: int = 8
    max_messages: int = 256
    max_tools: int = 128
    max_rounds: int = 8
    max_stop: int = 4
    default_temperature: float = 0.0  # greedy unless the request says otherwise (tool calls want it)


@dataclass
class Plan:
    """What to run for one request, after validation."""

    n: int
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    mode: str
    max_rounds: int
    allow_calls: bool
    parallel: bool
    stop: list[str] = field(default_factory=list)
    constrain: bool = False  # tool_choice "required" or a named function: the answer must be calls


def _schema_problem(schema: Any, path: str, depth: int = 0) -> str | None:
    """A structural check of a JSON Schema (types are names, properties/items are schemas)."""
    if depth > 32:
        return f"{path}: the schema nests too deeply"
    if not isinstance(schema, dict):
        return f"{path}: a schema must be an object, got {type(schema).__name__}"
    t = schema.get("type")
    if t is not None and not isinstance(t, str) and not (isinstance(t, list) and all(isinstance(x, str) for x in t)):
        return f"{path}.type: must be a type name or a list of type names"
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            return f"{path}.properties: must be an object mapping names to schemas"
        for k, v in props.items():
            p = _schema_problem(v, f"{path}.properties.{k}", depth + 1)
            if p:
                return p
    items = schema.get("items")
    if items is not None and not isinstance(items, bool):
        p = _schema_problem(items, f"{path}.items", depth + 1)
        if p:
            return p
    req = schema.get("required")
    if req is not None and not isinstance(req, (list, bool)):
        return f"{path}.required: must be a list of property names"
    if isinstance(req, list):
        missing = [r for r in req if not isinstance(r, str) or r not in (props or {})]
        if missing:
            return f"{path}.required: {missing} not in properties"
    enum = schema.get("enum")
    if enum is not None and not isinstance(enum, list):
        return f"{path}.enum: must be a list"
    return None


def check_request(req: ChatCompletionRequest, limits: Limits, default_mode: str, default_rounds: int) -> Plan:
    """Apply the server's limits and defaults; :class:`APIError` 400 for what is out of bounds or unsupported."""
    if len(req.messages) > limits.max_messages:
        raise bad_request(f"messages: {len(req.messages)} messages, over this server's limit of {limits.max_messages}",
                          "messages")
    if req.tools and len(req.tools) > limits.max_tools:
        raise bad_request(f"tools: {len(req.tools)} tools, over this server's limit of {limits.max_tools}", "tools")
    for i, m in enumerate(req.messages):
        if isinstance(m.content, list) and any(isinstance(p, ImagePart) for p in m.content):
            raise bad_request(f"messages[{i}].content: only text content parts are supported", f"messages[{i}].content")
        if m.role in ("system", "developer", "user", "tool") and m.content is None:
            raise bad_request(f"messages[{i}].content: a {m.role} message needs content", f"messages[{i}].content")
        if m.tool_calls and m.role != "assistant":
            raise bad_request(f"messages[{i}].tool_calls: only assistant messages carry tool calls",
                              f"messages[{i}].tool_calls")
        if m.role == "assistant" and m.content is None and not m.tool_calls:
            raise bad_request(f"messages[{i}]: an assistant message needs content or tool_calls", f"messages[{i}]")
        for j, tc in enumerate(m.tool_calls or []):
            if isinstance(tc.function.arguments, str):
                parse_arguments(tc.function.arguments, f"messages[{i}].tool_calls[{j}].function.arguments")
    if req.messages[-1].role == "assistant":
        raise bad_request("messages: the conversation must end with a user or tool message, not an assistant one",
                          "messages")
    if not any(m.role == "user" for m in req.messages):
        raise bad_request("messages: the conversation has no user message", "messages")
    if req.max_tokens is not None and req.max_completion_tokens is not None and req.max_tokens != req.max_completion_tokens:
        raise bad_request("max_tokens and max_completion_tokens disagree; send one of them", "max_tokens")
    max_tokens = req.max_completion_tokens or req.max_tokens or limits.default_max_tokens
    if max_tokens > limits.max_tokens:
        raise bad_request(f"max_tokens: {max_tokens} is over this server's limit of {limits.max_tokens}",
                          "max_tokens", code="max_tokens_too_large")
    n = req.n or 1
    if n > limits.max_n:
        raise bad_request(f"n: {n} is over this server's limit of {limits.max_n}", "n")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(req, name):
            raise bad_request(f"{name}: not supported by this server (send 0 or leave it out)", name, "unsupported")
    if req.logprobs or req.top_logprobs:
        raise bad_request("logprobs: not supported by this server", "logprobs", "unsupported")
    if req.response_format is not None and req.response_format.type != "text":
        raise bad_request("response_format: only {\"type\": \"text\"} is supported", "response_format", "unsupported")
    if req.stream_options is not None and not req.stream:
        raise bad_request("stream_options: only allowed with stream: true", "stream_options")
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    if len(stop) > limits.max_stop or any(not s for s in stop):
        raise bad_request(f"stop: at most {limits.max_stop} non-empty strings", "stop")
    tool_names = [t.function.name for t in req.tools or []]
    if req.tool_choice is not None and req.tool_choice != "none" and not tool_names:
        raise bad_request("tool_choice: given without any tools", "tool_choice")
    if isinstance(req.tool_choice, NamedToolChoice) and req.tool_choice.function.name not in tool_names:
        raise bad_request(f"tool_choice: function {req.tool_choice.function.name!r} is not among the tools",
                          "tool_choice")
    for i, t in enumerate(req.tools or []):
        if t.function.parameters is not None:
            problem = _schema_problem(t.function.parameters, f"tools[{i}].function.parameters")
            if problem:
                raise bad_request(f"invalid tool schema: {problem}", f"tools[{i}].function.parameters", "invalid_tool")
    mode = req.refine if req.refine is not None else default_mode
    rounds = req.max_rounds if req.max_rounds is not None else default_rounds
    if rounds > limits.max_rounds:
        raise bad_request(f"max_rounds: {rounds} is over this server's limit of {limits.max_rounds}", "max_rounds")
    try:
        kind, n_rounds = parse_mode(mode, rounds)
    except ValueError as e:
        raise bad_request(f"refine: {e}", "refine") from None
    if kind == "rewrite":  # an evaluation diagnostic: it rewrites every right answer too
        raise bad_request("refine: rewrite is an evaluation diagnostic (toolace-r eval); use none, adaptive or "
                          "fixed:N", "refine")
    if n_rounds > limits.max_rounds:
        raise bad_request(f"refine: {mode} asks for {n_rounds} rounds, over this server's limit of {limits.max_rounds}",
                          "refine")
    return Plan(n=n, temperature=limits.default_temperature if req.temperature is None else req.temperature,
                top_p=1.0 if req.top_p is None else req.top_p, max_tokens=max_tokens, seed=req.seed,
                mode=mode, max_rounds=rounds, allow_calls=req.tool_choice != "none",
                parallel=req.parallel_tool_calls is not False, stop=stop,
                constrain=req.tool_choice == "required" or isinstance(req.tool_choice, NamedToolChoice))


# --------------------------------------------------------------------------------------------
# Request -> Sample


def _text(content: Any) -> str | None:
    if isinstance(content, list):
        return "".join(p.text for p in content if isinstance(p, TextPart))
    return content


def request_to_sample(req: ChatCompletionRequest, request_id: str) -> tuple[Sample, dict[str, str]]:
    """The request as a :class:`Sample` (the turn to predict) and the map from the tool names the
    model sees (:func:`~toolace_r.data.normalize.safe_name`) back to the client's names."""
    raw_tools = [t.model_dump(exclude_none=True) for t in req.tools or []]
    if req.tool_choice == "none":
        raw_tools = []
    elif isinstance(req.tool_choice, NamedToolChoice):
        raw_tools = [t for t in raw_tools if t["function"]["name"] == req.tool_choice.function.name]
    names = {safe_name(t["function"]["name"]): t["function"]["name"] for t in raw_tools}
    if len(names) < len(raw_tools):
        raise bad_request("tools: two tools have the same name (after mapping to identifiers)", "tools", "invalid_tool")
    try:
        tools = tools_from_value(raw_tools)
    except ConvertError as e:
        raise bad_request(f"invalid tool schema: {e}", "tools", "invalid_tool") from None
    raw_messages = []
    for m in req.messages:
        d = m.model_dump(exclude_none=True)
        d["content"] = _text(m.content)
        raw_messages.append(d)
    try:
        messages = openai_messages(raw_messages)
        sample = Sample(id=request_id, tools=tools, messages=messages, answer=None, text="",
                        category="multi_turn", source="serve")
    except ConvertError as e:
        raise bad_request(str(e), "messages") from None
    except ValidationError as e:
        raise bad_request(f"messages: {e.errors(include_url=False)[0]['msg']}", "messages") from None
    return sample, names


# --------------------------------------------------------------------------------------------
# Result -> response


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def dumps_arguments(arguments: Any) -> str:
    """A call's arguments as the JSON string of ``function.arguments`` (:func:`json_safe` first)."""
    return json.dumps(json_safe(arguments, MAX_JSON_DEPTH), ensure_ascii=False, allow_nan=False)


def answer_message(text: str, names: dict[str, str], plan: Plan, cut_off: bool) -> tuple[dict[str, Any], str]:
    """``(message, finish_reason)`` for one final answer text."""
    for s in plan.stop:
        if s in text:
            text, cut_off = text[: text.index(s)], False
    parsed = parse_calls(text) if plan.allow_calls else None
    if parsed is not None and parsed.status == "calls" and parsed.calls:
        calls = parsed.calls if plan.parallel else parsed.calls[:1]
        try:
            # arguments through json_safe: surrogates replaced, huge integers as hex strings (safe.py)
            tool_calls = [
                {"id": new_id("call_"), "type": "function",
                 "function": {"name": names.get(c.name, c.name), "arguments": dumps_arguments(c.arguments)}}
                for c in calls
            ]
        except Unencodable:
            pass  # arguments nested past MAX_JSON_DEPTH: the answer goes back as the text it is
        else:
            return {"role": "assistant", "content": None, "tool_calls": tool_calls}, "tool_calls"
    return {"role": "assistant", "content": text}, "length" if cut_off else "stop"


def build_response(request_id: str, model: str, results: list[RefineResult], first_tokens: list[int], prompt_tokens: int,
                   names: dict[str, str], plan: Plan) -> dict[str, Any]:
    """The chat.completion object for ``results`` (one :class:`~toolace_r.refine.RefineResult` per
    choice; ``first_tokens``: the tokens of each choice's first pass)."""
    choices, per_choice = [], []
    for i, r in enumerate(results):
        message, finish = answer_message(r.final, names, plan, cut_off=r.last_tokens >= plan.max_tokens)
        choices.append({"index": i, "message": message, "logprobs": None, "finish_reason": finish})
        per_choice.append({"index": i, "rounds": r.rounds, "tokens": r.tokens,
                           "changed": not answers_equal(r.trajectory[0], r.final), "confirmed": r.confirmed,
                           # only when refinement stopped because its next pass would not fit the context
                           **({"context_stop": True} if getattr(r, "context_stop", False) else {})})
    completion = sum(r.tokens for r in results)
    rounds = sum(r.rounds for r in results)
    # json_safe over the whole: answers (content, call names) may hold what JSON cannot encode
    return json_safe({
        "id": request_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": None, "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                  "total_tokens": prompt_tokens + completion,
                  "refinement_rounds": rounds, "refinement_tokens": completion - sum(first_tokens)},
        "refinement": {"mode": plan.mode, "max_rounds": plan.max_rounds, "rounds": rounds,
                       "tokens": completion, "choices": per_choice},
    })


_PIECE_RE = re.compile(r"\S+\s*|\s+")


def _pieces(text: str, size: int = 16) -> list[str]:
    """Text cut into stream deltas: words (with their trailing space), long words in ``size`` slices."""
    out = []
    for w in _PIECE_RE.findall(text):
        out.extend(w[i:i + size] for i in range(0, len(w), size))
    return out


def stream_events(response: dict[str, Any], include_usage: bool) -> Iterator[str]:
    """The response as server-sent events in OpenAI's ``chat.completion.chunk`` format, ending
    with ``data: [DONE]``. The answer is final (refinement needs the whole of it), so it is sent
    in pieces right after it is generated."""
    base = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"],
            "model": response["model"], "system_fingerprint": None}

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        return f"data: {dumps({**base, 'choices': choices, **extra})}\n\n"

    for ch in response["choices"]:
        i, msg = ch["index"], ch["message"]
        yield event([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])
        for k, tc in enumerate(msg.get("tool_calls") or []):
            head = {"index": k, "id": tc["id"], "type": "function", "function": {"name": tc["function"]["name"], "arguments": ""}}
            yield event([{"index": i, "delta": {"tool_calls": [head]}, "logprobs": None, "finish_reason": None}])
            for piece in _pieces(tc["function"]["arguments"]):
                delta = {"tool_calls": [{"index": k, "function": {"arguments": piece}}]}
                yield event([{"index": i, "delta": delta, "logprobs": None, "finish_reason": None}])
        for piece in _pieces(msg.get("content") or ""):
            yield event([{"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
        yield event([{"index": i, "delta": {}, "logprobs": None, "finish_reason": ch["finish_reason"]}],
                    refinement=response["refinement"])
    if include_usage:
        yield event([], usage=response["usage"])
    yield "data: [DONE]\n\n"
