"""Prefix KV-cache reuse in the hf backend: the radix tree on its own, then refinement rounds
generated with and without a cache by the trained tiny model (exactly the same token ids, less
prefill), under batching, sampling, pruning and eviction."""

from __future__ import annotations

import pytest
import torch

from toolace_r.models import prompting
from toolace_r.models.generation import HFGenerator
from toolace_r.models.prefix_cache import PrefixCache, layer_states

# --------------------------------------------------------------------------------------------
# The tree: real tensors whose values encode (layer, position, token), so a wrong slice shows.


def _kv(ids, layers=2, heads=2, dim=3):
    """Per layer (K, V) [heads, len(ids), dim]; entry [h, t, d] = 1000 * layer + 10 * t + token."""
    out = []
    for li in range(layers):
        base = torch.tensor([1000.0 * li + 10 * t + tok for t, tok in enumerate(ids)])
        k = base[None, :, None].expand(heads, len(ids), dim).clone()
        out.append((k, -k))
    return out


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) and torch.equal(u, w) for (x, u), (y, w) in zip(a, b))


def test_longest_common_prefix_is_found_and_sliced():
    c = PrefixCache()
    c.put([1, 2, 3, 4, 5], _kv([1, 2, 3, 4, 5]))
    assert c.match([1, 2, 3, 4, 5, 6, 7]) == 5
    assert c.match([1, 2, 3, 9]) == 3  # a stored sequence also serves a prompt sharing its start
    assert c.match([7, 1, 2]) == 0 and c.match([]) == 0
    assert _same(c.get([1, 2, 3, 9], 3), _kv([1, 2, 3]))
    with pytest.raises(KeyError):
        c.get([1, 2, 3, 9], 4)


def test_shared_prefixes_are_stored_once_and_splits_keep_the_states():
    c = PrefixCache()
    c.put([1, 2, 3, 4, 5], _kv([1, 2, 3, 4, 5]))
    c.put([1, 2, 3, 7, 8, 9], _kv([1, 2, 3, 7, 8, 9]))  # splits the first segment after 3 tokens
    c.put([1, 2], _kv([1, 2]))  # already stored: nothing new
    assert c.n_tokens == 5 + 3
    assert c.n_bytes == 8 * 2 * 2 * (2 * 3) * 4  # tokens x layers x (K, V) x heads*dim x fp32
    for seq in ([1, 2, 3, 4, 5], [1, 2, 3, 7, 8, 9]):
        assert c.match(seq + [0]) == len(seq)
        assert _same(c.get(seq, len(seq)), _kv(seq))
    with pytest.raises(ValueError, match="cover"):
        c.put([1, 2, 3], _kv([1, 2]))


def test_eviction_drops_least_recently_used_leaves_within_the_budget():
    per_token = 2 * 2 * (2 * 3) * 4
    c = PrefixCache(max_bytes=10 * per_token)
    c.put([1, 2, 3, 4], _kv([1, 2, 3, 4]))
    c.put([5, 6, 7, 8], _kv([5, 6, 7, 8]))
    c.match([1, 2, 3, 4])  # [1..4] is now more recent than [5..8]
    c.put([9, 10, 11, 12], _kv([9, 10, 11, 12]))
    assert c.n_bytes <= c.max_bytes and c.n_tokens == 8
    assert c.match([5, 6, 7, 8]) == 0 and c.match([1, 2, 3, 4]) == 4 and c.match([9, 10, 11, 12]) == 4
    # A parent left without children becomes a leaf and can go too.
    c.put([1, 2, 20, 21], _kv([1, 2, 20, 21]))  # split: [1, 2] -> {[3, 4], [20, 21]}
    c.put([30, 31, 32, 33, 34, 35, 36, 37], _kv([30, 31, 32, 33, 34, 35, 36, 37]))
    assert c.n_tokens == 10  # [3, 4], [9..12] and [20, 21] went; [1, 2] is now a leaf
    c.put([40, 41], _kv([40, 41]))
    assert c.n_tokens == 10 and c.match([1, 2]) == 0 and c.match([40, 41]) == 2
    assert c.match([30, 31, 32, 33, 34, 35, 36, 37]) == 8 and c.match([9, 10]) == 0
    assert _same(c.get([30, 31, 32], 3), _kv([30, 31, 32]))
    c.clear()
    assert c.n_tokens == 0 and c.n_bytes == 0 and c.match([30]) == 0


