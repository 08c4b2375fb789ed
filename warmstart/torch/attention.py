"""Attention every architecture shares: heads, SDPA with masks, the decoder cache (self-attention
keys/values written in place, cross-attention keys/values projected once), and the decoder pass
around a layer stack.

Head size and scale are parameters (:class:`Heads`, by default width / heads and 1/sqrt(D)), so a
family with its own key/value width or unscaled attention changes one argument. The product
choice, custom kernels, recording of attention weights and fused decode weights live in
:mod:`.speed`.

Shape legend: B batch, T query length, S key length, H heads, D head size, C = H * D channels,
L layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .speed import recording
from .speed.recording import run_layers as run_layers  # the layer stack (models import it here)


@dataclass(frozen=True)
class Heads:
    """How attention splits its projections: ``num`` heads of ``size`` channels (queries, keys
    and values), scores multiplied by ``scale``."""

    num: int
    size: int
    scale: float

    @classmethod
    def of(cls, width: int, num: int, size: int | None = None, scale: float | None = None) -> Heads:
        """``num`` heads over ``width`` channels: by default ``size = width // num`` and
        ``scale = size ** -0.5``; a family with its own key/value width or scaling passes them."""
        size = width // num if size is None else size
        return cls(num, size, size**-0.5 if scale is None else scale)


def split_heads(x: Tensor, num_heads: int, head_size: int | None = None) -> Tensor:
    """(B, T, H * D) -> (B, H, T, D); D is ``head_size``, by default the width / H."""
    B, T, C = x.shape
    D = C // num_heads if head_size is None else head_size
    return x.view(B, T, num_heads, D).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, D) -> (B, T, C)."""
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    dropout: float,
    is_causal: bool = False,
    cross: bool = False,
    scale: float | None = None,
) -> Tensor:
    """Scaled dot-product attention. q (B, H, T, D), k/v (B, H, S, D), additive mask -> (B, T, C).

    Scores are multiplied by ``scale`` (default 1/sqrt(D)). ``cross`` names the attention for
    :mod:`.speed.recording` (attention weights kept when asked)."""
    causal = is_causal and mask is None
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    return merge_heads(recording.attention(q, k, v, mask, dropout, causal, scale, cross))


