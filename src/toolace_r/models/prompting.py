"""Prompts: the one place that turns samples into chat messages, targets and token ids.

Training, probing, refinement and evaluation all build their model input here, so the prompt a
model is evaluated with is the prompt it was trained with (a mismatch silently ruins scores).

* :func:`build_messages` -> ``(messages, tools)``. Two ways to show the tools (:class:`PromptConfig`):
  ``tools_in="system"`` (default, for real chat models, like BFCL's prompt mode): our system prompt
  lists the tools as JSON and asks for a Python list of calls; ``tools`` is ``None``.
  ``tools_in="template"`` (the embedded model): no system prompt is added and the tools are
  returned for ``apply_chat_template(..., tools=tools)``, whose template renders them compactly.
* :func:`refine_messages` -> the same conversation continued: the previous answer as the
  assistant turn, then a short user turn asking the model to check it and either correct it or
  confirm it (self-refinement, 1.2/1.3 of the method). The first pass's prompt and answer are a
  prefix of the refinement prompt, so a backend can reuse their KV cache. Several previous answers
  continue the conversation turn by turn (:func:`continue_conversation`).
* :func:`confirmation` / :func:`is_confirmation`: what a model trained with ``refine.confirm=token``
  answers a right previous answer with (the tokenizer's ``<|confirm|>`` token where it has one,
  else :data:`CONFIRM_TEXT`), and whether an answer is that; :func:`decode_answer` decodes generated
  ids keeping that token visible (``skip_special_tokens`` would drop it).
* :func:`target_text`: the canonical answer text (``format_calls`` of the gold calls, or the text
  target / a fixed no-call reply).
* :func:`render` -> ``(input_ids, loss_mask)``: only the assistant answer and its end-of-turn
  token carry loss; system text, tools, user turns, tool results and earlier assistant turns do not.
* :func:`render_prompt` / :func:`encode_prompt`: the generation prompt as text / ids.

The prompt and the answer are tokenized separately and concatenated, which is exactly what the
model sees at generation time (prompt ids, then the tokens it generates), so no BPE merge across
the boundary can make training and inference disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolace_r.calls import format_calls

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


@dataclass(frozen=True)
class PromptConfig:
    """How tools reach the model: in our system prompt ("system") or via the chat template ("template")."""

    tools_in: Literal["system", "template"] = "system"
    system_prompt: str = SYSTEM_PROMPT  # must contain "{tools}" when tools_in == "system"

    def __post_init__(self) -> None:
        if self.tools_in not in ("system", "template"):
            raise ValueError(f"tools_in must be 'system' or 'template', got {self.tools_in!r}")
        if self.tools_in == "system" and "{tools}" not in self.system_prompt:
            raise ValueError("a system prompt for tools_in='system' must contain the '{tools}' placeholder")


@dataclass
class Example:
    """A generic training example: a conversation, its tools (or None) and the assistant target."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    target: str


def load_prompt_config(model_path: str | Path | None) -> PromptConfig:
    """The prompt configuration recorded in a model directory (``toolace_r.json``), else the default."""
    if model_path is not None:
        f = Path(model_path) / PROMPT_CONFIG_FILE
        if f.is_file():
            try:
                data = json.loads(f.read_text(encoding="utf-8")).get("prompt", {})
            except json.JSONDecodeError as e:
                raise ValueError(f"{f}: not valid JSON: {e}") from e
            return PromptConfig(**data)
    return PromptConfig()


def tool_dicts(sample: Sample) -> list[dict[str, Any]]:
    """The sample's tools in the OpenAI / transformers form ``{"type": "function", "function": {...}}``."""
    return [{"type": "function", "function": t.model_dump()} for t in sample.tools]


def _conversation(sample: Sample) -> list[dict[str, Any]]:
    """Sample messages as plain dicts; earlier assistant calls become Python-call text, the same
    format the model must answer in, so history and target agree."""
    out = []
    for m in sample.messages:
        content = m.content
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
    messages = _conversation(sample)
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