def test_reserved_prefixes_outlast_what_is_stored_meanwhile():
    per_token = 2 * 2 * (2 * 3) * 4
    c = PrefixCache(max_bytes=8 * per_token)
    for seq in ([1, 2], [3, 4], [5, 6], [7, 8]):
        c.put(seq, _kv(seq))
    # A call about to reuse [5, 6] and [1, 2] (the oldest): what it stores meanwhile goes first.
    c.reserve([[5, 6, 9], [1, 2, 9]])
    c.put([10, 11], _kv([10, 11]))  # evicts [3, 4], the least recently used unreserved leaf
    c.put([12, 13, 14, 15], _kv([12, 13, 14, 15]))  # then [7, 8] and [10, 11]
    assert c.n_tokens == 8 and [c.match(s) for s in ([3, 4], [7, 8], [10, 11])] == [0, 0, 0]
    c.match([5, 6])  # used: no longer reserved, and more recent than [12..15]
    c.put([16, 17, 18, 19], _kv([16, 17, 18, 19]))  # evicts [12..15]
    assert c.n_tokens == 8 and c.match([12]) == 0
    c.reserve([[16, 17, 18, 19]])  # [1, 2] and [16..19] reserved, [5, 6] not
    c.put([20, 21, 22, 23, 24, 25, 26], _kv([20, 21, 22, 23, 24, 25, 26]))  # evicts [5, 6], then itself
    assert c.match([20]) == 0 and c.match([5, 6]) == 0 and c.n_bytes <= c.max_bytes
    c.release()  # ends every reservation
    c.match([16, 17, 18, 19])  # so [1, 2] is the oldest
    c.put([30, 31, 32], _kv([30, 31, 32]))
    assert c.match([1, 2]) == 0 and c.match([16, 17, 18, 19]) == 4 and c.match([30, 31, 32]) == 3


def test_a_cache_filled_by_another_model_is_emptied():
    a, b = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    c = PrefixCache()
    c.bind(a)
    c.put([1, 2], _kv([1, 2]))
    c.bind(a)
    assert c.match([1, 2]) == 2
    c.bind(b)
    assert c.match([1, 2]) == 0


# --------------------------------------------------------------------------------------------
# The generator with a real model


@pytest.fixture(scope="module")
def gen(trained_model_dir):
    # fp32 wherever it runs: the token-for-token comparisons are about the cache, not bf16 rounding.
    g = HFGenerator(trained_model_dir, dtype=torch.float32)
    assert g.prefix_reuse  # a Llama: plain DynamicLayer caches
    return g


@pytest.fixture(scope="module")
def cfg(trained_model_dir):
    return prompting.load_prompt_config(trained_model_dir)


def _ids(outs):
    return [[c.token_ids for c in row] for row in outs]


def _prefill(outs):
    return sum(c.prefill_tokens for row in outs for c in row)


def _previous_answers(samples):
    # Wrong previous answers for half the samples: continuations the model did not memorise.
    return ["[wrong(x=1)]" if i % 2 else prompting.target_text(s) for i, s in enumerate(samples)]


