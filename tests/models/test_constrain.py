"""Constrained decoding for tool_choice (toolace_r.models.constrain): the grammar of each tool-call
format accepts the calls the format writes and refuses other functions, missing required arguments,
text; a real model's constrained answers are calls; vLLM gets the same constraint as structured outputs."""

from __future__ import annotations

import json
import sys
import types

import pytest

from toolace_r.calls import parse_calls
from toolace_r.calls.native import format_answer
from toolace_r.models.constrain import CallConstraint, constraint_for, python_kwargs_grammar, vllm_structured_kw


@pytest.fixture(scope="module")
def fns(samples) -> dict:
    """The fixture functions by name (get_weather, get_time, book_table), as dicts."""
    return {t.name: t.model_dump() for t in samples[7].tools}


@pytest.fixture(scope="module")
def compiler(tokenizer):
    xgr = pytest.importorskip("xgrammar")
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    return xgr, xgr.GrammarCompiler(info, max_threads=1)


def accepts(compiler, constraint: CallConstraint, text: str, confirm=None) -> bool:
    xgr, comp = compiler
    m = xgr.GrammarMatcher(comp.compile_structural_tag(json.dumps(constraint.structural_tag(confirm))))
    return m.accept_string(text) and m.is_completed()


GOOD = [("get_weather", {"city": "Paris", "unit": "celsius", "days": [1, 2]}), ("get_time", {"tz": "CET"})]


@pytest.mark.parametrize("fmt", ["pythonic", "hermes", "llama3_json"])
def test_each_format_accepts_its_calls_and_nothing_else(compiler, fns, fmt):
    weather, clock = fns["get_weather"], fns["get_time"]
    both = CallConstraint.for_tools([weather, clock], fmt)
    assert accepts(compiler, both, format_answer(GOOD, fmt))
    assert accepts(compiler, both, format_answer(GOOD[1:], fmt))
    assert not accepts(compiler, both, "")  # required: at least one call
    assert not accepts(compiler, both, "The weather is fine.")
    assert not accepts(compiler, both, format_answer([("book_table", {"restaurant": "x", "people": 2})], fmt))
    assert not accepts(compiler, both, format_answer([("get_weather", {"unit": "celsius"})], fmt))  # city required
    assert not accepts(compiler, both, format_answer([("get_weather", {"city": "Rome", "unit": "kelvin"})], fmt))
    assert not accepts(compiler, both, format_answer([("get_time", {"tz": 5})], fmt))  # a string
    named = CallConstraint.for_tools([weather], fmt)
    assert accepts(compiler, named, format_answer(GOOD[:1], fmt))
    assert not accepts(compiler, named, format_answer(GOOD[1:], fmt))
    single = CallConstraint.for_tools([weather, clock], fmt, max_calls=1)
    assert accepts(compiler, single, format_answer(GOOD[:1], fmt))
    assert not accepts(compiler, single, format_answer(GOOD, fmt))


def test_pythonic_literals_and_nested_objects(compiler, fns):
    book = fns["book_table"]
    c = CallConstraint.for_tools([book], "pythonic")
    ok = '[book_table(restaurant="Luigi\'s", people=2, options={"terrace": True})]'
    assert accepts(compiler, c, ok) and parse_calls(ok).status == "calls"
    assert accepts(compiler, c, "[book_table(restaurant='Luigi', people=-3)]")  # either quote; options optional
    assert not accepts(compiler, c, '[book_table(restaurant="L", people=2.5)]')  # an integer
    assert not accepts(compiler, c, '[book_table(restaurant="L", people=2, options={"terrace": true})]')  # JSON bool
    assert not accepts(compiler, c, '[book_table(restaurant="L", people=2, options={})]')  # terrace required
    assert not accepts(compiler, c, '[book_table(people=2, restaurant="L")]')  # the schema's order
    assert not accepts(compiler, c, '[book_table(restaurant="L", people=2, extra=1)]')


