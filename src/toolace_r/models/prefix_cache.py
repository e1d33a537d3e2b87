"""Prefix KV cache for the hf backend: reuse the prefill of a prompt's already-computed prefix.

A refinement round's prompt continues the previous round's conversation (see
:func:`toolace_r.models.prompting.continue_conversation`): the first pass's prompt and generated
answer are a prefix of the first refinement prompt, round r's prompt and answer a prefix of round
r+1's. :class:`PrefixCache` keeps the key/value states of such token sequences so that
:class:`~toolace_r.models.generation.HFGenerator` prefills only the part of a prompt after the
longest stored prefix::

    cache = PrefixCache(max_bytes=256 * 2**20)
    first = gen.generate(prompts, cache=cache)              # stores prompt + answer KV
    again = gen.generate(refine_prompts, cache=cache)       # prefills only the new user turn
    again[0][0].prefill_tokens < again[0][0].prompt_tokens  # the reused part is not counted

What it stores: after a call, for each returned completion, the KV of its prompt ids followed by
its generated ids, as far as they were fed through the model (the last generated token of a row is
fed only if the batch went on after it). The states are stored per sequence without padding, on the
model's device, in a radix tree over token ids: sequences sharing a prefix (the n samples of one
prompt, successive refinement rounds) share the stored states of that prefix. A lookup finds the
longest common prefix of a prompt with any stored sequence, so a stored sequence also serves
prompts that share only its beginning.

Memory bound: ``max_bytes`` (default 256 MiB, sensible on a CPU; the tiny embedded model takes
6 KiB a token, so that is some 40,000 tokens) bounds the stored key/value tensors; after each
insertion the least recently used leaves of the tree are dropped until the total fits. An evicted
prefix is simply recomputed. During a call, the prefixes its prompts are about to reuse are
reserved (:meth:`PrefixCache.reserve`): what the call stores meanwhile is evicted before them, so a
call larger than the budget still reuses what fits instead of evicting it batch after batch.
:meth:`PrefixCache.clear` drops everything.

Validity: stored states are those of one model. The cache remembers the model that filled it and
empties itself when another model uses it; a caller that changes the weights of the same model
object (training in place) must call :meth:`~PrefixCache.clear`. Reuse needs a model whose
transformers cache is made of plain full-attention ``DynamicLayer`` layers (Llama, Qwen, Mistral
without sliding window, ...); for others :func:`supports_prefix_reuse` is False and the generator
ignores the cache. Not thread-safe: one generator call at a time.

Why reuse is right: the hf loop gives a row's real tokens positions 0, 1, ... whatever its left
padding (positions are counted from the attention mask), so the rotary-embedded keys of a prefix
stored from one call are the keys the same tokens get in any later call; padding columns are
masked out. The stored states equal a fresh prefill's up to float rounding (they were computed in
other batch shapes, answer tokens one step at a time); the tests check that greedy and seeded
sampled answers come out token for token the same with and without the cache.
"""

from __future__ import annotations

import heapq
import weakref
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from torch import Tensor

    # Per layer: (keys, values), each [kv_heads, tokens, head_dim].
    LayerKV = list[tuple[Tensor, Tensor]]

# 256 MiB: some 40,000 tokens (300 refinement prompts) of the tiny embedded model (6 KiB a token),
# half as many of Qwen2.5-0.5B in bf16 (12 KiB a token).
DEFAULT_MAX_BYTES = 256 * 2**20
# Stamps of reserved prefixes (see PrefixCache.reserve): above any use-clock value.
_RESERVED = 1 << 62


class _Node:
    """A segment of token ids and its per-layer KV; children are keyed by their first token."""

    __slots__ = ("tokens", "kv", "children", "_parent", "stamp", "__weakref__")

    def __init__(self, tokens: tuple[int, ...], kv: LayerKV, parent: "_Node | None", stamp: int):
        self.tokens = tokens
        self.kv = kv
        self.children: dict[int, _Node] = {}
        self.parent = parent
        self.stamp = stamp  # last use (or a reservation, see PrefixCache.reserve)

    @property
    def parent(self) -> "_Node | None":
        return self._parent() if self._parent is not None else None

    @parent.setter
    def parent(self, node: "_Node | None") -> None:
        # a weak link up: the tree has no reference cycles, so a dropped cache frees its tensors at
        # once (with cycles they waited for the garbage collector: an evaluation of the test split
        # held some ten dropped per-chunk caches, 80 MB each, at a time)
        self._parent = weakref.ref(node) if node is not None else None


def _nbytes(kv: LayerKV) -> int:
    return sum(k.nbytes + v.nbytes for k, v in kv)


def _slice(kv: LayerKV, start: int, end: int | None = None) -> LayerKV:
    # A copy, so that a stored piece never keeps a larger tensor (a batch's cache) alive.
    return [(k[:, start:end].clone(), v[:, start:end].clone()) for k, v in kv]


