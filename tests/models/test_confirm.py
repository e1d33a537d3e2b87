"""A real micro model taught refine.confirm=token: trained on a few samples and their refinement
corpus (right previous answer -> <|confirm|>, wrong one -> the gold answer), it answers right at
once, then confirms in one token, and adaptive refinement stops there with the first answer."""

from __future__ import annotations

import pytest

from toolace_r.mait import ProbeItem, refinement_examples
from toolace_r.models.prompting import (CONFIRM_TEXT, CONFIRM_TOKEN, PromptConfig, confirm_token_id, confirmation,
                                        decode_answer, is_confirmation, model_confirmation, refine_messages, render,
                                        target_text)


@pytest.fixture(scope="module")
def confirming_model(tmp_path_factory, tiny_model_dir, samples):
    """The tiny fixture model trained to memorise four samples, their confirmations and their fixes."""
    from toolace_r.models.sft import SFTSettings, train_sft

    few = samples[:4]  # simple weather requests: Paris, Rome, Oslo, Lima
    by_id = {s.id: s for s in few}
    # the probe's view: a wrong sampled answer (another city) and a right greedy one per sample
    items = [ProbeItem(s.id, [target_text(few[(i + 1) % 4])], [False], 0, greedy=target_text(s), greedy_correct=True)
             for i, s in enumerate(few)]
    confirm = model_confirmation(tiny_model_dir)
    examples, info = refinement_examples(by_id, items, n=8, correct_share=0.5, seed=0, greedy_share=1.0,
                                         prompt_cfg=PromptConfig(tools_in="template"), confirm_text=confirm)
    assert (info["refine_right_prev"], info["refine_wrong_prev"], confirm) == (4, 4, CONFIRM_TOKEN)
    out = tmp_path_factory.mktemp("confirming")
    train_sft(tiny_model_dir, [*few, *examples], out,
              SFTSettings(max_steps=150, batch_size=12, lr=1e-2, warmup_ratio=0.0, logging_steps=50, progress=False,
                          plot=False, seed=0, precision="fp32"))
    return out, few


def test_the_confirmation_is_the_tokenizers_token_where_it_has_one(tokenizer):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]")
    plain = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(vocab), unk_token="[UNK]")
    assert (confirm_token_id(plain), confirmation(plain), confirmation(None)) == (None, CONFIRM_TEXT, CONFIRM_TEXT)
    cid = confirm_token_id(tokenizer)
    assert confirmation(tokenizer) == CONFIRM_TOKEN and cid == tokenizer.convert_tokens_to_ids(CONFIRM_TOKEN)
    # decoding drops special tokens but keeps the confirmation visible
    call = tokenizer("[f()]", add_special_tokens=False)["input_ids"]
    assert decode_answer(tokenizer, [cid], cid) == CONFIRM_TOKEN
    assert decode_answer(tokenizer, [tokenizer.bos_token_id, *call, cid], cid) == "[f()]" + CONFIRM_TOKEN
    assert decode_answer(tokenizer, [cid, *call], None) == "[f()]"  # without the id: skipped like any special token
    assert is_confirmation(f" {CONFIRM_TOKEN}\n", CONFIRM_TOKEN) and not is_confirmation(CONFIRM_TEXT, CONFIRM_TOKEN)


def test_sft_trains_the_confirmation_as_its_token_then_end_of_turn(tokenizer, samples):
    messages, tools = refine_messages(samples[0], target_text(samples[0]), PromptConfig(tools_in="template"))
    ids, mask = render(tokenizer, messages, tools, CONFIRM_TOKEN)
    answer = [i for i, m in zip(ids, mask) if m]
    assert answer == [tokenizer.convert_tokens_to_ids(CONFIRM_TOKEN), tokenizer.eos_token_id]


def test_adaptive_refinement_stops_at_the_confirmation_and_keeps_the_first_answer(confirming_model):
    from toolace_r.models.generation import HFGenerator
    from toolace_r.refine import refine

    model_dir, few = confirming_model
    gen = HFGenerator(model_dir)
    assert gen.confirm_text == CONFIRM_TOKEN
    results = refine(gen, few, "adaptive", max_rounds=3, max_new_tokens=40, confirm="token")
    for s, r in zip(few, results):
        gold = target_text(s)
        assert r.trajectory == [gold, CONFIRM_TOKEN]  # the token stays visible in the decoded text
        assert (r.final, r.rounds, r.confirmed) == (gold, 1, True)
        n_first = len(gen.tokenizer(gold, add_special_tokens=False)["input_ids"]) + 1  # + end of turn
        assert (r.first_tokens, r.last_tokens) == (n_first, n_first)
        assert r.tokens == n_first + 2  # the confirmation: <|confirm|> and end of turn
    # the paper's rule on the same model: the confirmation is then an answer (and a wrong one)
    (r,) = refine(gen, few[:1], "adaptive", max_rounds=1, max_new_tokens=40, confirm="repeat")
    assert (r.final, r.confirmed) == (CONFIRM_TOKEN, False)


