"""The Flax attention helpers take the head size and the scale as parameters: a non-default head
size or scale gives what a direct softmax(scale * Q K^T) V computes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from attention_reference import softmax_attention

from warmstart.flax.layers import Pass, QKVAttention, attend, causal_keep, new_cache


@pytest.mark.parametrize("scale", [None, 1.0, 0.1])
def test_attend_with_a_given_scale_is_the_written_out_formula(scale):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 5, 6)).astype(np.float32) for _ in range(3))
    keep = np.tril(np.ones((5, 5), bool))[None, None]
    got, _ = attend(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), keep, 0.0, False, scale)
    want = softmax_attention(q, k, v, 6**-0.5 if scale is None else scale, keep)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_qkv_attention_with_its_own_head_size_and_no_scaling():
    """Width 8, 2 heads of 3 channels, unscaled scores: uncached, and through a cache."""
    layer = QKVAttention(num_heads=2, std=0.5, rate=0.0, layer=0, head_size=3, scale=1.0)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 4, 8)), jnp.float32)
    keep = causal_keep(4, 0, 4, None)
    params = layer.init(jax.random.PRNGKey(0), x, Pass(keep))
    p = params["params"]

    def heads(name):
        h = np.asarray(x) @ np.asarray(p[name]["kernel"]) + np.asarray(p[name]["bias"])
        return h.reshape(2, 4, 2, 3).transpose(0, 2, 1, 3)  # (B, H, T, D)

    want = softmax_attention(heads("query"), heads("key"), heads("value"), 1.0, np.asarray(keep))
    got = layer.apply(params, x, Pass(keep))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    cache = new_cache(1, 2, 2, 8, 4, head_size=3)
    assert cache["self"][0][0].shape == (2, 2, 4, 3)
    got = layer.apply(params, x, Pass(keep, cache=cache))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
