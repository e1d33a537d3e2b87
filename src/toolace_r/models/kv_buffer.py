"""Decoding without copying the whole KV cache at every step.

transformers' ``DynamicLayer`` appends each decoding step's key and value states with
``torch.cat``, which copies the layer's whole cache every step: for the embedded model some 13%
of a probe's time on the CPU (profiled). :func:`buffered` swaps such layers for :class:`BufferedLayer`,
which keeps its states in a buffer with room for the answer and hands the model a view of the
filled columns. The view holds the same numbers in the same shape, so the attention computes the
same values; the tests check that answers come out token for token equal.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicLayer


class BufferedLayer(DynamicLayer):
    """A full-attention cache layer whose states live in ``[batch, heads, capacity, head_dim]``
    buffers; ``keys`` / ``values`` are views of the first ``get_seq_length()`` columns."""

    def __init__(self, keys: Any, values: Any, room: int) -> None:
        super().__init__()
        self.device, self.is_initialized = keys.device, True
        b, h, t, d = keys.shape
        self._k = keys.new_empty((b, h, t + room, d))
        self._v = values.new_empty((b, values.shape[1], t + room, values.shape[3]))
        self._k[:, :, :t], self._v[:, :, :t] = keys, values
        self._set_len(t)

    def _set_len(self, n: int) -> None:
        self._len = n
        self.keys, self.values = self._k[:, :, :n], self._v[:, :, :n]

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        end = self._len + key_states.shape[-2]
        if end > self._k.shape[-2]:  # out of room: double it (a longer answer than planned)
            grow = max(end, 2 * self._k.shape[-2]) - self._k.shape[-2]
            self._k = torch.cat([self._k, self._k.new_empty(self._k.shape[:2] + (grow, self._k.shape[3]))], dim=-2)
            self._v = torch.cat([self._v, self._v.new_empty(self._v.shape[:2] + (grow, self._v.shape[3]))], dim=-2)
        self._k[:, :, self._len:end] = key_states
        self._v[:, :, self._len:end] = value_states
        self._set_len(end)
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self._len

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("crop takes the (negative) number of tokens to remove")
        self._set_len(max(0, self._len + tokens_to_remove))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._k = self._k.repeat_interleave(repeats, dim=0)
        self._v = self._v.repeat_interleave(repeats, dim=0)
        self._set_len(self._len)

    def batch_select_indices(self, indices: Any) -> None:
        self._k, self._v = self._k[indices], self._v[indices]
        self._set_len(self._len)

    def reorder_cache(self, beam_idx: Any) -> None:
        self.batch_select_indices(beam_idx.to(self._k.device))

    def reset(self) -> None:
        self._set_len(0)


def buffered(cache: Any, room: int) -> Any:
    """``cache`` with each plain ``DynamicLayer`` that holds states replaced by a
    :class:`BufferedLayer` with ``room`` free columns; any other cache is returned as it is."""
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer or not layer.is_initialized for layer in layers):
        return cache
    cache.layers = [BufferedLayer(layer.keys, layer.values, room) for layer in layers]
    return cache