def test_pythonic_grammar_of_odd_schemas(compiler):
    tool = {"name": "f", "parameters": {"type": "object", "properties": {
        "from": {"type": "string"},  # a keyword: Python cannot pass it by name, so it is left out
        "x": {"type": ["integer", "null"]},
        "y": {"anyOf": [{"type": "boolean"}, {"enum": ["a", 1]}]},
        "z": {},  # any value
    }, "required": ["x"]}}
    grammar = python_kwargs_grammar(tool["parameters"])
    assert "from=" not in grammar
    c = CallConstraint.for_tools([tool], "pythonic")
    assert accepts(compiler, c, "[f(x=None)]")
    assert accepts(compiler, c, '[f(x=1, y="a", z=[1, {"k": None}])]')
    assert accepts(compiler, c, "[f(x=-2, y=False)]")
    assert not accepts(compiler, c, "[f(x=1, y=2)]")
    assert not accepts(compiler, c, "[f()]")
    any_args = CallConstraint.for_tools([{"name": "g", "parameters": {"type": "object"}}], "pythonic")
    assert accepts(compiler, any_args, "[g(a=1, b='x')]") and accepts(compiler, any_args, "[g()]")


def test_confirmation_is_allowed_only_in_refinement_passes(compiler, fns, tokenizer):
    clock = fns["get_time"]
    c = CallConstraint.for_tools([clock], "pythonic")
    assert not accepts(compiler, c, "Confirmed.", confirm="Confirmed.")
    assert accepts(compiler, c.with_confirm(), "Confirmed.", confirm="Confirmed.")
    assert accepts(compiler, c.with_confirm(), '[get_time(tz="CET")]', confirm="Confirmed.")
    xgr, comp = compiler
    confirm_id = tokenizer.convert_tokens_to_ids("<|confirm|>")
    m = xgr.GrammarMatcher(comp.compile_structural_tag(json.dumps(c.with_confirm().structural_tag(confirm_id))))
    assert m.accept_token(confirm_id) and m.is_completed()


def test_constraint_for_tool_choice(samples):
    tools = samples[6].tools  # get_weather, get_time
    assert constraint_for(tools, None, "pythonic") is None
    assert constraint_for(tools, "auto", "pythonic") is None
    assert constraint_for(tools, "none", "pythonic") is None
    c = constraint_for(tools, "required", "hermes", parallel=False)
    assert c.names == ["get_weather", "get_time"] and c.tool_format == "hermes" and c.max_calls == 1
    with pytest.raises(ValueError, match="tool_format"):
        CallConstraint.for_tools(tools, "xml")


def test_constrained_generation_answers_calls(trained_model_dir, samples):
    """The trained tiny model answers the joke request in text; with the constraint, greedy and
    sampled, in every format, the answer starts as a call of the offered function, and an
    unconstrained prompt of the same batch is answered as without constraints. (Whether the values
    it then writes make sense is the model's business: tests/serving/test_tool_choice.py.)"""
    pytest.importorskip("xgrammar")
    from toolace_r.models.generation import HFGenerator
    from toolace_r.models.prompting import build_messages

    gen = HFGenerator(trained_model_dir)
    joke = samples[8]  # irrelevance: get_time offered, the gold answer is text
    prompt = build_messages(joke, gen.prompt_config)
    free = gen.generate([prompt], max_new_tokens=40)[0][0].text
    assert parse_calls(free).status != "calls"
    starts = {"pythonic": '[get_time(tz="', "hermes": '<tool_call>\n{"name": "get_time", "arguments": {',
              "llama3_json": '{"name": "get_time", "parameters": {'}
    for fmt, start in starts.items():
        c = CallConstraint.for_tools(joke.tools, fmt)
        out = gen.generate([prompt, prompt], n=2, temperature=0.8, seed=3, max_new_tokens=64, constraints=[c, None])
        assert all(comp.text.startswith(start) for comp in out[0]), out[0]
        greedy = gen.generate([prompt, prompt], max_new_tokens=64, constraints=[c, None])
        assert greedy[0][0].text.startswith(start) and greedy[1][0].text == free


class _Params:
    def __init__(self, **kw):
        self.kw = kw


def test_vllm_structured_outputs_argument(monkeypatch, fns):
    clock = fns["get_time"]
    """vLLM's structured outputs carry the same structural tag (vllm itself is not needed)."""
    c = CallConstraint.for_tools([clock], "hermes")
    assert vllm_structured_kw(None) == {}
    new = types.ModuleType("vllm.sampling_params")
    new.StructuredOutputsParams = _Params
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", new)
    sys.modules["vllm"].sampling_params = new
    (key, params), = vllm_structured_kw(c, 7).items()
    assert key == "structured_outputs" and json.loads(params.kw["structural_tag"]) == c.structural_tag(7)
    old = types.ModuleType("vllm.sampling_params")
    old.GuidedDecodingParams = _Params  # vLLM before 0.10.2
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", old)
    sys.modules["vllm"].sampling_params = old
    (key, params), = vllm_structured_kw(c.with_confirm(), 7).items()
    tag = json.loads(params.kw["structural_tag"])
    assert key == "guided_decoding" and tag["format"]["elements"][0] == {"type": "token", "token": 7}


