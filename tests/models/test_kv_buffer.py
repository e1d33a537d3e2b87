"""The decoding cache that writes into place, and the nucleus sorted from the head of the
distribution: both must give exactly the numbers of the plain way."""

from __future__ import annotations

import pytest
import torch

from toolace_r.models.generation import HFGenerator, _cache_of
from toolace_r.models.kv_buffer import BufferedLayer, buffered


@pytest.fixture(scope="module")
def model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(cfg).eval()


def _decode(model, use_buffer: bool, room: int):
    """Prefill 3 left-padded prompts, share them 2 ways, decode 9 steps dropping rows on the way:
    the logits of every step."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 97, (3, 7), generator=g)
    attn = torch.ones_like(ids)
    attn[0, :3] = 0  # left padding
    attn[2, :1] = 0
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    seen = []
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True)
        cache = buffered(_cache_of(out), room) if use_buffer else _cache_of(out)
        assert all(isinstance(layer, BufferedLayer) for layer in cache.layers) == use_buffer
        cache.batch_repeat_interleave(2)
        attn, nxt = attn.repeat_interleave(2, dim=0), pos[:, -1].repeat_interleave(2) + 1
        logits = out.logits[:, -1].repeat_interleave(2, dim=0)
        for step in range(9):
            seen.append(logits)
            tok = logits.argmax(-1)
            if step in (2, 5):  # rows leave the batch
                keep = torch.arange(1, len(tok))
                cache.batch_select_indices(keep)
                attn, tok, nxt = attn[keep], tok[keep], nxt[keep]
            attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=1)
            out = model(input_ids=tok[:, None], attention_mask=attn, position_ids=nxt[:, None], use_cache=True,
                        cache=cache)
            cache, logits, nxt = _cache_of(out), out.logits[:, -1], nxt + 1
        seen.append(logits)
    return seen, cache


@pytest.mark.parametrize("room", [9, 4], ids=["room-for-the-answer", "grows-past-its-room"])
def test_buffered_decoding_gives_the_same_logits(model, room):
    plain, plain_cache = _decode(model, False, room)
    buf, buf_cache = _decode(model, True, room)
    assert len(plain) == len(buf) == 10
    for a, b in zip(plain, buf):
        assert torch.equal(a, b)
    assert buf_cache.get_seq_length() == plain_cache.get_seq_length() == 7 + 9
    for pl, bl in zip(plain_cache.layers, buf_cache.layers):
        assert torch.equal(pl.keys, bl.keys) and torch.equal(pl.values, bl.values)


def test_other_caches_are_left_alone(model):
    from transformers import DynamicCache

    empty = DynamicCache(config=model.config)
    assert buffered(empty, 4) is empty and not any(isinstance(layer, BufferedLayer) for layer in empty.layers)


def _full_sort(probs, top_p):
    vals, ids = probs.sort(dim=-1, descending=True, stable=True)
    return vals.masked_fill(vals.cumsum(dim=-1) - vals > top_p, 0.0), ids


@pytest.mark.parametrize("temperature", [0.3, 0.8, 3.0, 50.0], ids=["peaked", "default", "flat", "uniform"])
@pytest.mark.parametrize("top_p", [0.5, 0.95])
def test_nucleus_from_the_head_equals_the_full_sort(temperature, top_p):
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(32, 500, generator=g, dtype=torch.float64) * 4
    logits[:4, :10] = 9.0  # exact ties among the top tokens
    logits[4:8, 60:70] = 9.0  # ties across the head's edge
    probs = torch.softmax(logits / temperature, dim=-1)
    want_vals, want_ids = _full_sort(probs, top_p)
    vals, ids = HFGenerator._nucleus(probs, top_p, head=16)
    kept = want_vals > 0
    n = vals.shape[-1]
    assert torch.equal(vals, want_vals[:, :n]) and not kept[:, n:].any()
    assert torch.equal(ids[kept[:, :n]], want_ids[:, :n][kept[:, :n]])
    # what _pick samples from them: the same token for every uniform draw
    u = torch.rand(32, generator=g, dtype=torch.float64).unsqueeze(-1)
    cdf, want_cdf = vals.cumsum(-1), want_vals.cumsum(-1)
    got = ids.gather(-1, torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp(max=n - 1))
    assert torch.equal(got, want_ids.gather(-1, torch.searchsorted(want_cdf, u * want_cdf[:, -1:], right=True)))
    # a peaked distribution takes the short way, a flat one the full sort
    if temperature != 0.8:
        assert n == (16 if temperature < 1 else 500)
