"""Each TensorFlow logits control against the PyTorch side's control of the same name, on random
scores and token histories (the TF ones read a longer buffer of which ``cur`` columns count), and
the Gumbel noise behind sampling."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

from warmstart.tf import processors as tfp
from warmstart.torch.generation import processors as ptp

V, N, L = 13, 4, 12

CASES = [
    (ptp.repetition_penalty, dict(penalty=1.7), tfp.repetition_penalty, dict(penalty=1.7)),
    (ptp.no_repeat_ngram, dict(ngram_size=1), tfp.no_repeat_ngram, dict(ngram_size=1)),
    (ptp.no_repeat_ngram, dict(ngram_size=2), tfp.no_repeat_ngram, dict(ngram_size=2)),
    (ptp.no_repeat_ngram, dict(ngram_size=3), tfp.no_repeat_ngram, dict(ngram_size=3)),
    (
        ptp.min_length,
        dict(length=6, eos_token_id=[3, 4]),
        tfp.min_length,
        dict(length=6, eos=[3, 4]),
    ),
    (ptp.forced_bos, dict(token_id=5), tfp.forced_token, dict(at=1, token_ids=[5])),
    (
        ptp.forced_eos,
        dict(max_length=6, eos_token_id=[3, 9]),
        tfp.forced_token,
        dict(at=5, token_ids=[3, 9]),
    ),
    (ptp.suppress_tokens, dict(token_ids=[0, 7]), tfp.suppress_tokens, dict(token_ids=[0, 7])),
    (ptp.temperature, dict(value=0.6), tfp.temperature, dict(value=0.6)),
    (ptp.top_k, dict(k=4, min_tokens_to_keep=2), tfp.top_k, dict(k=4, keep=2)),
    (ptp.top_p, dict(p=0.7, min_tokens_to_keep=1), tfp.top_p, dict(p=0.7, keep=1)),
    (ptp.top_p, dict(p=0.3, min_tokens_to_keep=3), tfp.top_p, dict(p=0.3, keep=3)),
]


@pytest.mark.parametrize("case", range(len(CASES)), ids=lambda i: CASES[i][2].__name__ + str(i))
@pytest.mark.parametrize("cur", [1, 2, 5, 9])
def test_control_equals_the_pytorch_one(case, cur):
    theirs, their_kw, ours, our_kw = CASES[case]
    rng = np.random.default_rng(case * 10 + cur)
    seqs = rng.integers(0, 6, (N, L))  # a small alphabet: repeats and n-gram matches happen
    scores = rng.normal(size=(N, V)).astype(np.float32)
    expected = theirs(torch.tensor(seqs[:, :cur]), torch.tensor(scores), **their_kw).numpy()
    got = ours(tf.constant(seqs, tf.int32), tf.constant(cur), tf.constant(scores), **our_kw)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_gumbel_max_draws_from_the_softmax():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    logits = tf.math.log(tf.constant(np.tile(probs, (8000, 1)), tf.float32))  # 8000 draws
    noise = tfp.gumbel((8000, 4), tf.constant([0, 11], tf.int64), tf.constant(3))
    picks = tf.argmax(logits + noise, -1).numpy()
    np.testing.assert_allclose(np.bincount(picks, minlength=4) / len(picks), probs, atol=0.02)
    other_step = tfp.gumbel((8000, 4), tf.constant([0, 11], tf.int64), tf.constant(4))
    assert not np.allclose(noise.numpy(), other_step.numpy())


def test_remove_invalid_values_equals_the_pytorch_one():
    scores = np.array([[0.5, np.nan, np.inf, -np.inf]], np.float32)
    expected = ptp.remove_invalid_values(torch.zeros((1, 1)), torch.tensor(scores)).numpy()
    got = tfp.remove_invalid_values(tf.zeros((1, 4), tf.int32), tf.constant(1), tf.constant(scores))
    np.testing.assert_array_equal(got.numpy(), expected)
