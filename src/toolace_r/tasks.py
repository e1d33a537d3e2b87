"""The jobs of `toolace-r run` that hold a model (SFT, probe, evaluation) as typed task objects.

The pipeline (the driver) builds a task, :func:`toolace_r.launch.run` runs it, in the driver or
as a multi-process job whose every process reads it back from the job folder
(``stages/<stage>/job/task.json``). The file is one JSON object; ``kind`` says which task::

    {"kind": "sft",   "model": "<model folder or hub id>", "out": "<model folder to write>",
                      "settings": {every field of toolace_r.models.sft.SFTSettings},
                      "samples": "<samples JSONL>" | null, "limit": n | null,
                      "examples": "<JSONL of {messages, tools, target}>" | null}
    {"kind": "probe", "model": ..., "backend": "hf", "backend_kw": {...},
                      "samples": "<samples JSONL>", "limit": n | null, "k": 4, "temperature": 0.8,
                      "top_p": 0.95, "max_new_tokens": 48, "seed": 1, "greedy": true, "out": "<probe.jsonl>"}
    {"kind": "eval",  "model": ..., "backend": ..., "backend_kw": {...},
                      "samples": "<samples JSONL>", "limit": n | null, "modes": ["none", "adaptive"],
                      "max_rounds": 3, "confirm": "token", "max_new_tokens": 48, "out": "<folder>"}

``samples`` with ``limit``: the first ``limit`` samples of the file (all when null). An SFT task
trains on its samples plus its ``examples`` (rendered later; the refinement corpus), at least one
of the two. ``backend_kw`` goes to the generation backend's constructor (vLLM's engine settings).
The job's result (metrics, or the evaluation's summary) is ``result.json`` next to ``task.json``.

Both sides validate: :func:`write_task` checks the exact text it writes and :func:`read_task`
checks what it reads. Unknown or missing keys and wrong types give a :class:`TaskError` of one line
naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from toolace_r.models.sft import SFTSettings


class TaskError(ValueError):
    pass


class _Task(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="model folder or hub id")
    samples: Path | None = Field(None, description="samples JSONL (toolace_r.data.schema.Sample)")
    limit: int | None = Field(None, ge=0, description="use the first `limit` samples only; null: all")
    tool_format: Literal["auto", "pythonic", "hermes", "llama3_json"] = Field(
        "auto", description="tool-call format of the model (model.tool_format); auto: what its folder records "
                            "or its chat template writes")


class SFTTask(_Task):
    """Fine-tune ``model`` into ``out`` on ``samples`` (+ ``examples``) with ``settings``."""

    kind: Literal["sft"] = "sft"
    out: Path = Field(description="folder the trained model is saved to")
    settings: SFTSettings
    examples: Path | None = Field(None, description="JSONL of rendered-later examples {messages, tools, target}")

    @model_validator(mode="after")
    def _has_data(self) -> "SFTTask":
        if self.samples is None and self.examples is None:
            raise ValueError("an SFT task needs samples, examples or both")
        return self


class _GenerationTask(_Task):
    backend: str = Field("hf", description="generation backend: hf | vllm")
    backend_kw: dict[str, Any] = Field(default_factory=dict, description="keywords for the backend's constructor")
    samples: Path
    max_new_tokens: int = Field(ge=1)


class ProbeTask(_GenerationTask):
    """k answers per sample at ``temperature``, each scored; written to ``out`` (JSONL)."""

    kind: Literal["probe"] = "probe"
    k: int = Field(ge=1)
    temperature: float = Field(ge=0)
    top_p: float = Field(gt=0, le=1)
    seed: int
    greedy: bool = Field(True, description="also record each sample's greedy answer (for the refinement corpus)")
    out: Path = Field(description="probe.jsonl to write (one ProbeItem per sample, in sample order)")


class EvalTask(_GenerationTask):
    """The samples answered in each refinement mode; ``outputs.jsonl`` and ``summary.json`` in ``out``."""

    kind: Literal["eval"] = "eval"
    modes: list[str] = Field(min_length=1, description="refinement modes: none | adaptive | fixed:N")
    max_rounds: int = Field(3, ge=0)
    confirm: Literal["repeat", "token"] = Field("token", description="how the model keeps an answer (refine.confirm)")
    confirm_bias: float = Field(0.0, ge=0, description="logit bias of the confirmation (refine.confirm_bias)")
    out: Path = Field(description="folder for outputs.jsonl and summary.json")


Task = Annotated[Union[SFTTask, ProbeTask, EvalTask], Field(discriminator="kind")]
_TASK: TypeAdapter[Task] = TypeAdapter(Task)


def _error(path: Path, e: ValidationError) -> TaskError:
    err = e.errors()[0]
    loc = [str(x) for x in err["loc"]]
    # a discriminated union puts the kind first: ("probe", "k") is the field k of a probe task
    field = ".".join(loc[1:]) if len(loc) > 1 else ("kind" if err["type"].startswith("union_tag") else "(the file)")
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return TaskError(f"task file {path}: {field}: {err['msg']}{more}")


def parse_task(text: str, path: Path) -> Task:
    """The task in ``text`` (read from or going to ``path``), validated."""
    try:
        return _TASK.validate_json(text)
    except ValidationError as e:
        raise _error(path, e) from None


def write_task(task: Task, path: Path) -> None:
    """Write ``task`` as ``path`` after validating the very text written (a task changed with
    ``model_copy(update=...)`` is not validated on its own)."""
    text = task.model_dump_json(indent=2)
    parse_task(text, path)
    path.write_text(text + "\n", encoding="utf-8")


def read_task(path: Path) -> Task:
    """The task in the file ``path``, validated."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise TaskError(f"task file {path}: cannot read it: {e.strerror}") from None
    return parse_task(text, Path(path))
