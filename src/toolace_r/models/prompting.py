"""Prompts: the one place that turns samples into chat messages, targets and token ids.

Training, probing, refinement and evaluation all build their model input here, so the prompt a
model is evaluated with is the prompt it was trained with (a mismatch silently ruins scores).

* :func:`build_messages` -> ``(messages, tools)``. Two ways to show the tools (:class:`PromptConfig`):
  ``tools_in="system"`` (default, like BFCL's prompt mode): our system prompt lists the tools as
  JSON and asks for a Python list of calls; ``tools`` is ``None``. ``tools_in="template"`` (the
  embedded model, real chat models): no system prompt is added and the tools are returned for
  ``apply_chat_template(..., tools=tools)``, whose template renders them.
* The tool-call format (``PromptConfig.tool_format``, :mod:`toolace_r.calls.native`): ``pythonic``
  answers are Python-call text in the assistant content. ``hermes`` / ``llama3_json`` are the
  formats of real chat templates (Qwen2.5/3 and Hermes, Llama 3.x): earlier calls and the answer go
  to the template as structured ``tool_calls`` and the template writes them, tool results as
  ``role: tool``, so a trained folder is prompted by plain ``apply_chat_template(messages,
  tools=tools)`` and served by vLLM's parser of the same name. :func:`load_prompt_config` detects
  the format from a model folder's chat template when the folder records none.
* :func:`refine_messages` -> the same conversation continued: the previous answer as the
  assistant turn, then a short user turn asking the model to check it and either correct it or
  confirm it (self-refinement, 1.2/1.3 of the method). The first pass's prompt and answer are a
  prefix of the refinement prompt, so a backend can reuse their KV cache. Several previous answers
  continue the conversation turn by turn (:func:`continue_conversation`).
* :func:`confirmation` / :func:`is_confirmation`: what a model trained with ``refine.confirm=token``
  answers a right previous answer with (the tokenizer's ``<|confirm|>`` token where it has one,
  else :data:`CONFIRM_TEXT`), and whether an answer is that; :func:`decode_answer` decodes generated
  ids keeping that token and the call formats' markers visible (``skip_special_tokens`` would drop them).
* :func:`target_text`: the canonical answer text (the gold calls in the model's format, or the
  text target / a fixed no-call reply).
* :func:`render` -> ``(input_ids, loss_mask)``: only the assistant answer and its end-of-turn
  token carry loss; system text, tools, user turns, tool results and earlier assistant turns do not.
  The answer is what the template writes after the generation prompt (no ``{% generation %}``
  markers needed), e.g. ``<tool_call>...</tool_call><|im_end|>`` on Qwen2.5.
* :func:`render_prompt` / :func:`encode_prompt`: the generation prompt as text / ids.

The prompt and the answer are tokenized separately and concatenated, which is exactly what the
model sees at generation time (prompt ids, then the tokens it generates), so no BPE merge across
the boundary can make training and inference disagree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolace_r.calls import detect_tool_format, format_answer, format_calls, parse_calls, strip_reasoning, tool_calls
from toolace_r.calls.native import check_tool_format

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from toolace_r.data.schema import Sample

# The file in a model directory that tells toolace-r how to prompt it (see load_prompt_config);
# written by the embedded model's init and carried along by SFT.
PROMPT_CONFIG_FILE = "toolace_r.json"

SYSTEM_PROMPT = (
    "You can call functions to answer the user. The functions you may call are listed below as "
    "JSON schemas.\n"
    "If one or more functions fit the request, reply with the calls only, as a Python list of "
    "calls with keyword arguments, e.g. [func_a(param1=value1, param2=value2), func_b(param=value)]. "
    "Use the exact function and parameter names, put every call the request needs in the list, "
    "and write nothing else.\n"
    "If no function fits, or a required value is missing, reply in plain text without any call.\n"
    "Functions:\n{tools}"
)

# The user turn after an answer that asks for refinement. Short: every refinement round prefills it.
REFINE_REQUEST = "Check your answer. If it is wrong, answer again correctly; if it is right, confirm it."

# The confirmation a model trained with refine.confirm=token answers a right previous answer with:
# the tokenizer's own special token where it has one (the embedded model does), else CONFIRM_TEXT.
CONFIRM_TOKEN = "<|confirm|>"
CONFIRM_TEXT = "Confirmed."

CONFIRM_MODES = ("repeat", "token")

NO_CALL_TEXT = "None of the available functions fits this request."

# Markers of the call formats that some tokenizers make special tokens; decoding keeps them.
FORMAT_TOKENS = ("<tool_call>", "</tool_call>", "<think>", "</think>", "<|python_tag|>")


ToolFormat = Literal["pythonic", "hermes", "llama3_json"]


@dataclass(frozen=True)
class PromptConfig:
    """How tools reach the model: in our system prompt ("system") or via the chat template
    ("template"); and the format it answers calls in (``tool_format``; not pythonic: the chat
    template's own, which needs tools_in="template")."""

    tools_in: Literal["system", "template"] = "system"
    system_prompt: str = SYSTEM_PROMPT  # must contain "{tools}" when tools_in == "system"
    tool_format: ToolFormat = "pythonic"

    def __post_init__(self) -> None:
        if self.tools_in not in ("system", "template"):
            raise ValueError(f"tools_in must be 'system' or 'template', got {self.tools_in!r}")
        if self.tools_in == "system" and "{tools}" not in self.system_prompt:
            raise ValueError("a system prompt for tools_in='system' must contain the '{tools}' placeholder")
        check_tool_format(self.tool_format)
        if self.tool_format != "pythonic" and self.tools_in != "template":
            raise ValueError(f"tool_format={self.tool_format} is written by the chat template: "
                             "it needs tools_in='template'")

    def to_json(self) -> dict[str, Any]:
        """The fields for ``toolace_r.json`` (the system prompt only where it is not the default)."""
        out = asdict(self)
        if out["system_prompt"] == SYSTEM_PROMPT:
            del out["system_prompt"]
        return out


def native_config(tool_format: str) -> PromptConfig:
    """The prompt config of a model answering in ``tool_format``: the default for pythonic, else
    tools and calls through its chat template."""
    if check_tool_format(tool_format) == "pythonic":
        return PromptConfig()
    return PromptConfig(tools_in="template", tool_format=tool_format)  # type: ignore[arg-type]


def prompt_style_config(model_cfg: PromptConfig, style: str) -> PromptConfig:
    """The prompt config for a ``--prompt-style`` / ``--tools-in`` choice: auto, the model's own;
    system, our system prompt (Python-call answers, BFCL's prompt mode); template, the tools through
    the chat template, calls in the model's own format."""
    if style == "auto":
        return model_cfg
    if style == "system":
        return PromptConfig()
    if style == "template":
        return PromptConfig(tools_in="template", tool_format=model_cfg.tool_format)
    raise ValueError(f"the prompt style must be auto, system or template, got {style!r}")


@dataclass
class Example:
    """A generic training example: a conversation, its tools (or None), the assistant target and
    the format its calls are written in."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    target: str
    tool_format: str = field(default="pythonic")


def folder_chat_template(model_path: str | Path) -> str | list[Any] | None:
    """The chat template saved in a model folder (``chat_template.jinja`` or ``tokenizer_config.json``),
    read without loading the tokenizer; None when it has none."""
    folder = Path(model_path)
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        except (json.JSONDecodeError, AttributeError):
            return None
    return None


def load_prompt_config(model_path: str | Path | None, tool_format: str = "auto") -> PromptConfig:
    """The prompt configuration of a model folder: what its ``toolace_r.json`` records, else (with
    ``tool_format="auto"``) the tool-call format its chat template writes (:func:`native_config`).
    Any other ``tool_format`` overrides the format (a native one sends the tools through the template)."""
    recorded = None
    if model_path is not None:
        f = Path(model_path) / PROMPT_CONFIG_FILE
        if f.is_file():
            try:
                data = json.loads(f.read_text(encoding="utf-8")).get("prompt", {})
            except json.JSONDecodeError as e:
                raise ValueError(f"{f}: not valid JSON: {e}") from e
            recorded = PromptConfig(**data)
    if tool_format == "auto":
        if recorded is not None:
            return recorded
        found = detect_tool_format(folder_chat_template(model_path)) if model_path is not None else "pythonic"
        return native_config(found)
    if recorded is None:
        return native_config(tool_format)
    if check_tool_format(tool_format) == "pythonic":
        return replace(recorded, tool_format="pythonic")
    return replace(recorded, tools_in="template", tool_format=tool_format)  # type: ignore[arg-type]


def model_prompt_config(model_path: str | Path | None, tokenizer: Any) -> PromptConfig:
    """How a loaded model must be prompted: from its folder (:func:`load_prompt_config`), else (a hub
    id, or a model given as objects) from the format its tokenizer's chat template writes."""
    if model_path is not None and Path(model_path).is_dir():
        return load_prompt_config(model_path)
    return native_config(detect_tool_format(getattr(tokenizer, "chat_template", None)))


def write_prompt_config(out_dir: str | Path, cfg: PromptConfig, start: str | Path | None = None) -> None:
    """Record in ``out_dir/toolace_r.json`` how its model is prompted (``cfg``), keeping what else the
    start model's file holds (e.g. the embedded model's facts)."""
    info: dict[str, Any] = {}
    if start is not None and (Path(start) / PROMPT_CONFIG_FILE).is_file():
        info = json.loads((Path(start) / PROMPT_CONFIG_FILE).read_text(encoding="utf-8"))
    info["prompt"] = cfg.to_json()
    (Path(out_dir) / PROMPT_CONFIG_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def tool_dicts(sample: Sample) -> list[dict[str, Any]]:
    """The sample's tools in the OpenAI / transformers form ``{"type": "function", "function": {...}}``."""
    return [{"type": "function", "function": t.model_dump()} for t in sample.tools]


def _conversation(sample: Sample, tool_format: str = "pythonic") -> list[dict[str, Any]]:
    """Sample messages as plain dicts; earlier assistant calls are written the way the model must
    answer (Python-call text, or structured ``tool_calls`` for the template), so history and target agree."""
    out = []
    for m in sample.messages:
        content = m.content
        if m.role == "assistant" and m.tool_calls and tool_format != "pythonic":
            out.append({"role": "assistant", "content": content or "", "tool_calls": tool_calls(m.tool_calls)})
            continue
        if m.role == "assistant" and m.tool_calls:
            calls = format_calls(m.tool_calls)
            content = f"{content}\n{calls}" if content else calls
        d: dict[str, Any] = {"role": m.role, "content": content}
        if m.role == "tool" and m.name:
            d["name"] = m.name
        out.append(d)
    return out


def build_messages(sample: Sample, cfg: PromptConfig | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """``(messages, tools)`` for the turn to predict. ``tools`` is None when they are in the system prompt."""
    cfg = cfg or PromptConfig()
    messages = _conversation(sample, cfg.tool_format)
    tools = tool_dicts(sample)
    if cfg.tools_in == "template":
        return messages, (tools or None)
    listing = json.dumps([t["function"] for t in tools], ensure_ascii=False)
    system = cfg.system_prompt.replace("{tools}", listing)
    if messages and messages[0]["role"] == "system":
        # Keep the sample's own system text after ours: templates accept a single system turn.
        system = f"{system}\n\n{messages[0]['content']}"
        messages = messages[1:]
    return [{"role": "system", "content": system}, *messages], None


def answer_message(answer: str, tool_format: str = "pythonic") -> dict[str, Any]:
    """An answer as the assistant turn the chat template renders: its text for ``pythonic``; else
    its calls as structured ``tool_calls`` (the template writes them in its own format), or its text
    without a reasoning block when it holds no calls."""
    if tool_format == "pythonic":
        return {"role": "assistant", "content": answer.strip()}
    parsed = parse_calls(answer)
    if parsed.status == "calls" and parsed.calls:
        return {"role": "assistant", "content": "", "tool_calls": tool_calls(parsed.calls)}
    return {"role": "assistant", "content": strip_reasoning(answer).strip()}


def continue_conversation(messages: list[dict[str, Any]], previous_answers: list[str],
                          tool_format: str = "pythonic") -> list[dict[str, Any]]:
    """``messages`` continued by each previous answer (an assistant turn, :func:`answer_message`)
    followed by the refinement request (a user turn): the prompt of the next refinement round."""
    out = [dict(m) for m in messages]
    for answer in previous_answers:
        out.append(answer_message(answer, tool_format))
        out.append({"role": "user", "content": REFINE_REQUEST})
    return out


def refine_messages(
    sample: Sample, previous_answer: str | list[str], cfg: PromptConfig | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """``(messages, tools)`` asking the model to check its previous answer (or, given a list, its
    answers so far, oldest first) and correct it or confirm it."""
    cfg = cfg or PromptConfig()
    messages, tools = build_messages(sample, cfg)
    answers = [previous_answer] if isinstance(previous_answer, str) else list(previous_answer)
    return continue_conversation(messages, answers, cfg.tool_format), tools


def confirm_token_id(tokenizer: PreTrainedTokenizerBase | None) -> int | None:
    """The id of :data:`CONFIRM_TOKEN` when ``tokenizer`` has it as one token of its own, else None."""
    if tokenizer is None:
        return None
    # get_vocab holds the added (special) tokens too; convert_tokens_to_ids would answer unk instead
    tid = tokenizer.get_vocab().get(CONFIRM_TOKEN)
    return tid if isinstance(tid, int) else None


def confirmation(tokenizer: PreTrainedTokenizerBase | None) -> str:
    """The confirmation text for a model with ``tokenizer`` (None: a model known only by its text,
    e.g. a served one): :data:`CONFIRM_TOKEN` where the tokenizer has it, else :data:`CONFIRM_TEXT`."""
    return CONFIRM_TOKEN if confirm_token_id(tokenizer) is not None else CONFIRM_TEXT


def confirm_first_id(tokenizer: PreTrainedTokenizerBase | None) -> int | None:
    """The token a confirmation starts with: the confirm token, else the first token of
    :data:`CONFIRM_TEXT` (what ``refine.confirm_bias`` raises at a refinement pass's first step)."""
    tid = confirm_token_id(tokenizer)
    if tid is not None or tokenizer is None:
        return tid
    ids = tokenizer.encode(CONFIRM_TEXT, add_special_tokens=False)
    return ids[0] if ids else None


def model_confirmation(model: str | Path) -> str:
    """:func:`confirmation` for the model in folder (or hub id) ``model``, from its tokenizer."""
    from transformers import AutoTokenizer

    return confirmation(AutoTokenizer.from_pretrained(str(model)))


def is_confirmation(answer: str, confirm: str) -> bool:
    """Whether ``answer`` is the confirmation ``confirm`` (surrounding whitespace aside)."""
    return answer.strip() == confirm


def kept_token_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """The ids :func:`decode_answer` keeps as text: the confirm token, and the markers of the call
    formats (``<tool_call>``, ``<think>``, ...) where the tokenizer makes them special tokens, which
    plain decoding would drop (the answer would then not parse)."""
    vocab, special = tokenizer.get_vocab(), set(tokenizer.all_special_ids)
    kept = {vocab[t] for t in FORMAT_TOKENS if t in vocab and vocab[t] in special}
    confirm = confirm_token_id(tokenizer)
    return kept | ({confirm} if confirm is not None else set())


def decode_answer(tokenizer: PreTrainedTokenizerBase, ids: list[int] | tuple[int, ...],
                  keep: int | set[int] | None) -> str:
    """Generated ids as text without special tokens, except those in ``keep`` (an id or a set:
    :func:`kept_token_ids`; e.g. the confirm token, so that refinement can see the model confirm)."""
    keep = {keep} if isinstance(keep, int) else (keep or set())
    if not keep.intersection(ids):
        return tokenizer.decode(list(ids), skip_special_tokens=True)
    parts, run = [], []
    for i in ids:
        if i in keep:
            parts += [tokenizer.decode(run, skip_special_tokens=True), tokenizer.convert_ids_to_tokens(i)]
            run = []
        else:
            run.append(i)
    return "".join(parts) + tokenizer.decode(run, skip_special_tokens=True)


def target_text(sample: Sample, cfg: PromptConfig | None = None) -> str:
    """The assistant target: canonical calls in the model's format, else the text target, else a
    fixed no-call reply."""
    if sample.answer:
        return format_answer(sample.gold_calls(), cfg.tool_format if cfg else "pythonic")
    if sample.text is not None:
        return sample.text
    return NO_CALL_TEXT


def example_from_sample(sample: Sample, cfg: PromptConfig | None = None) -> Example:
    cfg = cfg or PromptConfig()
    messages, tools = build_messages(sample, cfg)
    return Example(messages=messages, tools=tools, target=target_text(sample, cfg),
                   tool_format=cfg.tool_format)


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
    """The generation prompt as text: the conversation through the chat template, assistant turn opened."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no chat template; "
            "use a chat/instruct model or set tokenizer.chat_template"
        )
    return tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)


def _ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    # The chat template writes BOS itself: adding special tokens here would double it.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> list[int]:
    """The generation prompt as token ids (the exact prefix :func:`render` trains on)."""
    return _ids(tokenizer, render_prompt(tokenizer, messages, tools))


def _native_completion(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None, target: str, tool_format: str) -> str:
    """The whole conversation with ``target`` as the last turn, written by the template from
    structured calls; where the template refuses them (Llama 3.1 takes one call per turn), from
    the calls as text in the model's format."""
    from jinja2 import TemplateError

    answer = answer_message(target, tool_format)
    try:
        return tokenizer.apply_chat_template([*messages, answer], tools=tools, tokenize=False)
    except TemplateError:
        if "tool_calls" not in answer:
            raise
        text = format_answer(parse_calls(target).calls, tool_format)
        return tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": text}], tools=tools,
                                             tokenize=False)


def completion_text(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]],
                    tools: list[dict[str, Any]] | None, target: str, tool_format: str = "pythonic") -> tuple[str, str]:
    """``(prompt, completion)``: what the template writes after the prompt for the answer ``target``,
    i.e. the answer plus the template's end-of-turn marker."""
    prompt = render_prompt(tokenizer, messages, tools)
    if tool_format == "pythonic":
        full = tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": target}], tools=tools, tokenize=False
        )
        written = full.startswith(prompt) and target in full[len(prompt):]
    else:
        full = _native_completion(tokenizer, messages, tools, target, tool_format)
        written = full.startswith(prompt) and bool(full[len(prompt):].strip())
    if written:
        # Trailing newlines after the end-of-turn token are layout, not something to learn.
        return prompt, full[len(prompt):].rstrip("\n")
    # Templates that render a final assistant turn differently (e.g. ones that drop reasoning):
    # fall back to the answer followed by EOS.
    return prompt, target + (tokenizer.eos_token or "")


def render(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, target: str,
    tool_format: str = "pythonic",
) -> tuple[list[int], list[int]]:
    """``(input_ids, loss_mask)``: prompt tokens carry mask 0; the answer and its end token carry 1."""
    prompt, completion = completion_text(tokenizer, messages, tools, target, tool_format)
    prompt_ids = _ids(tokenizer, prompt)
    comp_ids = _ids(tokenizer, completion)
    stop_ids = {tokenizer.eos_token_id} - {None}
    if stop_ids and not stop_ids & set(comp_ids):
        # A template without an end-of-turn marker: the model must still learn to stop.
        comp_ids.append(tokenizer.eos_token_id)
    return prompt_ids + comp_ids, [0] * len(prompt_ids) + [1] * len(comp_ids)


def render_example(tokenizer: PreTrainedTokenizerBase, example: Example) -> tuple[list[int], list[int]]:
    return render(tokenizer, example.messages, example.tools, example.target, example.tool_format)