def test_stored_states_are_those_of_a_fresh_forward(gen, samples, cfg):
    """What the cache holds for prompt + answer is what one forward over those ids computes
    (positions from 0 whatever the row's padding in the batch it came from)."""
    cache = PrefixCache()
    prompts = [prompting.build_messages(s, cfg) for s in samples[:4]]
    outs = gen.generate(prompts, n=1, max_new_tokens=24, cache=cache)
    for p, (c,) in zip(prompts, outs):
        seq = gen.encode(p) + list(c.token_ids)
        stored = cache.match(seq)
        assert len(seq) - 1 <= stored <= len(seq)  # the last token is stored only if it was fed
        with torch.inference_mode():
            out = gen.model(torch.tensor([seq[:stored]], device=gen.device), use_cache=True)
            fresh = layer_states(getattr(out, "cache", None) or out.past_key_values)
            got = cache.get(seq, stored)
        for (k, v), (fk, fv) in zip(got, fresh):
            torch.testing.assert_close(k, fk[0], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(v, fv[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rows", [64, 3], ids=["one-batch", "batches-of-3"])
def test_greedy_refinement_rounds_are_the_same_with_the_cache(gen, samples, cfg, rows):
    g = HFGenerator(model=gen.model, tokenizer=gen.tokenizer, max_batch_rows=rows, prune_every=1)
    kw = dict(n=1, temperature=0.0, max_new_tokens=32)
    cache = PrefixCache()
    first = [prompting.build_messages(s, cfg) for s in samples]  # prompts of different lengths
    y0 = g.generate(first, cache=cache, **kw)
    assert _ids(y0) == _ids(g.generate(first, **kw))
    if rows >= len(first):  # one batch: nothing was cached before it
        assert all(r[0].prefill_tokens == r[0].prompt_tokens for r in y0)
    else:  # later batches reuse the start the prompts share (the tool line) from earlier ones
        assert _prefill(y0) < sum(r[0].prompt_tokens for r in y0)
    # Round 1 continues the first pass's conversation; round 2 continues round 1's.
    texts0 = [r[0].text for r in y0]
    r1 = [prompting.refine_messages(s, t, cfg) for s, t in zip(samples, texts0)]
    with_cache, without = g.generate(r1, cache=cache, **kw), g.generate(r1, **kw)
    assert _ids(with_cache) == _ids(without)
    assert [c.prompt_tokens for (c,) in with_cache] == [len(g.encode(p)) for p in r1]
    assert _prefill(without) == sum(len(g.encode(p)) for p in r1)
    assert _prefill(with_cache) < _prefill(without) / 2
    texts1 = [r[0].text for r in with_cache]
    r2 = [prompting.refine_messages(s, [a, b], cfg) for s, a, b in zip(samples, texts0, texts1)]
    with_cache, without = g.generate(r2, cache=cache, **kw), g.generate(r2, **kw)
    assert _ids(with_cache) == _ids(without)
    assert _prefill(with_cache) < _prefill(without) / 2


def test_cached_and_uncached_prompts_mix_in_one_batch(gen, samples, cfg):
    """Only some prompts continue something cached; rows of one batch have cached prefixes of
    any length, or none, and answers still do not change."""
    kw = dict(n=1, temperature=0.0, max_new_tokens=32)
    cache = PrefixCache()
    prev = _previous_answers(samples)
    gen.generate([prompting.build_messages(s, cfg) for s in samples[::3]], cache=cache, **kw)
    mixed = [prompting.refine_messages(s, a, cfg) if i % 2 else prompting.build_messages(s, cfg)
             for i, (s, a) in enumerate(zip(samples, prev))]
    with_cache, without = gen.generate(mixed, cache=cache, **kw), gen.generate(mixed, **kw)
    assert _ids(with_cache) == _ids(without)
    assert _prefill(with_cache) < _prefill(without)
    # The same prompts again: everything but the last token of each comes from the cache.
    again = gen.generate(mixed, cache=cache, **kw)
    assert _ids(again) == _ids(without) and all(c.prefill_tokens == 1 for (c,) in again)


def test_sampled_refinement_with_n_2_is_the_same_with_the_cache(gen, samples, cfg):
    kw = dict(n=2, temperature=1.0, top_p=0.95, max_new_tokens=24, seed=5)
    cache = PrefixCache()
    first = [prompting.build_messages(s, cfg) for s in samples]
    y0 = gen.generate(first, cache=cache, **kw)
    assert _ids(y0) == _ids(gen.generate(first, **kw))
    # The n answers share one prefill: counted on the first choice only.
    assert all(r[0].prefill_tokens == r[0].prompt_tokens and r[1].prefill_tokens == 0 for r in y0)
    # Both samples of a prompt were stored (sharing the prompt's states): refine each of them.
    r1 = [prompting.refine_messages(s, c.text, cfg) for s, row in zip(samples, y0) for c in row]
    with_cache, without = gen.generate(r1, cache=cache, **kw), gen.generate(r1, **kw)
    assert _ids(with_cache) == _ids(without)
    assert len({c.token_ids for row in without for c in row}) > len(without)  # really sampled
    assert _prefill(with_cache) < _prefill(without) / 2


def test_eviction_under_a_tiny_budget_changes_nothing_but_the_cost(gen, samples, cfg):
    kw = dict(n=1, temperature=0.0, max_new_tokens=32)
    first = [prompting.build_messages(s, cfg) for s in samples]
    big = PrefixCache()
    y0 = gen.generate(first, cache=big, **kw)
    tiny = PrefixCache(max_bytes=big.n_bytes // 3)  # room for about a third of the first pass
    assert _ids(gen.generate(first, cache=tiny, **kw)) == _ids(y0)
    assert 0 < tiny.n_bytes <= tiny.max_bytes < big.n_bytes
    r1 = [prompting.refine_messages(s, r[0].text, cfg) for s, r in zip(samples, y0)]
    full, evicted, none = (gen.generate(r1, cache=c, **kw) for c in (big, tiny, None))
    assert _ids(full) == _ids(evicted) == _ids(none)
    assert _prefill(full) < _prefill(evicted) < _prefill(none)  # what fits is still reused
    assert tiny.n_bytes <= tiny.max_bytes
    zero = PrefixCache(max_bytes=0)  # stores nothing at all
    assert _ids(gen.generate(r1, cache=zero, **kw)) == _ids(none) and zero.n_tokens == 0


def test_cache_argument_is_checked_and_ignored_where_unsupported(gen, samples, cfg):
    p = [prompting.build_messages(samples[0], cfg)]
    with pytest.raises(TypeError, match="PrefixCache"):
        gen.generate(p, cache={})
    g = HFGenerator(model=gen.model, tokenizer=gen.tokenizer)
    g.prefix_reuse = False  # as for a model with sliding-window layers
    cache = PrefixCache()
    assert _ids(g.generate(p, cache=cache, max_new_tokens=8)) == _ids(gen.generate(p, max_new_tokens=8))
    assert cache.n_tokens == 0


def test_a_dropped_cache_is_freed_without_the_garbage_collector():
    # the tree links children to parents weakly: no reference cycles, so dropping the cache (a
    # refinement chunk ends) frees its tensors at once, not at the next full collection
    import gc
    import weakref

    gc.disable()
    try:
        c = PrefixCache()
        c.put([1, 2, 3, 4], _kv([1, 2, 3, 4]))
        c.put([1, 2, 5], _kv([1, 2, 5]))  # splits [1, 2, 3, 4]: a parent with two children
        leaf = c._walk((1, 2, 5))[-1][0]
        assert leaf.parent is c._walk((1, 2))[-1][0]
        tensor = weakref.ref(leaf.kv[0][0])
        del c, leaf
        assert tensor() is None
    finally:
        gc.enable()