def _stand_in_vllm(monkeypatch, tokenizer, outputs, sampling_params) -> None:
    """A ``vllm`` module whose LLM answers each prompt's params with ``outputs(params)`` (the real
    engine needs CUDA)."""
    class LLM:
        def __init__(self, **kw):
            pass

        def get_tokenizer(self):
            return tokenizer

        def generate(self, inputs, params, **kw):
            return [types.SimpleNamespace(outputs=outputs(p), num_cached_tokens=0) for p in params]

    vllm = types.ModuleType("vllm")
    sp = types.ModuleType("vllm.sampling_params")
    sp.StructuredOutputsParams = _Params
    vllm.LLM, vllm.SamplingParams, vllm.sampling_params = LLM, sampling_params, sp
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sp)


def test_vllm_generator_passes_a_constraint_per_prompt(monkeypatch, tokenizer, fns):
    """VLLMGenerator.generate gives each prompt's SamplingParams its own structured outputs (a
    stand-in vllm module records them; the real engine needs CUDA)."""
    from toolace_r.models.vllm_backend import VLLMGenerator

    made: list[dict] = []

    def sampling(**kw):
        made.append(kw)
        return _Params(**kw)

    _stand_in_vllm(monkeypatch, tokenizer, lambda p: [types.SimpleNamespace(text="[]", token_ids=[1])
                                                      for _ in range(p.kw["n"])], sampling)
    gen = VLLMGenerator("stand-in")
    c = CallConstraint.for_tools([fns["get_time"]], gen.prompt_config.tool_format)
    prompt = ([{"role": "user", "content": "hi"}], None)
    out = gen.generate([prompt, prompt], n=2, constraints=[c, None])
    assert [len(x) for x in out] == [2, 2]
    assert json.loads(made[0]["structured_outputs"].kw["structural_tag"]) == c.structural_tag(gen.confirm_id)
    assert "structured_outputs" not in made[1]


def test_vllm_answer_cut_inside_a_call_is_closed(monkeypatch, tokenizer, fns):
    """A constrained vLLM answer that max_tokens cut (finish_reason "length") comes back as a
    complete call within the budget; an unconstrained one as vLLM gave it. (A stand-in vllm module
    returns the cut token ids; the closing is ours, with the real tokenizer and xgrammar.)"""
    pytest.importorskip("xgrammar")
    from toolace_r.models.vllm_backend import VLLMGenerator

    cut = tokenizer.encode('[get_time(tz="Europe/Par', add_special_tokens=False)

    out = types.SimpleNamespace(text=tokenizer.decode(cut), token_ids=list(cut), finish_reason="length")
    _stand_in_vllm(monkeypatch, tokenizer, lambda p: [out], _Params)
    gen = VLLMGenerator("stand-in")
    c = CallConstraint.for_tools([fns["get_time"]], gen.prompt_config.tool_format)
    prompt = ([{"role": "user", "content": "hi"}], None)
    (closed,), (free,) = gen.generate([prompt, prompt], max_new_tokens=len(cut), constraints=[c, None])
    result = parse_calls(closed.text)
    assert result.status == "calls" and [x.name for x in result.calls] == ["get_time"], closed.text
    assert closed.text.startswith('[get_time(tz="Europe/') and closed.n_tokens <= len(cut)
    assert free.text == tokenizer.decode(cut) and free.n_tokens == len(cut)


def test_without_xgrammar_the_problem_is_one_line(monkeypatch):
    from toolace_r.models import constrain

    monkeypatch.setattr(constrain, "_XGRAMMAR_CHECKED", [])
    monkeypatch.setitem(sys.modules, "xgrammar", None)  # import xgrammar raises ImportError
    problem = constrain.xgrammar_problem()
    assert problem == constrain.MISSING_XGRAMMAR and "\n" not in problem and "toolace-r[constrained]" in problem
    with pytest.raises(ImportError, match=r"pip install 'toolace-r\[constrained\]'"):
        constrain.CallMasker(None, 8, [0], None)


