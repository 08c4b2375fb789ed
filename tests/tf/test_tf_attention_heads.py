"""The TF attention helpers take the head size and the scale as parameters: a non-default head
size or scale gives what a direct softmax(scale * Q K^T) V computes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from attention_reference import softmax_attention

from warmstart.tf.layers import SelfAttention, attend, split_heads


@pytest.mark.parametrize("scale", [None, 1.0, 0.1])
def test_attend_with_a_given_scale_is_the_written_out_formula(scale):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 5, 6)).astype(np.float32) for _ in range(3))
    keep = np.tril(np.ones((5, 5), bool))[None, None]
    got = attend(tf.constant(q), tf.constant(k), tf.constant(v), tf.constant(keep), scale=scale)
    want = softmax_attention(q, k, v, 6**-0.5 if scale is None else scale, keep)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_heads_of_their_own_size_through_the_cache():
    """Width 8 projected to 2 heads of 3 channels, unscaled: split, cached and attended."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6)).astype(np.float32)  # (B, T, H * D) with D = 3
    q, k, v = (split_heads(tf.constant(x * s), 2, 3) for s in (1.0, 0.5, 2.0))
    assert q.shape == (2, 2, 4, 3)
    kv = tf.zeros((1, 2, 2, 2, 4, 3))  # (L, 2, B, H, M, D)
    keep = np.tril(np.ones((4, 4), bool))[None, None]
    got = SelfAttention(tf.constant(keep), kv=kv)(0, q, k, v, scale=1.0)
    want = softmax_attention(q.numpy(), k.numpy(), v.numpy(), 1.0, keep)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
