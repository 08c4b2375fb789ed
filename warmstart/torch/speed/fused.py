"""Fused decode weights: cached self-attention at inference projects Q, K and V with one product
over a concatenated weight, built once per decode from the parameters as they are then.

``generate`` decodes over a :class:`FusedDecoderCache`; the models' own cache
(:class:`..attention.DecoderCache`) projects each of Q, K and V with its own product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..attention import DecoderCache, Heads
from .products import linear


class FusedDecoderCache(DecoderCache):
    """A :class:`DecoderCache` whose self-attention projections run as one product per layer at
    inference (with gradients on, as the plain cache does). The concatenated weights are a copy
    kept for this decode only."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # per layer: the Q/K/V projection over concatenated weights, for this decode only
        self.fused: list[Callable[[Tensor], Tensor] | None] = [None] * len(self.cross)

    @classmethod
    def of(cls, cache: DecoderCache) -> FusedDecoderCache:
        """``cache``'s buffers (shared, not copied), with fused projections."""
        fused = cls.__new__(cls)
        fused.__dict__.update(vars(cache))
        fused.fused = [None] * len(cache.cross)
        return fused

    def project(
        self, layer: int, proj: tuple[nn.Module, nn.Module, nn.Module], x: Tensor, heads: Heads
    ) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v (B, H, T, D) of x (B, T, C) by one matmul (at inference)."""
        if torch.is_grad_enabled():
            return super().project(layer, proj, x, heads)
        project = self.fused[layer]
        if project is None:  # built once per decode from the parameters as they are now
            project = self.fused[layer] = fuse_linears(proj)
        B, T, _ = x.shape
        q, k, v = project(x).view(B, T, 3, heads.num, heads.size).permute(2, 0, 3, 1, 4)
        return q, k, v


def fuse_linears(linears: Sequence[nn.Module]) -> Callable[[Tensor], Tensor]:
    """One projection computing ``torch.cat([m(x) for m in linears], -1)`` with a single matmul.

    The concatenated weights are a copy: the caller keeps the result only while the parameters
    cannot change (one decode). Modules other than ``nn.Linear`` fuse through their class's
    ``concat`` (the quantised linears); anything else falls back to one call per module.
    """
    kinds = {type(m) for m in linears}
    if all(isinstance(m, nn.Linear) for m in linears):
        weight = torch.cat([m.weight for m in linears])  # (sum N, K)
        biases = [m.bias for m in linears]
        if all(b is not None for b in biases):
            bias = torch.cat(biases)
        else:
            bias = (
                None
                if all(b is None for b in biases)
                else torch.cat(
                    [
                        b if b is not None else m.weight.new_zeros(m.out_features)
                        for m, b in zip(linears, biases)
                    ]
                )
            )
        return lambda x: linear(x, weight, bias)
    concat = getattr(next(iter(kinds)), "concat", None) if len(kinds) == 1 else None
    if concat is not None:
        return concat(linears)
    return lambda x: torch.cat([m(x) for m in linears], dim=-1)