def test_rewrite_mode_bans_the_confirmation_for_one_round(confirming_model):
    """Mode rewrite (the stop-rule ceiling diagnostic): the model that confirms every first answer
    above must write one more answer instead, once; under confirm=repeat it is fixed:1."""
    from toolace_r.models.generation import HFGenerator
    from toolace_r.refine import refine, refine_modes

    model_dir, few = confirming_model
    gen = HFGenerator(model_dir)
    out, _ = refine_modes(gen, few, ["adaptive", "rewrite"], max_rounds=3, max_new_tokens=40, confirm="token")
    for s, a, r in zip(few, out["adaptive"], out["rewrite"]):
        assert a.confirmed and a.trajectory[0] == r.trajectory[0] == target_text(s)  # one shared first pass
        assert (r.rounds, r.confirmed, len(r.trajectory)) == (1, False, 2)
        assert not is_confirmation(r.final, CONFIRM_TOKEN) and r.final == r.trajectory[1]
    repeat = refine(gen, few, "rewrite", max_new_tokens=40, confirm="repeat")
    assert [r.trajectory for r in repeat] == [r.trajectory for r in refine(gen, few, "fixed:1", max_new_tokens=40,
                                                                           confirm="repeat")]


def test_the_server_answers_the_confirmed_first_answer(confirming_model):
    """The serving engine runs the same loop with its --confirm rule: the confirmation is never the
    answer sent back; the first answer is, as tool calls, with the confirmation in the extension."""
    import asyncio

    from toolace_r.models.generation import HFGenerator
    from toolace_r.serving.engine import Engine
    from toolace_r.serving.protocol import Plan, build_response
    from toolace_r.serving.server import check_options

    model_dir, few = confirming_model
    plan = Plan(n=1, temperature=0.0, top_p=1.0, max_tokens=40, seed=None, mode="adaptive", max_rounds=3,
                allow_calls=True, parallel=True)

    async def ask():
        engine = Engine(HFGenerator(model_dir), confirm="token")
        await engine.start()
        try:
            return await engine.wait(engine.submit(few[0], plan), timeout=120)
        finally:
            await engine.close()

    result = asyncio.run(ask())
    response = build_response("id", "tiny", result.results, result.first_tokens, result.prompt_tokens, {}, plan)
    (call,) = response["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and "Paris" in call["function"]["arguments"]
    assert response["refinement"]["choices"] == [{"index": 0, "rounds": 1, "tokens": result.results[0].tokens,
                                                  "changed": False, "confirmed": True}]
    with pytest.raises(ValueError, match="unknown confirm rule 'nod'"):
        check_options(refine="adaptive", max_rounds=3, confirm="nod", upstream=None, upstream_extra_body=None,
                      default_max_tokens=16, max_tokens_limit=64)


def _first_step_margin(gen, prompt) -> float:
    """max logit - the confirmation's logit at the first generated position of ``prompt``."""
    import torch

    ids = torch.tensor([gen.encode(prompt)])
    with torch.inference_mode():
        logits = gen.model(input_ids=ids).logits[0, -1].float()
    return float(logits.max() - logits[gen.confirm_first_id])


def test_confirm_bias_confirms_exactly_where_the_rewrite_wins_by_less(tiny_model_dir, samples):
    """refine.confirm_bias on a real (untrained) model: a refinement pass where the bias exceeds the
    first step's margin of the best token over the confirmation confirms (and ends: an untrained
    model would go on after it); one where it falls short is generated as without the bias."""
    from toolace_r.models.generation import HFGenerator
    from toolace_r.models.prompting import build_messages

    gen = HFGenerator(tiny_model_dir)
    assert gen.confirm_first_id == confirm_token_id(gen.tokenizer) and gen.confirm_bias_ok
    prompts = [refine_messages(s, target_text(s), gen.prompt_config) for s in samples[:4]]
    margins = [_first_step_margin(gen, p) for p in prompts]
    assert min(margins) > 0  # untrained: the confirmation is never its first choice
    plain = gen.generate(prompts, max_new_tokens=12)
    for p, m, (c,) in zip(prompts, margins, plain):
        (below,), (above,) = (gen.generate([p], max_new_tokens=12, confirm_bias=b)[0] for b in (m - 0.01, m + 0.01))
        assert below.token_ids == c.token_ids  # the bias falls short: the same pass
        assert below.token_ids[0] != gen.confirm_first_id
        # the bias wins the first step: a confirmation, and the pass ends there
        assert (above.token_ids, above.text) == ((gen.confirm_first_id,), CONFIRM_TOKEN)
    # the first pass is never biased: refine() passes the bias to the rounds only
    from toolace_r.refine import refine

    first = gen.generate([build_messages(s, gen.prompt_config) for s in samples[:4]], max_new_tokens=12)
    results = refine(gen, samples[:4], "adaptive", max_rounds=3, max_new_tokens=12, confirm="token",
                     confirm_bias=max(margins) + 1)
    for (c,), r in zip(first, results):
        assert (r.trajectory, r.final, r.rounds, r.confirmed) == ([c.text, CONFIRM_TOKEN], c.text, 1, True)

