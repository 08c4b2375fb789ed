"""benchmarks/bench_tf.py's floors: the weights a TF decoding step multiplies."""

from __future__ import annotations

import pytest
from bench_scripts import bench_script
from tf.conftest import PAIRINGS

from warmstart.tf import TFEncoderDecoderModel


@pytest.fixture(scope="module")
def bench():
    with bench_script("bench_tf") as module:
        yield module


@pytest.mark.parametrize("name", ["bert2bert", "bert2bert_untied"])
def test_a_step_multiplies_the_linear_weights_but_the_cross_keys_values_and_the_head(
    bench, pairing_dirs, name
):
    model = TFEncoderDecoderModel.from_pretrained(pairing_dirs[name])
    weights = bench.multiplied(model.decoder)
    layers = PAIRINGS[name][1][1]["num_hidden_layers"]
    # per layer: q, k, v, output; cross q, cross output; intermediate, output; the head's
    # transform, then the LM head itself (the word table when tied)
    assert len(weights) == 8 * layers + 2
    vocab = model.decoder.config.vocab_size
    assert tuple(weights[-1].shape) == (vocab, model.decoder.config.hidden_size)
    p = model.decoder.p
    cross_kv = [
        p[k] for k in p if "crossattention.self.key" in k or "crossattention.self.value" in k
    ]
    assert not [w for w in weights for c in cross_kv if w is c]
    if name == "bert2bert":
        assert weights[-1] is model.decoder.get_input_embeddings()