def test_an_answer_cut_inside_a_call_is_closed_within_the_budget(tokenizer, fns):
    """CallMasker.close on hand-made cuts: the answer becomes a complete call (the grammar ends)
    of at most the budget's tokens, keeping as much of the cut answer as fits."""
    pytest.importorskip("xgrammar")
    from toolace_r.models.constrain import CallMasker

    stop = {tokenizer.eos_token_id}
    masker = CallMasker(tokenizer, len(tokenizer), stop, None)
    c = CallConstraint.for_tools([fns["get_weather"], fns["get_time"]], "pythonic")
    (m,) = masker.matchers([c])
    shortest = len(masker.close(m, [], 100))  # the shortest call it finds: budgets from there on are met
    assert m.is_terminated() and 0 < shortest < 30
    for cut_text in ['[get_weather(city="Paris, the capital of', '[get_ti', '[get_weather(city="Rome", unit=',
                     '[get_time(tz="CET"), get_weather(city="Oslo", days=[1, 2']:
        ids = tokenizer.encode(cut_text, add_special_tokens=False)
        for budget in (shortest, max(shortest, len(ids)), len(ids) + 30):
            (m,) = masker.matchers([c])
            assert all(m.accept_token(t) for t in ids) and not m.is_terminated()
            out = masker.close(m, ids, budget)
            assert m.is_terminated() and len(out) <= budget and out[-1] in stop, (cut_text, budget)
            text = tokenizer.decode(out[:-1])
            result = parse_calls(text)
            assert result.status == "calls" and {x.name for x in result.calls} <= {"get_weather", "get_time"}, text
            assert len(result.calls) <= max(1, cut_text.count("(")), text  # closing starts no new call
            if budget == len(ids) + 30:  # room to spare: nothing is taken back
                assert text.startswith(cut_text), text


def test_closing_does_not_start_another_call():
    """With the shipped base model's BPE vocabulary (which has tokens such as `),` and `"}),`), a
    call cut after its last argument is closed as it is, not continued into a next call that no
    longer fits (which took the arguments back)."""
    pytest.importorskip("xgrammar")
    from transformers import AutoTokenizer

    from toolace_r.models.base import BASE_DIR
    from toolace_r.models.constrain import CallMasker

    tok = AutoTokenizer.from_pretrained(str(BASE_DIR))
    address = {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
               "required": ["street", "city"]}
    order = {"name": "order_food", "parameters": {"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "string"}}, "address": address}, "required": ["items", "address"]}}
    c = CallConstraint.for_tools([order], "pythonic")
    masker = CallMasker(tok, len(tok), {tok.eos_token_id}, None)
    cut = '[order_food(items=["pancakes", "risotto"], address={"street": "Mill Lane", "city": "Seville"}'
    ids = tok.encode(cut, add_special_tokens=False)
    for budget in (len(ids) + 3, len(ids) + 40):
        (m,) = masker.matchers([c])
        assert all(m.accept_token(t) for t in ids)
        out = masker.close(m, ids, budget)
        assert m.is_terminated() and len(out) <= budget
        assert tok.decode(out[:-1]) == cut + ")]", tok.decode(out)


@pytest.mark.parametrize("fmt", ["pythonic", "hermes", "llama3_json"])
def test_an_untrained_model_always_answers_a_complete_call(tiny_model_dir, samples, fmt):
    """The random (untrained) tiny model sampled at temperature 1 under a small token budget: its
    string arguments rarely end by themselves, yet every answer is a complete call of an offered
    function within the budget, in every format."""
    pytest.importorskip("xgrammar")
    from toolace_r.models.generation import HFGenerator
    from toolace_r.models.prompting import build_messages

    gen = HFGenerator(tiny_model_dir)
    s = samples[7]
    offered = {t.name for t in s.tools}
    prompt = build_messages(s, gen.prompt_config)
    c = CallConstraint.for_tools(s.tools, fmt)
    (m,) = gen._call_masker().matchers([c])
    shortest = len(gen._call_masker().close(m, [], 200))  # the tiny model's tokens are about a character each
    for budget in (shortest, shortest + 16, shortest + 48):
        (comps,) = gen.generate([prompt], n=4, temperature=1.0, seed=budget, max_new_tokens=budget, constraints=[c])
        for comp in comps:
            result = parse_calls(comp.text)
            assert comp.n_tokens <= budget and result.status == "calls", (budget, comp.text)
            assert {x.name for x in result.calls} <= offered