def _common(seg: tuple[int, ...], ids: tuple[int, ...], i: int) -> int:
    """How many tokens of ``seg`` match ``ids[i:]`` (the first one is known to match)."""
    m = min(len(seg), len(ids) - i)
    if ids[i:i + m] == seg[:m]:
        return m
    k = 1
    while seg[k] == ids[i + k]:
        k += 1
    return k


class PrefixCache:
    """Key/value states of token sequences, found by longest common prefix; at most ``max_bytes``
    of tensors, least recently used first out. See the module docstring."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.clear()

    def clear(self) -> None:
        """Drop every stored state (and forget which model filled the cache)."""
        self._root = _Node((), [], None, 0)
        self._clock = 0
        self._owner: Any = None
        self.n_bytes = 0  # bytes of stored key/value tensors
        self.n_tokens = 0  # tokens stored (shared prefixes once)

    def bind(self, model: Any) -> None:
        """Declare the model about to read and fill the cache; a different one empties it."""
        owner = self._owner() if self._owner is not None else None
        if owner is not model:
            self.clear()
            self._owner = weakref.ref(model)

    def _walk(self, ids: tuple[int, ...]) -> list[tuple[_Node, int]]:
        """The nodes along ``ids`` with how many tokens of each match (the last may be partial)."""
        path: list[tuple[_Node, int]] = []
        node, i = self._root, 0
        while i < len(ids):
            child = node.children.get(ids[i])
            if child is None:
                break
            k = _common(child.tokens, ids, i)
            path.append((child, k))
            i += k
            if k < len(child.tokens):
                break
            node = child
        return path

    def _touch(self, path: list[tuple[_Node, int]]) -> None:
        self._clock += 1
        for node, _ in path:
            node.stamp = self._clock

    def match(self, ids: Sequence[int]) -> int:
        """The length of the longest prefix of ``ids`` whose states are stored (0 when none);
        counts as a use of that prefix for the eviction order."""
        path = self._walk(tuple(ids))
        self._touch(path)
        return sum(k for _, k in path)

    def reserve(self, prompts: Sequence[Sequence[int]]) -> None:
        """Keep the stored prefixes of ``prompts`` until they are used: eviction takes every other
        leaf first (so what is stored meanwhile goes before them, the budget being kept). Without
        this, the answers a call stores would evict the prefixes its later batches are about to
        reuse, whenever the call's prompts do not all fit in the budget. Using a prefix
        (:meth:`match`, :meth:`put`) ends its reservation; :meth:`release` ends them all."""
        for ids in prompts:
            for node, _ in self._walk(tuple(ids)):
                node.stamp = _RESERVED

    def release(self) -> None:
        """End every reservation: reserved prefixes count as used now."""
        stack = list(self._root.children.values())
        while stack:
            node = stack.pop()
            stack.extend(node.children.values())
            if node.stamp == _RESERVED:
                node.stamp = self._clock

    def parts(self, ids: Sequence[int], length: int) -> list[LayerKV]:
        """The stored states of ``ids[:length]`` (``length`` at most :meth:`match`) as they are
        stored: consecutive pieces (views, no copy), each per layer ``(keys, values)`` of shape
        ``[kv_heads, piece_length, head_dim]``."""
        parts: list[LayerKV] = []
        left = length
        for node, k in self._walk(tuple(ids[:length])):
            take = min(k, left)
            parts.append([(kk[:, :take], vv[:, :take]) for kk, vv in node.kv])
            left -= take
        if left or not parts:
            raise KeyError(f"no stored prefix of length {length} for these ids")
        return parts

    def get(self, ids: Sequence[int], length: int) -> LayerKV:
        """The stored states of ``ids[:length]`` (``length`` at most :meth:`match`), per layer
        ``(keys, values)`` of shape ``[kv_heads, length, head_dim]``."""
        parts = self.parts(ids, length)
        if len(parts) == 1:
            return parts[0]
        from torch import cat

        return [(cat([p[li][0] for p in parts], dim=1), cat([p[li][1] for p in parts], dim=1))
                for li in range(len(parts[0]))]

    def put(self, ids: Sequence[int], kv: LayerKV) -> None:
        """Store the states ``kv`` (per layer ``[kv_heads, len(ids), head_dim]``, views are fine)
        of the sequence ``ids``; only the part beyond what is already stored is copied. Then
        evicts least recently used leaves while over ``max_bytes``."""
        ids = tuple(ids)
        if not ids:
            return
        if any(k.shape[1] != len(ids) or v.shape[1] != len(ids) for k, v in kv):
            raise ValueError(f"kv must cover the {len(ids)} ids")
        self._clock += 1
        node, i = self._root, 0
        while i < len(ids):
            child = node.children.get(ids[i])
            if child is None:
                break
            k = _common(child.tokens, ids, i)
            if k < len(child.tokens):
                if i + k == len(ids):  # ids end inside this segment: nothing new to store
                    child.stamp = self._clock
                    i += k
                    break
                self._split(child, k)
            child.stamp = self._clock
            node, i = child, i + k
        if i < len(ids):
            leaf = _Node(ids[i:], _slice(kv, i), node, self._clock)
            node.children[ids[i]] = leaf
            self.n_bytes += _nbytes(leaf.kv)
            self.n_tokens += len(leaf.tokens)
        self._evict()

    def _split(self, node: _Node, k: int) -> None:
        """Cut ``node`` after its first ``k`` tokens; the rest becomes its only child."""
        tail = _Node(node.tokens[k:], _slice(node.kv, k), node, node.stamp)
        tail.children = node.children
        for c in tail.children.values():
            c.parent = tail
        node.tokens, node.kv = node.tokens[:k], _slice(node.kv, 0, k)
        node.children = {tail.tokens[0]: tail}

    def _evict(self) -> None:
        if self.n_bytes <= self.max_bytes:
            return
        heap: list[tuple[int, int, _Node]] = []
        stack = list(self._root.children.values())
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(node.children.values())
            else:
                heap.append((node.stamp, len(heap), node))
        heapq.heapify(heap)
        tie = len(heap)
        while self.n_bytes > self.max_bytes and heap:
            _, _, leaf = heapq.heappop(heap)
            parent = leaf.parent
            assert parent is not None
            del parent.children[leaf.tokens[0]]
            self.n_bytes -= _nbytes(leaf.kv)
            self.n_tokens -= len(leaf.tokens)
            if parent is not self._root and not parent.children:
                tie += 1
                heapq.heappush(heap, (parent.stamp, tie, parent))

    def __repr__(self) -> str:
        return f"PrefixCache(tokens={self.n_tokens}, bytes={self.n_bytes}, max_bytes={self.max_bytes})"


# --------------------------------------------------------------------------------------------
# What HFGenerator needs to read and build transformers caches.


def supports_prefix_reuse(model: Any) -> bool:
    """Whether ``model``'s transformers cache is plain full-attention ``DynamicLayer`` layers,
    whose states can be cut per row and stitched back (sliding windows, KV sharing and older
    transformers without ``Cache.layers`` are not supported: the cache is then ignored)."""
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        layers = getattr(DynamicCache(config=model.config), "layers", None)
    except (ImportError, TypeError, ValueError, AttributeError):
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def layer_states(cache: Any) -> LayerKV:
    """A transformers cache's states per layer, ``[batch, kv_heads, seq, head_dim]`` each."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def plan_prefill(pcache: PrefixCache, prompt_ids: Sequence[list[int]]) -> tuple[list[int], int]:
    """``(reused, past)`` for a batch of prompts left-padded to a common width: the model computes
    the last ``width - past`` columns, enough for the row with the least cached (each row keeps at
    least its last token, whose logits start the answer); the ``past`` columns before come from
    the cache, row i's first ``reused[i]`` tokens, all within its cached prefix. Rows with more
    cached than that recompute some of it: a batch computes the same columns for every row."""
    todo = max(len(p) - min(pcache.match(p), len(p) - 1) for p in prompt_ids)
    reused = [max(0, len(p) - todo) for p in prompt_ids]
    return reused, (max(len(p) for p in prompt_ids) - todo if any(reused) else 0)


