"""Reduced-precision decoder weights for inference: bf16, or int8 with one scale per output row.

Decoding one token at a time streams every decoder weight once per step, so its speed is set by the
bytes of weights: bf16 halves them, int8 quarters them. Only the matrix products change: their input
is rounded to bf16 and their output comes back in the model's dtype, so layer norms, softmax, the
residual stream and the cache keep full precision (weight-only quantisation, as in gpt-fast).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cpu import choice, onednn_off

KINDS = ("bf16", "int8")
INT8_K_MULTIPLE = 16  # torch._weight_int8pack_mm reads K in blocks of 16 (no tail)


def native_gemv(enabled: bool = True) -> contextlib.AbstractContextManager:
    """Route reduced-precision matrix-vector products to ATen's own kernel while active, where
    that was measured faster than oneDNN's on this CPU (``cpu.choice("bf16_row")``).

    For one row, oneDNN's bf16 path is about twice as slow as ATen's vectorised gemv on some CPUs
    with AVX-512 (it reorders the weight on every call), and no faster on AVX2-only ones; for more
    rows oneDNN is far faster, so callers enable this only when a product has a single row. The
    switch is process-wide.
    """
    if not enabled or not torch.backends.mkldnn.is_available() or choice("bf16_row") != "aten":
        return contextlib.nullcontext()
    return onednn_off()


def bf16_product_eager(rows: Tensor, weight: Tensor) -> Tensor:
    """``rows @ weight.T`` for bf16 ``rows`` (M, K) and ``weight`` (N, K), in bf16."""
    with native_gemv(rows.shape[0] == 1):
        return F.linear(rows, weight)


@torch.library.custom_op("warmstart::bf16_product", mutates_args=())
def bf16_product(rows: Tensor, weight: Tensor) -> Tensor:
    """:func:`bf16_product_eager` as one opaque operation for compiled graphs.

    Inductor would lower a bf16 product to its own kernels, which on CPUs without native bf16
    arithmetic run several times slower than ATen's; and the process-wide switch of
    :func:`native_gemv` cannot be held inside a graph.
    """
    return bf16_product_eager(rows, weight)


@bf16_product.register_fake
def _(rows: Tensor, weight: Tensor) -> Tensor:
    return rows.new_empty(rows.shape[0], weight.shape[0])


class WeightOnlyLinear(nn.Module):
    """``nn.Linear`` with a bf16 or int8 weight (N, K); inference only.

    int8 weights are ``round(w / scale)`` with ``scale = max|w_row| / 127`` per output row; the
    product runs in ``torch._weight_int8pack_mm`` with bf16 activations. A layer whose input width
    is not a multiple of 16 (which that kernel cannot take) keeps bf16 weights.
    """

    def __init__(self, weight: Tensor, scale: Tensor | None, bias: Tensor | None) -> None:
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self.register_buffer("weight", weight)  # (N, K) bf16 or int8
        self.register_buffer("scale", scale)  # (N,) bf16, int8 only
        self.register_buffer("bias", bias)  # (N,) in the model's dtype

    @classmethod
    def from_linear(cls, linear: nn.Linear, kind: str) -> WeightOnlyLinear:
        w = linear.weight.detach()
        bias = None if linear.bias is None else linear.bias.detach().clone()
        if kind not in KINDS:
            raise ValueError(f"Unknown quantisation {kind!r}; choose one of {', '.join(KINDS)}.")
        if kind == "bf16" or w.shape[1] % INT8_K_MULTIPLE:  # the int8 kernel needs K % 16 == 0
            return cls(w.to(torch.bfloat16), None, bias)
        scale = w.float().abs().amax(dim=1).clamp(min=1e-12) / 127  # (N,)
        q = torch.round(w.float() / scale[:, None]).clamp(-127, 127).to(torch.int8)
        return cls(q, scale.to(torch.bfloat16), bias)

    @classmethod
    def concat(cls, modules: Sequence[WeightOnlyLinear]) -> Callable[[Tensor], Tensor]:
        """One module whose output is the concatenation of ``modules``' outputs."""
        kinds = {(m.weight.dtype, m.scale is None, m.bias is None) for m in modules}
        if len(kinds) != 1:
            return lambda x: torch.cat([m(x) for m in modules], dim=-1)

        def cat(name: str) -> Tensor | None:
            parts = [getattr(m, name) for m in modules]
            return None if parts[0] is None else torch.cat(parts)

        return cls(cat("weight"), cat("scale"), cat("bias"))

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)  # (M, K)
        if self.scale is not None:
            y = torch._weight_int8pack_mm(rows, self.weight, self.scale)
        elif torch.compiler.is_compiling():
            y = bf16_product(rows, self.weight)  # opaque to inductor: see bf16_product
        else:
            y = bf16_product_eager(rows, self.weight)
        # (M, N) in x's dtype: adding the bias promotes, so that is one op
        y = y.to(x.dtype) if self.bias is None else torch.add(self.bias, y)
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        kind = "int8" if self.scale is not None else "bf16"
        return f"in_features={self.in_features}, out_features={self.out_features}, {kind}"


def quantize_linears_(module: nn.Module, kind: str) -> list[str]:
    """Replace every ``nn.Linear`` under ``module`` by a :class:`WeightOnlyLinear` in place.

    Returns:
        The names of the replaced modules.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown quantisation {kind!r}; choose one of {', '.join(KINDS)}.")
    names = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    for name in names:
        owner, _, leaf = name.rpartition(".")
        parent = module.get_submodule(owner)
        setattr(parent, leaf, WeightOnlyLinear.from_linear(getattr(parent, leaf), kind))
    return names