def padding_mask(attention_mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """(B, S) of 1 (keep) / 0 (pad) -> additive (B, 1, 1, S), or None when nothing is padded."""
    if attention_mask is None or _all_kept(attention_mask):
        return None
    keep = attention_mask[:, None, None, :].bool()
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(
        ~keep, torch.finfo(dtype).min
    )


def _all_kept(attention_mask: Tensor) -> bool:
    """Whether a 0/1 mask keeps every position. Inside ``torch.compile`` the answer is "no", so that
    the graph builds the mask instead of breaking on a data-dependent branch."""
    return not torch.compiler.is_compiling() and bool(attention_mask.all())


def causal_mask(
    T: int, past: int, attention_mask: Tensor | None, dtype: torch.dtype, device: torch.device
) -> Tensor | None:
    """Additive (B or 1, 1, T, past + T) mask for decoder self-attention, or None when plain causal
    attention (SDPA's ``is_causal``) or no mask at all will do."""
    padded = attention_mask is not None and not _all_kept(attention_mask)
    if not padded and (T == 1 or past == 0):
        return None
    return full_causal_mask(T, past, attention_mask if padded else None, dtype, device)


def full_causal_mask(
    T: int, past: int, attention_mask: Tensor | None, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Additive (B or 1, 1, T, past + T) mask: query ``past + i`` sees keys up to itself that
    ``attention_mask`` (B, S) keeps."""
    q_pos = torch.arange(past, past + T, device=device)[:, None]
    keep = torch.arange(past + T, device=device)[None, :] <= q_pos  # (T, S)
    keep = keep[None, None]
    if attention_mask is not None:
        keep = keep & attention_mask[:, None, None, : past + T].bool()
    return torch.zeros(keep.shape, dtype=dtype, device=device).masked_fill(
        ~keep, torch.finfo(dtype).min
    )


class DecoderCache:
    """Static key/value cache for a decoder with cross-attention.

    Self-attention keys and values of every layer live in one preallocated buffer of shape
    (L, 2, B, H, max_length, D), written in place; cross-attention keys and values are projected once
    from the encoder output and reused. ``reorder`` gathers rows (beam search, batch expansion).
    """

    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_heads: int,
        head_dim: int,
        max_length: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = (num_layers, 2, batch_size, num_heads, max_length, head_dim)
        self.kv = torch.zeros(shape, dtype=dtype, device=device)
        self.cross: list[tuple[Tensor, Tensor] | None] = [None] * num_layers
        self.length = 0

    @property
    def max_length(self) -> int:
        return self.kv.shape[4]

    def attend(
        self,
        layer: int,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None,
        dropout: float,
        is_causal: bool,
        scale: float | None = None,
    ) -> Tensor:
        """Write k/v (B, H, T, D) after the cached ones, attend q over all of them: (B, T, C)."""
        keys, values = self.append(layer, k, v)
        return attend(q, keys, values, mask, dropout, is_causal, scale=scale)

    def project(
        self, layer: int, proj: tuple[nn.Module, nn.Module, nn.Module], x: Tensor, heads: Heads
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention q, k, v (B, H, T, D) of x (B, T, C) by the projections ``proj``
        (:class:`.speed.fused.FusedDecoderCache` runs them as one product)."""
        return tuple(split_heads(m(x), heads.num, heads.size) for m in proj)

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write k/v (B, H, T, D) after the cached ones; return all keys and values (B, H, S, D)."""
        end = self._reserve(k.shape[2])
        self.kv[layer, 0, :, :, self.length : end] = k
        self.kv[layer, 1, :, :, self.length : end] = v
        cached = self.kv[layer, :, :, :, :end]
        return cached[0], cached[1]

    def _reserve(self, T: int) -> int:
        """Make room for T more positions (grows only when a caller sized the cache too small)."""
        start, end = self.length, self.length + T
        if end > self.max_length:
            grown = self.kv.new_zeros(
                (*self.kv.shape[:4], max(end, 2 * self.max_length), self.kv.shape[5])
            )
            grown[..., :start, :] = self.kv[..., :start, :]
            self.kv = grown
        return end

    def reorder(self, index: Tensor, cross: bool = True) -> DecoderCache:
        """Keep rows ``index`` (N',) of the batch, in that order; ``cross=False`` leaves the
        cross-attention keys/values alone (beam search: they are equal within an input's beams)."""
        used = self.kv[:, :, :, :, : self.length]
        picked = used.index_select(2, index)  # 5-8x faster than used[:, :, index] on a CPU
        if index.shape[0] == self.kv.shape[2]:
            used.copy_(picked)
        else:  # a new buffer; only the positions written so far are copied
            kv = self.kv.new_empty((*self.kv.shape[:2], index.shape[0], *self.kv.shape[3:]))
            kv[:, :, :, :, : self.length] = picked
            self.kv = kv
        if cross:
            self.cross = [None if c is None else (c[0][index], c[1][index]) for c in self.cross]
        return self


def check_length(n_tokens: int, allowed: int, model: str) -> None:
    """Refuse an input longer than the learned positions cover, saying how to fix it."""
    if n_tokens > allowed:
        raise ValueError(
            f"The input has {n_tokens} tokens but this {model} allows at most {allowed} "
            "(max_position_embeddings). Truncate it, e.g. tokenizer(..., truncation=True, "
            f"max_length={allowed})."
        )


def decode_stack(
    run: Callable[..., Tensor],
    x: Tensor,
    past: int,
    attention_mask: Tensor | None,
    encoder_hidden_states: Tensor | None,
    encoder_attention_mask: Tensor | None,
    cache: DecoderCache | None,
) -> Tensor:
    """One decoder pass over embeddings x (B, T, C) that follow ``past`` cached positions: build the
    masks, run the layer stack ``run(x, mask, enc, enc_mask, cache, is_causal)`` and advance the
    cache by T."""
    T = x.shape[1]
    mask = causal_mask(T, past, attention_mask, x.dtype, x.device)
    is_causal = T > 1 and past == 0  # several tokens from the start: SDPA's is_causal if no mask
    enc_mask = padding_mask(encoder_attention_mask, x.dtype)
    x = run(x, mask, encoder_hidden_states, enc_mask, cache, is_causal)
    if cache is not None:
        cache.length += T
    return x


def cross_kv(
    cache: DecoderCache | None, layer: int, project: Callable[[], tuple[Tensor, Tensor]]
) -> tuple[Tensor, Tensor]:
    """Cross-attention keys/values (B, H, S, D) of ``layer``: projected by ``project()`` once per
    decode and kept in ``cache.cross``, laid out head by head (attention over the projection's
    (B, S, H, D) layout takes about twice as long at every step)."""
    if cache is None:
        return project()
    kv = cache.cross[layer]
    if kv is None:
        kv = cache.cross[layer] = tuple(t.contiguous() for t in project())
    return kv


def qkv_attention(
    x: Tensor,
    proj: tuple[nn.Module, nn.Module, nn.Module],
    heads: Heads,
    layer: int,
    mask: Tensor | None,
    dropout: float,
    cross: Tensor | None = None,
    cache: DecoderCache | None = None,
    is_causal: bool = False,
) -> Tensor:
    """Multi-head attention with separate query/key/value projections ``proj``.

    Self-attention over x (B, T, C), keys/values appended to ``cache``; or cross-attention over the
    encoder states ``cross`` (B, S, C), projected once per decode. Returns (B, T, H * D) before
    the output projection.
    """
    H, D = heads.num, heads.size
    if cross is None and cache is not None:
        q, k, v = cache.project(layer, proj, x, heads)
        return cache.attend(layer, q, k, v, mask, dropout, is_causal, heads.scale)
    query, key, value = proj
    q = split_heads(query(x), H, D)  # (B, H, T, D)
    if cross is not None:
        k, v = cross_kv(
            cache, layer, lambda: (split_heads(key(cross), H, D), split_heads(value(cross), H, D))
        )
    else:
        k, v = split_heads(key(x), H, D), split_heads(value(x), H, D)
    return attend(q, k, v, mask, dropout, is_causal, cross is not None, heads.scale)


def relative_scores(q: Tensor, k: Tensor, table: Tensor, past: int, with_keys: bool) -> Tensor:
    """Shaw et al. (2018) / Huang et al. (2020) relative position scores, as transformers 4.x's
    BERT adds them (``relative_key``; with ``with_keys``, ``relative_key_query``), already divided
    by sqrt(D): an additive bias (B, H, T, S).

    Query i (at position ``past + i``) and key j meet at distance ``past + i - j``; ``table``
    ((2 * P - 1, D), ``distance_embedding``) holds distances -(P - 1) .. P - 1 in order.
    """
    T, S, D = q.shape[2], k.shape[2], q.shape[3]
    q_pos = torch.arange(past, past + T, device=q.device)[:, None]
    distance = q_pos - torch.arange(S, device=q.device)[None, :]  # (T, S)
    r = table[distance + (table.shape[0] - 1) // 2].to(q.dtype)  # (T, S, D)
    scores = torch.einsum("bhtd,tsd->bhts", q, r)
    if with_keys:
        scores = scores + torch.einsum("bhsd,tsd->bhts", k, r)
    return scores / math.sqrt(D)


def new_cache(
    like: Tensor, num_layers: int, batch_size: int, heads: Heads, max_length: int
) -> DecoderCache:
    """An empty ``DecoderCache`` on the device and in the dtype of parameter ``like``."""
    return DecoderCache(
        num_layers, batch_size, heads.num, heads.size, max_length, like.dtype, like.device
    )
