"""Attention helpers take the head size and the scale as parameters (``attention.Heads``): a
non-default head size or scale gives what a direct softmax(scale * Q K^T) V computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from warmstart.torch.attention import DecoderCache, Heads, attend, merge_heads, qkv_attention
from warmstart.torch.speed.fused import FusedDecoderCache
from warmstart.torch.speed.recording import Recorder, _recording


def _reference(q, k, v, scale, causal=False):
    """softmax(scale * q k^T) v for q (B, H, T, D), k/v (B, H, S, D), written out: (B, T, H * D)."""
    scores = torch.einsum("bhtd,bhsd->bhts", q.double(), k.double()) * scale
    if causal:
        T, S = scores.shape[-2:]
        scores = scores.masked_fill(~torch.ones(T, S, dtype=torch.bool).tril(), float("-inf"))
    probs = scores.softmax(-1)
    return merge_heads(torch.einsum("bhts,bhsd->bhtd", probs, v.double())).float()


def test_heads_default_to_width_over_heads_and_inverse_square_root():
    assert Heads.of(64, 4) == Heads(4, 16, 16**-0.5)
    assert Heads.of(64, 4, size=8, scale=1.0) == Heads(4, 8, 1.0)


@pytest.mark.parametrize("scale", [1.0, 0.1])
@pytest.mark.parametrize("causal", [False, True])
def test_attend_with_a_given_scale_is_the_written_out_formula(scale, causal):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 6), torch.randn(2, 3, 5, 6), torch.randn(2, 3, 5, 6)
    want = _reference(q, k, v, scale, causal)
    torch.testing.assert_close(attend(q, k, v, None, 0.0, causal, scale=scale), want)
    with _recording(Recorder(True, False)) as rec:  # the eager path that keeps the weights
        torch.testing.assert_close(attend(q, k, v, None, 0.0, causal, scale=scale), want)
    assert len(rec.attentions) == 1


def _projections(C: int, inner: int) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
    torch.manual_seed(1)
    return nn.Linear(C, inner), nn.Linear(C, inner), nn.Linear(C, inner)


def test_qkv_attention_with_its_own_head_size_and_no_scaling():
    """Width 8, 2 heads of 3 channels (key/value width 6), unscaled scores: uncached, through
    the plain cache step by step, and through the fused cache at inference."""
    heads = Heads.of(8, 2, size=3, scale=1.0)
    proj = _projections(8, 6)
    x, enc = torch.randn(2, 4, 8), torch.randn(2, 5, 8)

    def split(t):  # (B, T, 6) -> (B, 2, T, 3)
        return t.view(t.shape[0], t.shape[1], 2, 3).transpose(1, 2)

    q, k, v = (split(m(x)) for m in proj)
    with torch.no_grad():
        want_self = _reference(q, k, v, 1.0, causal=True)
        want_cross = _reference(q, split(proj[1](enc)), split(proj[2](enc)), 1.0)
        got = qkv_attention(x, proj, heads, 0, None, 0.0, is_causal=True)
        torch.testing.assert_close(got, want_self)
        got = qkv_attention(x, proj, heads, 0, None, 0.0, cross=enc)
        torch.testing.assert_close(got, want_cross)
        for make in (DecoderCache, lambda *a: FusedDecoderCache.of(DecoderCache(*a))):
            cache = make(1, 2, heads.num, heads.size, 4)
            steps = []
            for t in range(4):
                steps.append(qkv_attention(x[:, t : t + 1], proj, heads, 0, None, 0.0, None, cache))
                cache.length += 1
            torch.testing.assert_close(torch.cat(steps, 1), want_self)
    assert cache.fused[0] is not None  # the fused path ran
