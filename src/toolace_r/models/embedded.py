"""The embedded from-scratch model: a byte-level BPE tokenizer and a tiny Llama, made on the corpus.

What it does
------------
:func:`init_model` builds, from a training corpus (a JSONL file of :class:`~toolace_r.data.schema.Sample`
lines, or the samples themselves):

1. every sample rendered through the embedded chat template (plain prompt, full answer, and the
   refinement prompt of :mod:`toolace_r.models.prompting`), so the tokenizer sees exactly the
   strings the model will be trained and prompted on;
2. a byte-level BPE tokenizer trained on those strings with :mod:`tokenizers` (byte fallback means no
   string is ever out of vocabulary), wrapped as a ``PreTrainedTokenizerFast`` with the special
   tokens below and a Jinja chat template;
3. a randomly initialised ``LlamaForCausalLM`` sized by ``size`` ("tiny" about 2.3M parameters,
   "small" about 6M), saved with ``save_pretrained`` together with the tokenizer, so that plain
   ``AutoTokenizer.from_pretrained(dir)`` / ``AutoModelForCausalLM.from_pretrained(dir)`` load it.

On a 2-core CPU, sequence length is the cost (calibration in the method notes, section 5), so the chat template
renders tools as one compact signature per line instead of JSON, e.g.::

    <|bos|><|tools|>get_weather(city:str, unit?:enum[celsius|fahrenheit])<|end|><|user|>Weather in Paris?<|end|><|assistant|>

``?`` marks an optional parameter. Each turn ends with ``<|end|>``, which is also the EOS token, so
generation stops at the end of the assistant turn. The assistant content is wrapped in
``{% generation %}`` so ``return_assistant_tokens_mask`` (and TRL's ``assistant_only_loss``) work too.

Launch::

    toolace-r model init --data corpus/train.jsonl --out models/tiny --size tiny --seed 0

or from Python: ``init_model("corpus/train.jsonl", "models/tiny", size="tiny", seed=0)``.
A ``toolace_r.json`` file in the output directory records that prompts for this model pass the
tools through the template (``tools_in="template"``), which :mod:`toolace_r.models.prompting` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from toolace_r.data.io import read_samples
from toolace_r.data.schema import Sample
from toolace_r.models import prompting
from toolace_r.models.prompting import PROMPT_CONFIG_FILE  # re-exported: SFT and tests name it here

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

BOS, EOS_TURN, PAD = "<|bos|>", "<|end|>", "<|pad|>"
TURN_MARKERS = ("<|system|>", "<|tools|>", "<|user|>", "<|assistant|>", "<|tool|>")
# CONFIRM: the one-token answer to a right previous answer under refine.confirm=token.
SPECIAL_TOKENS = (PAD, BOS, EOS_TURN, *TURN_MARKERS, prompting.CONFIRM_TOKEN)

# How text is cut before BPE (see train_tokenizer): words, single digits, single spaces, punctuation runs.
PRE_SPLIT = r"[\p{L}\p{M}_]+|\p{N}|\s|[^\s\p{L}\p{M}\p{N}_]+"

# Sizes: tiny matches the calibration in the method notes (hidden 192, 4 layers, ~2M parameters in
# the layers). Its vocabulary may grow to 4096: BPE then stops at the corpus's own word list (about
# 2,700 on the default corpus), so every word of the corpus is one token: a value is copied from the
# request as one token, and samples are 18% shorter than with 1,024 (2.3M parameters in all).
# small is a step up for machines with more time. Embeddings are tied to save parameters.
SIZES: dict[str, dict[str, Any]] = {
    # micro: for tests and smoke runs only (seconds to train, learns little)
    "micro": dict(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
    ),
    "tiny": dict(
        vocab_size=4096, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
    ),
    "small": dict(
        vocab_size=2048, hidden_size=256, intermediate_size=768, num_hidden_layers=6,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
    ),
}

# Jinja macro rendering one JSON-Schema parameter type compactly. `p['items']` is indexed, not
# attribute-accessed: on a dict, `p.items` would be the dict method.
_TYPE_MACRO = (
    "{%- macro ptype(p) -%}"
    "{%- set t = p['type'] if p['type'] is defined else '' -%}"
    "{%- if p['enum'] is defined -%}enum[{{ p['enum'] | join('|') }}]"
    "{%- elif t in ('string', 'str') -%}str"
    "{%- elif t in ('integer', 'int') -%}int"
    "{%- elif t in ('number', 'float') -%}float"
    "{%- elif t in ('boolean', 'bool') -%}bool"
    "{%- elif t in ('array', 'list', 'tuple') -%}list"
    "{%- if p['items'] is defined and p['items'] is mapping %}[{{ ptype(p['items']) }}]{% endif -%}"
    "{%- elif t in ('object', 'dict') -%}dict"
    "{%- if p['properties'] is defined and p['properties'] -%}"
    "{{ '{' }}{{ params(p) }}{{ '}' }}"
    "{%- endif -%}"
    "{%- else -%}{{ t }}"
    "{%- endif -%}"
    "{%- endmacro -%}"
    "{%- macro params(schema) -%}"
    "{%- set req = schema['required'] if schema['required'] is defined else [] -%}"
    "{%- set props = schema['properties'] if schema['properties'] is defined else {} -%}"
    "{%- for name, p in props.items() -%}"
    "{{ name }}{{ '' if name in req else '?' }}:{{ ptype(p) }}{{ ', ' if not loop.last }}"
    "{%- endfor -%}"
    "{%- endmacro -%}"
)

CHAT_TEMPLATE = _TYPE_MACRO + (
    "{{- bos_token -}}"
    "{%- if tools -%}"
    "<|tools|>"
    "{%- for tool in tools -%}"
    "{%- set f = tool['function'] if tool['function'] is defined else tool -%}"
    "{{ f['name'] }}({{ params(f['parameters']) if f['parameters'] is defined else '' }})"
    "{{ '\\n' if not loop.last }}"
    "{%- endfor -%}"
    "<|end|>"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "<|assistant|>{% generation %}"
    "{{- m['content'] if m['content'] else '' -}}"
    "{%- if m['tool_calls'] is defined and m['tool_calls'] -%}"
    "[{%- for tc in m['tool_calls'] -%}"
    "{%- set c = tc['function'] if tc['function'] is defined else tc -%}"
    "{{ c['name'] }}("
    "{%- for k, v in c['arguments'].items() -%}{{ k }}={{ v | tojson }}{{ ', ' if not loop.last }}{%- endfor -%}"
    "){{ ', ' if not loop.last }}"
    "{%- endfor -%}]"
    "{%- endif -%}"
    "<|end|>{% endgeneration %}"
    "{%- elif m['role'] in ('system', 'user', 'tool') -%}"
    "<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
    "{%- else -%}"
    "{{ raise_exception('unknown role: ' + m['role']) }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)


def _load_samples(data: str | Path | Iterable[Sample | dict[str, Any]]) -> list[Sample]:
    if isinstance(data, (str, Path)):
        if not Path(data).is_file():
            raise FileNotFoundError(f"training data not found: {data}")
        return read_samples(data)
    return [s if isinstance(s, Sample) else Sample.model_validate(s) for s in data]


def _corpus_texts(samples: list[Sample]) -> Iterable[str]:
    """Every string the model will see: prompts with answers, and refinement prompts."""
    from transformers.utils.chat_template_utils import render_jinja_template

    cfg = prompting.PromptConfig(tools_in="template")
    for s in samples:
        target = prompting.target_text(s)
        for msgs, tools in (
            prompting.build_messages(s, cfg),
            prompting.refine_messages(s, target, cfg),
        ):
            full = msgs + [{"role": "assistant", "content": target}]
            rendered, _ = render_jinja_template(
                conversations=[full], tools=tools, chat_template=CHAT_TEMPLATE, bos_token=BOS
            )
            yield rendered[0]


def train_tokenizer(samples: list[Sample], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on the rendered corpus, with chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Pre-split into words (letters and "_"), single digits, single whitespace characters and runs of
    # punctuation, then map bytes (byte level: every string is encodable and decode(encode(x)) == x,
    # which the call parser needs). A word is then the same tokens wherever it stands: "Rocky" in
    # the request ("... give Rocky four ...") and in the answer (movie="Rocky"), so the model learns
    # to copy values instead of a table from " Rocky" to "Rocky" (GPT-2's split glues the space to the
    # word). Digits one by one make numbers copyable too. Costs a token per space; worth it here.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRE_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus_texts(samples), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS_TURN,  # end of turn == end of generation
        pad_token=PAD,
        extra_special_tokens=[*TURN_MARKERS, prompting.CONFIRM_TOKEN],
        padding_side="left",  # generation pads on the left; training collators pad explicitly
        model_max_length=4096,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer: PreTrainedTokenizerFast, size: str = "tiny", seed: int = 0,
                overrides: dict[str, Any] | None = None) -> PreTrainedModel:
    """A randomly initialised LlamaForCausalLM sized by ``size`` (``overrides`` change config fields)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    fields = {**SIZES[size], **(overrides or {})}
    fields["vocab_size"] = len(tokenizer)  # the trained vocabulary may be smaller than asked
    config = LlamaConfig(
        **fields,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=128,
    )
    return model


def init_model(
    data: str | Path | Iterable[Sample | dict[str, Any]],
    out_dir: str | Path,
    size: str = "tiny",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the tokenizer on ``data``, create the model, save both to ``out_dir``; return a summary."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    samples = _load_samples(data)
    if not samples:
        raise ValueError("no training samples: the tokenizer needs a corpus")
    vocab = int((overrides or {}).get("vocab_size", SIZES[size]["vocab_size"]))
    tokenizer = train_tokenizer(samples, vocab)
    model = build_model(tokenizer, size=size, seed=seed, overrides=overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "prompt": {"tools_in": "template"},
        "embedded": {"size": size, "seed": seed, "n_params": n_params, "vocab_size": len(tokenizer),
                     "n_corpus_samples": len(samples)},
    }
    (out / PROMPT_CONFIG_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return {"out_dir": str(out), **info["embedded"]}