def continue_conversation(messages: list[dict[str, Any]], previous_answers: list[str]) -> list[dict[str, Any]]:
    """``messages`` continued by each previous answer (an assistant turn) followed by the
    refinement request (a user turn): the prompt of the next refinement round."""
    out = [dict(m) for m in messages]
    for answer in previous_answers:
        out.append({"role": "assistant", "content": answer.strip()})
        out.append({"role": "user", "content": REFINE_REQUEST})
    return out


def refine_messages(
    sample: Sample, previous_answer: str | list[str], cfg: PromptConfig | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """``(messages, tools)`` asking the model to check its previous answer (or, given a list, its
    answers so far, oldest first) and correct it or confirm it."""
    messages, tools = build_messages(sample, cfg)
    answers = [previous_answer] if isinstance(previous_answer, str) else list(previous_answer)
    return continue_conversation(messages, answers), tools


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


def model_confirmation(model: str | Path) -> str:
    """:func:`confirmation` for the model in folder (or hub id) ``model``, from its tokenizer."""
    from transformers import AutoTokenizer

    return confirmation(AutoTokenizer.from_pretrained(str(model)))


def is_confirmation(answer: str, confirm: str) -> bool:
    """Whether ``answer`` is the confirmation ``confirm`` (surrounding whitespace aside)."""
    return answer.strip() == confirm


def decode_answer(tokenizer: PreTrainedTokenizerBase, ids: list[int] | tuple[int, ...], confirm_id: int | None) -> str:
    """Generated ids as text without special tokens, except the confirm token (id ``confirm_id``),
    which stays as its text so that refinement can see the model confirm."""
    if confirm_id is None or confirm_id not in ids:
        return tokenizer.decode(list(ids), skip_special_tokens=True)
    parts, run = [], []
    for i in ids:
        if i == confirm_id:
            parts += [tokenizer.decode(run, skip_special_tokens=True), CONFIRM_TOKEN]
            run = []
        else:
            run.append(i)
    return "".join(parts) + tokenizer.decode(run, skip_special_tokens=True)


def target_text(sample: Sample) -> str:
    """The assistant target: canonical calls, else the text target, else a fixed no-call reply."""
    if sample.answer:
        return format_calls(sample.gold_calls())
    if sample.text is not None:
        return sample.text
    return NO_CALL_TEXT


def example_from_sample(sample: Sample, cfg: PromptConfig | None = None) -> Example:
    messages, tools = build_messages(sample, cfg)
    return Example(messages=messages, tools=tools, target=target_text(sample))


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


def completion_text(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, target: str) -> tuple[str, str]:
    """``(prompt, completion)``: what the template writes after the prompt for the answer ``target``,
    i.e. the answer plus the template's end-of-turn marker."""
    prompt = render_prompt(tokenizer, messages, tools)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": target}], tools=tools, tokenize=False
    )
    if full.startswith(prompt) and target in full[len(prompt):]:
        # Trailing newlines after the end-of-turn token are layout, not something to learn.
        return prompt, full[len(prompt):].rstrip("\n")
    # Templates that render a final assistant turn differently (e.g. ones that drop reasoning):
    # fall back to the answer followed by EOS.
    return prompt, target + (tokenizer.eos_token or "")


def render(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, target: str
) -> tuple[list[int], list[int]]:
    """``(input_ids, loss_mask)``: prompt tokens carry mask 0; the answer and its end token carry 1."""
    prompt, completion = completion_text(tokenizer, messages, tools, target)
    prompt_ids = _ids(tokenizer, prompt)
    comp_ids = _ids(tokenizer, completion)
    stop_ids = {tokenizer.eos_token_id} - {None}
    if stop_ids and not stop_ids & set(comp_ids):
        # A template without an end-of-turn marker: the model must still learn to stop.
        comp_ids.append(tokenizer.eos_token_id)
    return prompt_ids + comp_ids, [0] * len(prompt_ids) + [1] * len(comp_ids)


def render_example(tokenizer: PreTrainedTokenizerBase, example: Example) -> tuple[list[int], list[int]]:
    return render(tokenizer, example.messages, example.tools, example.target)
