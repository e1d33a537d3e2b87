"""The unified sample format: one tool-use training/eval item per JSONL line.

A sample is the conversation *up to* the assistant turn to predict, the tools visible at that
turn, and what the assistant must do next:

- ``answer``: the calls to make, in BFCL's possible-answer form: a list with one
  ``{function_name: {param: [acceptable values...]}}`` per call. ``""`` among a parameter's
  values marks it optional. The *first* acceptable value is the canonical one used as the
  training target (``""`` first means the canonical answer omits the parameter).
  An empty list means that no call is right (irrelevance).
- ``text``: a plain-text target, for turns that are not calls (e.g. the final answer after a
  tool result, or the refusal wording for an irrelevance sample). ``answer`` may then be
  ``None`` (a text turn) or ``[]`` (irrelevance with a reference refusal).

``category`` is one of :data:`CATEGORIES`; ``meta`` carries free-form provenance such as the
split and whether the tools / request template were seen in training.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# multi_step: a call turn after earlier calls and their tool results (the synthetic corpus's
# dependent-call category; converted dialogues call such turns multi_turn)
CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance", "multi_turn", "multi_step")
Category = Literal["simple", "multiple", "parallel", "parallel_multiple", "irrelevance", "multi_turn", "multi_step"]


class ToolSpec(BaseModel):
    """A function description: name, description and a JSON Schema object for parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        if v.get("type", "object") not in ("object", "dict"):
            raise ValueError(f"parameters must be a JSON Schema object, got type {v.get('type')!r}")
        props = v.get("properties", {})
        if not isinstance(props, dict):
            raise ValueError("parameters.properties must be an object mapping names to schemas")
        for pname, pschema in props.items():
            if not isinstance(pschema, dict):
                raise ValueError(f"schema of parameter {pname!r} must be an object")
        req = v.get("required", [])
        if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
            raise ValueError("parameters.required must be a list of parameter names")
        missing = [r for r in req if r not in props]
        if missing:
            raise ValueError(f"required parameters {missing} are not in properties")
        return v


class ToolCall(BaseModel):
    """One concrete call, as it appears in a conversation's history."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] | None = None
    name: str | None = None  # for role "tool": which function produced this result

    @model_validator(mode="after")
    def _calls_only_for_assistant(self) -> "Message":
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"only assistant messages carry tool_calls, not {self.role!r}")
        return self


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    tools: list[ToolSpec] = Field(default_factory=list)
    messages: list[Message] = Field(min_length=1)
    answer: list[dict[str, dict[str, list[Any]]]] | None = None
    text: str | None = None
    category: Category
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "Sample":
        if self.answer is None and self.text is None:
            raise ValueError("a sample needs an 'answer' (list of calls, [] for no call) or a 'text' target")
        if self.answer:
            if self.text is not None:
                raise ValueError("a sample whose answer has calls cannot also have a text target")
            names = {t.name for t in self.tools}
            for i, call in enumerate(self.answer):
                if len(call) != 1:
                    raise ValueError(f"answer[{i}] must map exactly one function name to its parameters")
                (fname, params), = call.items()
                if fname not in names:
                    raise ValueError(f"answer[{i}] calls {fname!r}, which is not among the sample's tools")
                for p, vals in params.items():
                    if not vals:
                        raise ValueError(f"answer[{i}].{fname}.{p} has no acceptable value")
        if self.category == "irrelevance" and self.answer:
            raise ValueError("an irrelevance sample must have answer [] (no call is right)")
        if self.messages[-1].role == "assistant":
            raise ValueError("messages must end before the assistant turn to predict")
        return self

    def gold_calls(self) -> list[ToolCall]:
        """The canonical target calls: the first acceptable value of each parameter."""
        return gold_calls(self.answer or [])

    def checker_category(self) -> str:
        """The BFCL checker category that scores this sample's answer."""
        return checker_category(self.category, self.answer, len(self.tools))


def gold_calls(answer: list[dict[str, dict[str, list[Any]]]]) -> list[ToolCall]:
    out = []
    for call in answer:
        (fname, params), = call.items()
        args = {p: from_possible_value(vals[0]) for p, vals in params.items() if vals and vals[0] != ""}
        out.append(ToolCall(name=fname, arguments=args))
    return out


def to_possible_value(value: Any) -> Any:
    """Encode one concrete argument value as an entry of a BFCL acceptable-values list.

    BFCL writes a dict-valued parameter's acceptable value as a dict whose values are
    themselves lists of acceptable values (``{"city": ["Paris"]}``), one level deep; every
    other value is written as it is."""
    if isinstance(value, dict):
        return {k: [v] for k, v in value.items()}
    return value


def from_possible_value(pvalue: Any) -> Any:
    """The canonical concrete value of one acceptable value (inverse of
    :func:`to_possible_value`): for a dict, each key's first acceptable value, keys whose
    first value is ``""`` (optional, omitted) left out."""
    if isinstance(pvalue, dict) and pvalue and all(isinstance(v, list) and v for v in pvalue.values()):
        return {k: v[0] for k, v in pvalue.items() if v[0] != ""}
    return pvalue


def answer_from_calls(calls: list[Any]) -> list[dict[str, dict[str, list[Any]]]]:
    """A possible answer with exactly one acceptable value per parameter, from concrete calls
    (objects with ``.name``/``.arguments``, e.g. :class:`ToolCall`)."""
    return [{c.name: {p: [to_possible_value(v)] for p, v in c.arguments.items()}} for c in calls]


def checker_category(category: str, answer: list | None, n_tools: int) -> str:
    """Map our sample category to the BFCL category whose rules score it."""
    if not answer:
        return "irrelevance"
    if category == "simple" and n_tools == 1:
        return "simple"
    if category in ("parallel", "parallel_multiple"):
        return category
    # multiple, multi_turn, multi_step, or a "simple" turn with several tools: match by name, order-free.
    return "parallel_multiple" if len(answer) > 1 else "multiple"
