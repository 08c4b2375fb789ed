"""Logits controls in TensorFlow, traceable under XLA: each reads the tokens so far as a static
buffer ``seqs`` (N, L) whose first ``cur`` columns are written (``cur`` may be a tensor) and returns
new scores (N, V). Each gives the result of the PyTorch side's control of the same name
(:mod:`warmstart.torch.generation.processors`, which follows transformers' logits processors);
:func:`bind` takes them from the core's plan (:mod:`warmstart.generation.plan`), which lists them
in the order transformers' ``generate`` applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import tensorflow as tf

from ..generation.config import GenerationConfig
from ..generation.plan import Plan

Processor = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]
"""``(seqs (N, L), cur (), scores (N, V)) -> scores (N, V)``."""

NEG_INF = float("-inf")


def _vocab_mask(scores: tf.Tensor, token_ids: Sequence[int]) -> tf.Tensor:
    """(V,) bool: which vocabulary entries are in ``token_ids``."""
    V = scores.shape[-1]
    ids = [t for t in token_ids if 0 <= t < V]
    return tf.reduce_any(tf.range(V)[:, None] == tf.constant(ids or [-1], tf.int32)[None], -1)


def _seen(seqs: tf.Tensor, cur: tf.Tensor, V: int) -> tf.Tensor:
    """(N, V) bool: which tokens appear in the first ``cur`` columns of each row."""
    N, L = tf.shape(seqs)[0], seqs.shape[1]
    valid = tf.cast(tf.range(L) < cur, tf.int32)  # (L,)
    rows = tf.repeat(tf.range(N), L)
    index = tf.stack([rows, tf.reshape(tf.minimum(seqs, V - 1), [-1])], 1)
    updates = tf.reshape(tf.tile(valid[None], (N, 1)), [-1])
    return tf.tensor_scatter_nd_max(tf.zeros((N, V), tf.int32), index, updates) > 0


def repetition_penalty(seqs, cur, scores, penalty: float):
    """Negative scores of tokens already in the row times ``penalty``, others divided by it."""
    penalized = tf.where(scores < 0, scores * penalty, scores / penalty)
    return tf.where(_seen(seqs, cur, scores.shape[-1]), penalized, scores)


def no_repeat_ngram(seqs, cur, scores, ngram_size: int):
    """Forbid any token that would repeat an n-gram already in the row."""
    N, L = tf.shape(seqs)[0], seqs.shape[1]
    n, V = ngram_size, scores.shape[-1]
    W = L - n + 1  # windows starting at 0 .. W - 1
    if W <= 0:
        return scores
    windows = tf.stack([seqs[:, j : j + W] for j in range(n)], -1)  # (N, W, n)
    suffix = tf.gather(seqs, tf.maximum(cur - n + 1 + tf.range(n - 1), 0), axis=1)  # (N, n-1)
    matches = tf.reduce_all(windows[..., :-1] == suffix[:, None, :], -1)  # (N, W)
    matches &= (tf.range(W) + n <= cur)[None, :]  # windows inside the written tokens
    rows = tf.repeat(tf.range(N), W)
    index = tf.stack([rows, tf.reshape(tf.minimum(windows[..., -1], V - 1), [-1])], 1)
    updates = tf.reshape(tf.cast(matches, tf.int32), [-1])
    banned = tf.tensor_scatter_nd_max(tf.zeros((N, V), tf.int32), index, updates) > 0
    return tf.where(banned & (cur >= n), NEG_INF, scores)


def min_length(seqs, cur, scores, length: int, eos: Sequence[int]):
    """Forbid eos while the rows are shorter than ``length`` tokens (prompt included)."""
    return tf.where(_vocab_mask(scores, eos)[None] & (cur < length), NEG_INF, scores)


def forced_token(seqs, cur, scores, at: int, token_ids: Sequence[int]):
    """Only ``token_ids`` possible when the rows hold ``at`` tokens (forced bos and eos)."""
    forced = tf.where(_vocab_mask(scores, token_ids)[None], 0.0, NEG_INF) + tf.zeros_like(scores)
    return tf.where(cur == at, forced, scores)


def suppress_tokens(seqs, cur, scores, token_ids: Sequence[int], begin: int | None = None):
    """Forbid the listed tokens (with ``begin``: only when the rows hold ``begin`` tokens)."""
    banned = _vocab_mask(scores, token_ids)[None]
    if begin is not None:
        banned &= cur == begin
    return tf.where(banned, NEG_INF, scores)


def temperature(seqs, cur, scores, value: float):
    return scores / value


def top_k(seqs, cur, scores, k: int, keep: int = 1):
    """Keep the ``max(k, keep)`` best tokens (and those tied with the last)."""
    k = min(max(k, keep), scores.shape[-1])
    kth_best = tf.math.top_k(scores, k).values[:, -1:]
    return tf.where(scores < kth_best, NEG_INF, scores)


def top_p(seqs, cur, scores, p: float, keep: int = 1):
    """Keep the smallest set of best tokens whose probabilities add up to more than ``p``."""
    V = scores.shape[-1]
    order = tf.argsort(scores, axis=-1, direction="ASCENDING", stable=True)  # (N, V)
    ascending = tf.gather(scores, order, batch_dims=1)
    cumulative = tf.cumsum(tf.nn.softmax(ascending, -1), axis=-1)
    drop_sorted = (cumulative <= 1 - p) & (tf.range(V) < V - keep)[None]
    inverse = tf.argsort(order, axis=-1, stable=True)
    drop = tf.gather(drop_sorted, inverse, batch_dims=1)
    return tf.where(drop, NEG_INF, scores)


def remove_invalid_values(seqs, cur, scores):
    """NaN to 0 and +/-inf to the largest/smallest finite float32."""
    limit = tf.float32.max
    return tf.where(tf.math.is_nan(scores), 0.0, tf.clip_by_value(scores, -limit, limit))


def _ids(value: int | Sequence[int]) -> list[int]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


_BIND: dict[str, Callable[[dict[str, Any]], Processor]] = {
    # the core's processor names and settings (warmstart.generation.plan) -> this module's controls
    "repetition_penalty": lambda s: partial(repetition_penalty, penalty=float(s["penalty"])),
    "no_repeat_ngram": lambda s: partial(no_repeat_ngram, ngram_size=s["ngram_size"]),
    "min_length": lambda s: partial(min_length, length=s["length"], eos=s["eos_token_id"]),
    "min_new_tokens": lambda s: partial(
        min_length, length=s["prompt_length"] + s["count"], eos=s["eos_token_id"]
    ),
    "forced_bos": lambda s: partial(forced_token, at=1, token_ids=[s["token_id"]]),
    "forced_eos": lambda s: partial(
        forced_token, at=s["max_length"] - 1, token_ids=_ids(s["eos_token_id"])
    ),
    "remove_invalid_values": lambda s: remove_invalid_values,
    "suppress_tokens": lambda s: partial(suppress_tokens, token_ids=list(s["token_ids"])),
    "begin_suppress_tokens": lambda s: partial(
        suppress_tokens, token_ids=list(s["token_ids"]), begin=s["begin_index"]
    ),
    "temperature": lambda s: partial(temperature, value=s["value"]),
    "top_k": lambda s: partial(top_k, k=s["k"], keep=s["min_tokens_to_keep"]),
    "top_p": lambda s: partial(top_p, p=s["p"], keep=s["min_tokens_to_keep"]),
}


def bind(plan: Plan) -> list[Processor]:
    """The plan's processors (:func:`warmstart.generation.plan.make_plan` lists them by name, in
    transformers' order) as this module's controls."""
    return [_BIND[name](settings) for name, settings in plan.processors]


def is_eos(tokens: tf.Tensor, config: GenerationConfig) -> tf.Tensor:
    """Which of ``tokens`` are an eos id."""
    eos = config.eos_ids()
    if not eos:
        return tf.zeros_like(tokens, dtype=tf.bool)
    return tf.reduce_any(tokens[..., None] == tf.constant(eos, tf.int32), -1)


def gumbel(shape: tf.Tensor | tuple[int, ...], seed: tf.Tensor, cur: tf.Tensor) -> tf.Tensor:
    """Gumbel noise of step ``cur`` from a seed (2,): equal seeds give equal noise, eagerly and
    under XLA alike (TensorFlow's stateless generators draw other numbers under XLA). Each
    element hashes its counter with the seed and the step through murmur3's 32-bit finaliser."""
    seed = tf.cast(seed, tf.uint32)
    x = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
    x = x * 0x9E3779B1 + seed[0] * 0x85EBCA77 + seed[1] * 0xC2B2AE3D
    x += tf.cast(cur, tf.uint32) * 0x27D4EB2F
    for shift, factor in ((16, 0x85EBCA6B), (13, 0xC2B2AE35), (16, None)):
        x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, shift))
        if factor is not None:
            x = x * factor
    u = (tf.cast(tf.bitwise.right_shift(x, 8), tf.float32) + 0.5) / 16777216.0  # (0, 1)
    return -tf.math.log(-tf.math.log(u))


def apply(processors: Sequence[Processor], seqs, cur, scores) -> tf.Tensor:
    for process in processors:
        scores = process(seqs, cur, scores)
    return scores
