"""Custom autograd kernels: dropout that stores its mask in 16 bits (also inside attention), a
cross-entropy computed in chunks of rows (fp32 logits for a chunk at a time), and an embedding
lookup whose gradient reuses its memory, each with its own backward.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import recycled


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout`` on CPU with a mask drawn from 16 random bits per element.

    Torch draws one random number per element (``bernoulli_``); slicing 64-bit words
    (:func:`random_words`) into four 16-bit lanes draws a quarter of the words; in a MiniLM
    bert2bert step on a 2-core AVX2 EPYC torch's ``bernoulli_`` took 197 ms, the words 33 ms from
    torch's generator and about half that from :func:`random_words`. An element is dropped with probability
    ``round(p * 65536) / 65536`` (within 1e-5 of ``p``) and the kept ones are scaled so that the
    expectation is unchanged.
    """
    if not training or p == 0.0:
        return x
    if not 0.0 < p < 1.0 or x.device.type != "cpu" or torch.compiler.is_compiling():
        return F.dropout(x, p, training)  # torch's own checks, p = 1, GPUs; inductor's own RNG
    return _Dropout16.apply(x, p)


def random_words(count: int) -> Tensor:
    """``count`` random int64 words from numpy's PCG64, seeded by one draw of torch's default
    generator, so that ``torch.manual_seed`` and torch's saved random state replay them. PCG64
    fills them in half the time of torch's Mersenne twister (1.1 against 2.3 ms for 400k words
    on a 2-core AVX2 EPYC; a MiniLM bert2bert step draws 6M)."""
    seed = int(torch.randint(2**62, ()))
    return torch.from_numpy(np.random.PCG64(seed).random_raw(count).view(np.int64))


def sdpa(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, p: float, causal: bool, scale: float
) -> Tensor:
    """``F.scaled_dot_product_attention`` (B, H, T, D). With dropout on CPU, SDPA's arithmetic with
    :func:`dropout` on the probabilities (SDPA with dropout takes its unfused path there anyway,
    with a mask that costs several times more to draw)."""
    if p > 0.0 and q.device.type == "cpu" and not torch.compiler.is_compiling():
        return attention_weights(q, k, mask, p, causal, scale) @ v
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal, scale=scale
    )


def attention_weights(
    q: Tensor, k: Tensor, mask: Tensor | None, p: float, causal: bool, scale: float
) -> Tensor:
    """Eager attention probabilities (B, H, T, S), after dropout ``p``, as SDPA computes them."""
    scores = (q * scale) @ k.transpose(-2, -1)  # (B, H, T, S)
    if causal:
        T, S = scores.shape[-2:]
        keep = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()  # as SDPA: top-left
        scores = scores.masked_fill(~keep, float("-inf"))
    elif mask is not None:
        scores = scores + mask
    return dropout(torch.softmax(scores, dim=-1), p, True)