def past_cache(model: Any, pcache: PrefixCache, prompt_ids: Sequence[list[int]], reused: Sequence[int],
               past: int) -> Any:
    """A ``DynamicCache`` of ``past`` columns whose row i holds the stored states of its first
    ``reused[i]`` tokens, right-aligned (left padding: zeros, which the attention mask hides)."""
    from transformers import DynamicCache

    # the stored pieces (views) of each reusing row, copied straight into place: no per-row copy of
    # the whole prefix first, which would hold as much memory again as the cache being built
    rows = [(r, pcache.parts(p, m)) for r, (p, m) in enumerate(zip(prompt_ids, reused)) if m]
    ref = rows[0][1][0]  # the longest row always reuses something
    cache = DynamicCache(config=model.config)
    for li, (k0, v0) in enumerate(ref):
        keys = k0.new_zeros((len(prompt_ids), k0.shape[0], past, k0.shape[2]))
        values = v0.new_zeros((len(prompt_ids), v0.shape[0], past, v0.shape[2]))
        for r, pieces in rows:
            col = past - reused[r]
            for piece in pieces:
                k, v = piece[li]
                keys[r, :, col:col + k.shape[1]] = k
                values[r, :, col:col + v.shape[1]] = v
                col += k.shape[1]
        cache.update(keys, values, li)
    return cache


def store_rows(pcache: PrefixCache, cache: Any, rows: Sequence[tuple[int, list[int], int]]) -> None:
    """Store, for each ``(batch_row, ids, start_column)``, the states of ``ids``: row
    ``batch_row`` of ``cache``, columns ``start_column`` to ``start_column + len(ids)``."""
    states = layer_states(cache)
    for j, ids, start in rows:
        end = start + len(ids)
        pcache.put(ids, [(k[j, :, start:end], v[j, :, start:end]) for k, v in states])
