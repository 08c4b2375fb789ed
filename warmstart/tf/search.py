"""Beam search in TensorFlow: one ``tf.while_loop`` over the core's beam step
(:mod:`warmstart.generation.traced_beam`, which the JAX side runs too) and static (B, K, max_length)
buffers: the PyTorch side's beam search (transformers'), step for step. With ``do_sample`` the
continuations are drawn without replacement (Gumbel top-k).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..generation import traced_beam
from ..generation.config import GenerationConfig
from . import processors


def beam_search(
    step: Any,
    kv: tf.Tensor,
    start: tf.Tensor,
    config: GenerationConfig,
    controls: list,
    B: int,
    seed: tf.Tensor | None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Beam search for B inputs of ``start`` (B * K, P) rows.

    Returns:
        The best ``num_return_sequences`` hypotheses of each input, best first,
        (B * R, max_length); their lengths (B * R,) and scores (B * R,).
    """
    K, P, L = config.num_beams, start.shape[1], config.max_length
    offsets = tf.range(B)[:, None] * K  # (B, 1) each input's first cache row

    def body(s: dict, kv: tf.Tensor) -> tuple[dict, tf.Tensor]:
        cur = s["length"]
        logits, kv = step(tf.reshape(s["running"][:, :, cur - 1], (-1, 1)), kv, cur - 1)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), -1)  # (N, V)
        log_probs = processors.apply(controls, tf.reshape(s["running"], (-1, L)), cur, log_probs)
        noise = None if seed is None else lambda x: processors.gumbel(tf.shape(x), seed, cur)
        s, beams = traced_beam.step(processors.OPS, s, log_probs, config, P, noise)
        return s, tf.gather(kv, tf.reshape(beams + offsets, [-1]), axis=2)

    state = traced_beam.start(processors.OPS, start, B, config)
    s, _ = tf.while_loop(lambda s, kv: ~s["stop"], body, (state, kv), maximum_iterations=L - P)
    return traced_beam.results(processors.OPS, s, config.num_return_sequences)
