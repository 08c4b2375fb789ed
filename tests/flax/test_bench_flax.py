"""benchmarks/bench_flax.py's floors: the weights a decoding step multiplies, and the products run
at once or one after another as a decoder runs them."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from bench_scripts import bench_script
from tiny_configs import TINY

import warmstart.config as ws
from warmstart.flax import FlaxEncoderDecoderModel


@pytest.fixture(scope="module")
def bench():
    with bench_script("bench_flax") as module:
        yield module


def test_a_step_multiplies_all_but_the_tables_and_the_cross_keys_values(bench):
    config = ws.EncoderDecoderConfig.from_encoder_decoder_configs(
        ws.BertConfig(**TINY), ws.BertConfig(**TINY)
    )
    names = [
        name for name, _ in bench.multiplied(FlaxEncoderDecoderModel(config).params["decoder"])
    ]
    layers = TINY["num_hidden_layers"]
    # per layer: q, k, v, output; cross q, cross output; intermediate, output; then the head's
    # transform and the word table (the tied LM head)
    assert len(names) == 8 * layers + 2
    assert "bert/embeddings/word_embeddings/embedding" in names
    assert "bert/encoder/layer/0/crossattention/self/query/kernel" in names
    assert not [n for n in names if "position" in n or "token_type" in n]
    assert not [n for n in names if "crossattention/self/key" in n]
    assert not [n for n in names if "crossattention/self/value" in n]
    assert "bert/encoder/layer/0/attention/self/value/kernel" in names


def test_chained_products_feed_each_output_to_the_next_product_of_its_width(bench):
    rng = np.random.default_rng(0)
    k1, k2, k3 = (
        jnp.asarray(rng.standard_normal(s), jnp.float32) for s in ((4, 6), (6, 4), (4, 4))
    )
    xs = [jnp.asarray(rng.standard_normal((2, k.shape[0])), jnp.float32) for k in (k1, k2, k3)]
    kts = [k.T for k in (k1, k2, k3)]
    form = bench.FORMS["x @ k"]
    forms = [form] * 3
    chained = bench._products(forms, xs, [k1, k2, k3], kts, chained=True)
    h6 = xs[0] @ k1
    h4 = (h6 @ k2) @ k3
    np.testing.assert_allclose(float(chained), float(h6.sum() + h4.sum()), rtol=1e-5)
    at_once = bench._products(forms, xs, [k1, k2, k3], kts, chained=False)
    expected = sum(float((x @ k).sum()) for x, k in zip(xs, (k1, k2, k3)))
    np.testing.assert_allclose(float(at_once), expected, rtol=1e-5)
    for name, f in bench.FORMS.items():  # every form is the same product
        np.testing.assert_allclose(f(xs[0], k1, kts[0]), xs[0] @ k1, rtol=1e-5, err_msg=name)
