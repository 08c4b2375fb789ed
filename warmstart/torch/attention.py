"""Attention every architecture shares: heads, SDPA with masks, the decoder cache (self-attention
keys/values written in place, cross-attention keys/values projected once), and the decoder pass
around a layer stack.

Under :func:`.recording.observe` (attention weights or hidden states asked, or eager attention)
:func:`attend` takes an eager path that keeps the softmax weights and :func:`run_layers` keeps
every layer's input and the last output; otherwise each pays one check of a module global.

Shape legend: B batch, T query length, S key length, H heads, D head size, C = H * D channels,
L layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from . import recording
from .kernels import dropout
from .linear import fuse_linears


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, T, C) -> (B, H, T, D)."""
    B, T, C = x.shape
    return x.view(B, T, num_heads, C // num_heads).transpose(1, 2)


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
) -> Tensor:
    """Scaled dot-product attention. q (B, H, T, D), k/v (B, H, S, D), additive mask -> (B, T, C).

    Under :func:`.recording.observe`, eager attention that records its weights (as
    cross-attention when ``cross``)."""
    causal = is_causal and mask is None
    if recording.current is not None and (rec := recording.active()) is not None:
        weights = _attention_weights(q, k, mask, dropout, causal)  # (B, H, T, S)
        if rec.keep_attentions:
            (rec.cross_attentions if cross else rec.attentions).append(weights)
        return merge_heads(weights @ v)
    if dropout > 0.0 and q.device.type == "cpu" and not torch.compiler.is_compiling():
        return merge_heads(_attention_with_dropout(q, k, v, mask, dropout, causal))
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal
    )
    return merge_heads(out)


def _attention_with_dropout(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, p: float, causal: bool
) -> Tensor:
    """SDPA's arithmetic with :func:`dropout` on the probabilities (on CPU, SDPA with dropout
    takes its unfused path anyway, with a mask that costs several times more to draw)."""
    return _attention_weights(q, k, mask, p, causal) @ v


def _attention_weights(q: Tensor, k: Tensor, mask: Tensor | None, p: float, causal: bool) -> Tensor:
    """Eager attention probabilities (B, H, T, S), after dropout ``p``, as SDPA computes them."""
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # (B, H, T, S)
    if causal:
        T, S = scores.shape[-2:]
        keep = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()  # as SDPA: top-left
        scores = scores.masked_fill(~keep, float("-inf"))
    elif mask is not None:
        scores = scores + mask
    return dropout(torch.softmax(scores, dim=-1), p, True)


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
        # per layer: self-attention (weight (3C, C), bias (3C,)) concatenated for this decode only
        self.fused: list[tuple[Tensor, Tensor] | None] = [None] * num_layers
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
    ) -> Tensor:
        """Write k/v (B, H, T, D) after the cached ones, attend q over all of them: (B, T, C)."""
        keys, values = self.append(layer, k, v)
        return attend(q, keys, values, mask, dropout, is_causal)

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


def decoder_masks(
    T: int,
    past: int,
    attention_mask: Tensor | None,
    encoder_attention_mask: Tensor | None,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Tensor | None, bool, Tensor | None]:
    """Masks of a decoder step: (self-attention mask, whether SDPA's ``is_causal`` applies,
    cross-attention mask)."""
    mask = causal_mask(T, past, attention_mask, dtype, device)
    return mask, T > 1 and past == 0, padding_mask(encoder_attention_mask, dtype)


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
    mask, is_causal, enc_mask = decoder_masks(
        T, past, attention_mask, encoder_attention_mask, x.dtype, x.device
    )
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
    num_heads: int,
    layer: int,
    mask: Tensor | None,
    dropout: float,
    cross: Tensor | None = None,
    cache: DecoderCache | None = None,
    is_causal: bool = False,
) -> Tensor:
    """Multi-head attention with separate query/key/value projections ``proj``.

    Self-attention over x (B, T, C), keys/values appended to ``cache``; or cross-attention over the
    encoder states ``cross`` (B, S, C), projected once per decode. Returns (B, T, C) before the
    output projection.
    """
    if cross is None and cache is not None and not torch.is_grad_enabled():
        return _fused_self_attention(x, proj, num_heads, layer, mask, dropout, cache, is_causal)
    query, key, value = proj
    q = split_heads(query(x), num_heads)  # (B, H, T, D)
    if cross is not None:
        k, v = cross_kv(
            cache,
            layer,
            lambda: (split_heads(key(cross), num_heads), split_heads(value(cross), num_heads)),
        )
    else:
        k, v = split_heads(key(x), num_heads), split_heads(value(x), num_heads)
        if cache is not None:
            return cache.attend(layer, q, k, v, mask, dropout, is_causal)
    return attend(q, k, v, mask, dropout, is_causal, cross is not None)


def _fused_self_attention(
    x: Tensor,
    proj: tuple[nn.Module, nn.Module, nn.Module],
    num_heads: int,
    layer: int,
    mask: Tensor | None,
    dropout: float,
    cache: DecoderCache,
    is_causal: bool,
) -> Tensor:
    """Cached self-attention at inference with one matmul for Q, K and V and one cache write."""
    project = cache.fused[layer]
    if project is None:  # built once per decode from the parameters as they are now
        project = cache.fused[layer] = fuse_linears(proj)
    B, T, C = x.shape
    q, k, v = project(x).view(B, T, 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
    return cache.attend(layer, q, k, v, mask, dropout, is_causal)


def run_layers(layers: Iterable[nn.Module], x: Tensor, *args, checkpointing: bool) -> Tensor:
    """Apply ``layers`` in turn; with ``checkpointing``, recompute activations in the backward."""
    if recording.current is not None and (rec := recording.active()) is not None:
        return recording.run_layers(rec, layers, x, *args, checkpointing=checkpointing)
    for layer in layers:
        x = checkpoint(layer, x, *args, use_reentrant=False) if checkpointing else layer(x, *args)
    return x


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
    like: Tensor, num_layers: int, batch_size: int, num_heads: int, width: int, max_length: int
) -> DecoderCache:
    """An empty ``DecoderCache`` on the device and in the dtype of parameter ``like``."""
    return DecoderCache(
        num_layers, batch_size, num_heads, width // num_heads, max_length, like.dtype, like.device
    )