class _Dropout16(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, p: float) -> Tensor:
        dropped = round(p * 65536)
        n = x.numel()
        bits = random_words((n + 3) // 4)
        keep = bits.view(torch.int16)[:n].view(x.shape) >= dropped - 32768
        scale = 65536 / (65536 - dropped)
        # in x's dtype: a product with a bool mask would convert it on every use
        mask = keep.to(x.dtype)
        if x.dtype in (torch.float32, torch.float64):
            mask, ctx.scale = mask.mul_(scale), None  # the scale or 0
        else:  # 1 or 0, scaled after: in bf16 or fp16 the scale itself would round
            ctx.scale = scale
        ctx.save_for_backward(mask)
        return _masked(x, mask, ctx.scale)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (mask,) = ctx.saved_tensors
        return _masked(grad, mask, ctx.scale), None


def _masked(x: Tensor, mask: Tensor, scale: float | None) -> Tensor:
    return x * mask if scale is None else x.mul(mask).mul_(scale)


class Dropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with :func:`dropout`; same state and repr."""

    def forward(self, x: Tensor) -> Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)


LOSS_CHUNK = 64
"""Rows of logits :func:`cross_entropy` handles at a time."""


def cross_entropy(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """``F.cross_entropy(logits.float(), labels, ignore_index=ignore_index)`` (mean over the labels
    that are not ``ignore_index``; NaN when there are none) for ``logits`` (N, V) and ``labels``
    (N,); the arithmetic is in fp32 whatever the logits' dtype, the gradient in theirs.

    On CPU outside ``torch.compile`` it keeps neither the log-probabilities for the backward nor a
    one-hot gradient: the forward takes the log-softmax of a slice of rows at a time into one
    reused buffer, and the backward writes ``softmax - one_hot`` straight into the gradient. For a
    vocabulary of 30k and 512 targets that saves three 60 MB buffers and their passes per
    training step, and two more (the fp32 copy and its gradient) for bf16 logits.
    """
    if logits.device.type != "cpu" or torch.compiler.is_compiling():
        return F.cross_entropy(logits.float(), labels, ignore_index=ignore_index)
    return _CrossEntropy.apply(logits, labels, ignore_index)


def _check_targets(targets: Tensor, vocab: int, ignore_index: int) -> None:
    """A clear error for a label that is no token id (torch's would be an index error deep in the
    loss, or a wrong loss)."""
    if targets.numel() == 0:
        return
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= vocab:
        bad = high if high >= vocab else low
        raise IndexError(
            f"Target {bad} is out of bounds: labels must be token ids below the decoder's "
            f"vocabulary size {vocab}, or {ignore_index} where the loss should ignore a position."
        )


def _row_slices(n: int) -> Iterator[slice]:
    return (slice(i, i + LOSS_CHUNK) for i in range(0, n, LOSS_CHUNK))


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, labels: Tensor, ignore_index: int) -> Tensor:
        counted = labels != ignore_index
        targets = labels.masked_fill(~counted, 0)
        _check_targets(targets, logits.shape[-1], ignore_index)
        picked = logits.new_empty(logits.shape[0], 1, dtype=torch.float32)  # target log-probs
        scratch = _Fp32Rows(logits)
        for rows in _row_slices(logits.shape[0]):
            x = scratch.rows(logits[rows])
            log_probs = torch.ops.aten._log_softmax.out(x, -1, False, out=scratch.out[: len(x)])
            torch.gather(log_probs, 1, targets[rows, None], out=picked[rows])
        count = counted.sum()
        ctx.save_for_backward(logits, targets, counted, count)
        return -(picked.squeeze(1) * counted).sum() / count

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        logits, targets, counted, count = ctx.saved_tensors
        scale = ((grad / count) * counted)[:, None]  # the mean's weight of each row, 0 if ignored
        out = recycled.empty(logits.shape, logits.dtype)
        scratch = _Fp32Rows(logits)
        for rows in _row_slices(logits.shape[0]):
            x = scratch.rows(logits[rows])
            probs = out[rows] if scratch.same else scratch.out[: len(x)]
            torch.ops.aten._softmax.out(x, -1, False, out=probs)
            probs.mul_(scale[rows]).scatter_add_(1, targets[rows, None], -scale[rows])
            if not scratch.same:
                out[rows] = probs
        return out, None, None


class _Fp32Rows:
    """Buffers for :class:`_CrossEntropy`: a slice of rows in fp32 (the logits' own rows when they
    are fp32, else a copy) and a slice-sized fp32 output."""

    def __init__(self, logits: Tensor) -> None:
        self.same = logits.dtype == torch.float32
        size = (min(LOSS_CHUNK, logits.shape[0]), logits.shape[1])
        self.out = logits.new_empty(size, dtype=torch.float32)
        self.copy = None if self.same else logits.new_empty(size, dtype=torch.float32)

    def rows(self, x: Tensor) -> Tensor:
        return x if self.copy is None else self.copy[: len(x)].copy_(x)


class Embedding(nn.Embedding):
    """``nn.Embedding`` (same state and repr) whose weight gradient on CPU is a tensor of
    :mod:`.recycled`: a vocabulary-sized gradient then reuses the memory of the previous step's
    instead of taking fresh pages. Built on the meta device (to be loaded), it draws no initial
    weights: ``normal_`` there first imports torch's Python reference kernels, about 2 s."""

    def reset_parameters(self) -> None:
        if not self.weight.is_meta:
            super().reset_parameters()

    def forward(self, ids: Tensor) -> Tensor:
        w = self.weight
        plain = (
            w.device.type != "cpu"
            or not (torch.is_grad_enabled() and w.requires_grad)
            or self.max_norm is not None
            or self.scale_grad_by_freq
            or self.sparse
            or torch.compiler.is_compiling()
        )
        if plain:
            return super().forward(ids)
        return _Embedding.apply(ids, w, self.padding_idx)


class _Embedding(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, ids: Tensor, weight: Tensor, padding_idx: int | None) -> Tensor:
        ctx.save_for_backward(ids)
        ctx.shape, ctx.padding_idx, ctx.weight_at = weight.shape, padding_idx, weight.data_ptr()
        return F.embedding(ids, weight, padding_idx)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor, None]:
        (ids,) = ctx.saved_tensors
        ids, rows = ids.reshape(-1), grad.reshape(-1, grad.shape[-1])
        if ctx.padding_idx is not None:  # the padding row gets no gradient, as nn.Embedding
            kept = ids != ctx.padding_idx
            ids, rows = ids[kept], rows[kept]
        tied = recycled.offered_gradient(ctx.weight_at, ctx.shape)  # the LM head's, when tied
        if tied is not None and tied.dtype == grad.dtype:
            tied.index_add_(0, ids, rows)
            return None, None, None
        out = recycled.zeros(ctx.shape, grad.dtype)
        return None, out.index_add_(0, ids, rows), None
