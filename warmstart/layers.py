"""Pieces every architecture shares: activations, attention over torch SDPA, masks and the decoder cache.

Shape legend: B batch, T query length, S key length, H heads, D head size, C = H * D channels,
L layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


def activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown hidden_act {name!r}; supported: {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, T, C) -> (B, H, T, D)."""
    B, T, C = x.shape
    return x.view(B, T, num_heads, C // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, D) -> (B, T, C)."""
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def attend(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout: float, is_causal: bool = False
) -> Tensor:
    """Scaled dot-product attention. q (B, H, T, D), k/v (B, H, S, D), additive mask -> (B, T, C)."""
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal and mask is None
    )
    return merge_heads(out)


def padding_mask(attention_mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """(B, S) of 1 (keep) / 0 (pad) -> additive (B, 1, 1, S), or None when nothing is padded."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    keep = attention_mask[:, None, None, :].bool()
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(
        ~keep, torch.finfo(dtype).min
    )


def causal_mask(
    T: int, past: int, attention_mask: Tensor | None, dtype: torch.dtype, device: torch.device
) -> Tensor | None:
    """Additive (B or 1, 1, T, past + T) mask for decoder self-attention, or None when plain causal
    attention (SDPA's ``is_causal``) or no mask at all will do."""
    padded = attention_mask is not None and not bool(attention_mask.all())
    if not padded and (past == 0 or T == 1):
        return None
    q_pos = torch.arange(past, past + T, device=device)[:, None]
    keep = torch.arange(past + T, device=device)[None, :] <= q_pos  # (T, S)
    keep = keep[None, None]
    if padded:
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

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write k/v (B, H, T, D) after the cached ones; return all keys and values so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_length:  # grow (rare: callers size the cache for the whole decode)
            grown = self.kv.new_zeros(
                (*self.kv.shape[:4], max(end, 2 * self.max_length), k.shape[3])
            )
            grown[..., :start, :] = self.kv[..., :start, :]
            self.kv = grown
        self.kv[layer, 0, :, :, start:end] = k
        self.kv[layer, 1, :, :, start:end] = v
        return self.kv[layer, 0, :, :, :end], self.kv[layer, 1, :, :, :end]

    def reorder(self, index: Tensor) -> DecoderCache:
        """Keep rows ``index`` (N',) of the batch, in that order."""
        if index.shape[0] == self.kv.shape[2]:
            self.kv[:, :, :, :, : self.length] = self.kv[:, :, index, :, : self.length]
        else:
            self.kv = self.kv.index_select(2, index)
        self.cross = [None if c is None else (c[0][index], c[1][index]) for c in self.cross]
        return self


def init_normal_(module: torch.nn.Module, std: float) -> None:
    """transformers' initialisation for the common module types (Linear, Embedding, LayerNorm)."""
    if isinstance(module, torch.nn.Linear):
        torch.nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            torch.nn.init.zeros_(module.bias)
    elif isinstance(module, torch.nn.Embedding):
        torch.nn.init.normal_(module.weight, 0.0, std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, torch.nn.LayerNorm):
        torch.nn.init.ones_(module.weight)
        torch.nn.init.zeros_(module.bias)
