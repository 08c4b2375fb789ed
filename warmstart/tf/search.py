"""Beam search in TensorFlow over static (B, K, max_length) buffers, one ``tf.while_loop``.

The PyTorch side's beam search (:func:`warmstart.torch.generation.search.beam_search`, itself
transformers' vectorised beam search) step for step: each step keeps the best
``K * max(2, 1 + n_eos)`` continuations over all beams; those ending in eos (or at ``max_length``)
among the first K become finished hypotheses scored ``sum_logprob / generated_length **
length_penalty``; the best K others live on; it stops when no live beam can beat the finished ones
(``early_stopping``) or at ``max_length``. With ``do_sample`` the continuations are drawn without
replacement (Gumbel top-k).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..generation.config import GenerationConfig
from ..generation.settings import beam_fill
from . import processors

NEG = -1.0e9


def _take(x: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
    """Pick along axis 1 of a (B, K, ...) tensor with a (B, C) index."""
    return tf.gather(x, index, axis=1, batch_dims=1)


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
    N = B * K
    eos = config.eos_ids()
    count = max(2, 1 + (len(eos) if eos else 0)) * K
    state = _start(kv, start, config, B)
    columns = tf.range(L)[None, None, :]

    def body(s: dict) -> dict:
        s = dict(s)
        cur = s["cur"]
        tokens = tf.reshape(s["running"][:, :, cur - 1], (N, 1))
        logits, kv = step(tokens, s["kv"], cur - 1)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), -1)  # (N, V)
        log_probs = processors.apply(controls, tf.reshape(s["running"], (N, L)), cur, log_probs)
        V = log_probs.shape[-1]
        total = tf.reshape(log_probs, (B, K * V)) + tf.repeat(s["running_scores"], V, axis=1)
        if seed is None:
            scores, picks = tf.math.top_k(total, count)  # (B, C)
        else:
            _, picks = tf.math.top_k(total + processors.gumbel(tf.shape(total), seed, cur), count)
            scores, order = tf.math.top_k(tf.gather(total, picks, batch_dims=1), count)
            picks = tf.gather(picks, order, batch_dims=1)
        source, token = picks // V, picks % V
        sequences = tf.where(columns == cur, token[:, :, None], _take(s["running"], source))
        finished = processors.is_eos(token, config) | (cur + 1 >= L)
        # the K best unfinished candidates live on
        live_scores = scores + tf.cast(finished, tf.float32) * NEG
        keep = tf.math.top_k(live_scores, K).indices  # (B, K)
        s["running"], s["running_scores"] = _take(sequences, keep), _take(live_scores, keep)
        rows = _take(source, keep) + tf.range(B)[:, None] * K  # (B, K) cache rows they extend
        s["kv"] = tf.gather(kv, tf.reshape(rows, [-1]), axis=2)
        _record_finished(s, scores, sequences, finished, cur, P, config)
        s["cur"] = cur = cur + 1
        _check_improvable(s, cur, P, config)
        all_full = tf.reduce_all(s["is_done"]) & (config.early_stopping is True)
        s["go"] = tf.reduce_any(s["improvable"]) & ~all_full & ~tf.reduce_all(finished)
        return s

    def cond(s: dict) -> tf.Tensor:
        return s["go"] & (s["cur"] < L)

    s = tf.while_loop(cond, lambda s: (body(s),), (state,), maximum_iterations=L - P)[0]
    R = config.num_return_sequences
    return (
        tf.reshape(s["done"][:, :R], (B * R, L)),
        tf.reshape(s["done_lengths"][:, :R], [-1]),
        tf.reshape(s["done_scores"][:, :R], [-1]),
    )


def _start(kv: tf.Tensor, start: tf.Tensor, config: GenerationConfig, B: Any) -> dict:
    """The loop's state: only the first of each input's K beams is live at first, so that the K
    copies do not pick the same tokens."""
    K, P, L = config.num_beams, start.shape[1], config.max_length
    fill = tf.fill((B * K, L - P), beam_fill(config))
    running = tf.reshape(tf.concat([start, fill], 1), (B, K, L))
    return dict(
        cur=tf.constant(P),
        kv=kv,
        running=running,
        running_scores=tf.tile(tf.constant([[0.0] + [NEG] * (K - 1)]), (B, 1)),
        done=running,
        done_scores=tf.fill((B, K), NEG),
        done_lengths=tf.fill((B, K), P),
        is_done=tf.zeros((B, K), tf.bool),
        improvable=tf.ones((B, 1), tf.bool),
        go=tf.constant(True),
    )


def _record_finished(s: dict, scores, sequences, finished, cur, P: int, config) -> None:
    """Merge the finished candidates among the first K into the K best finished hypotheses."""
    K = s["is_done"].shape[1]
    C = finished.shape[1]
    new = finished & (tf.range(C) < K)[None, :]  # (B, C)
    generated = tf.cast(cur + 1 - P, tf.float32)
    final = scores / tf.pow(generated, config.length_penalty)
    full = tf.reduce_all(s["is_done"], -1, keepdims=True) & (config.early_stopping is True)
    final += tf.cast(full, tf.float32) * NEG
    final += tf.cast(~s["improvable"], tf.float32) * NEG
    final += tf.cast(~new, tf.float32) * NEG
    merged = tf.concat([s["done_scores"], final], 1)
    keep = tf.math.top_k(merged, K).indices  # (B, K)
    s["done"] = _take(tf.concat([s["done"], sequences], 1), keep)
    s["done_scores"] = _take(merged, keep)
    lengths = tf.concat([s["done_lengths"], tf.fill(tf.shape(finished), cur + 1)], 1)
    s["done_lengths"] = _take(lengths, keep)
    s["is_done"] = _take(tf.concat([s["is_done"], new], 1), keep)


def _check_improvable(s: dict, cur, P: int, config: GenerationConfig) -> None:
    """Clear ``improvable`` for inputs whose best live beam cannot beat their worst finished one."""
    penalty = config.length_penalty
    if config.early_stopping == "never" and penalty > 0.0:
        best_length = tf.cast(config.max_length - P, tf.float32)
    else:
        best_length = tf.cast(cur - P, tf.float32)
    best_live = s["running_scores"][:, :1] / tf.pow(best_length, penalty)  # (B, 1)
    worst_done = tf.reduce_min(s["done_scores"], 1, keepdims=True)
    worst_done = tf.where(s["is_done"], worst_done, NEG)  # (B, K)
    s["improvable"] &= tf.reduce_any(best_live > worst_done, -1, keepdims=True)
