"""Pieces every TensorFlow model shares: linear products, LayerNorm, activations, attention, masks,
the static decoder cache and the loss.

Written in ``tf`` directly, not ``keras.ops``: decoding is a ``tf.while_loop`` under
``tf.function(jit_compile=True)``, and the JAX backend has its own room (:mod:`warmstart.flax`).
Weights are a flat dict ``name -> tensor`` under the PyTorch side's module names, linear weights in
PyTorch's (out, in) layout, so a checkpoint loads by name and saves back unchanged.

Shape legend: B batch, T query length, S key length, M cache length, H heads, D head size,
C = H * D channels, L layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

Params = dict[str, tf.Tensor]

_GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    **{name: (lambda x: tf.nn.gelu(x, approximate=True)) for name in _GELU_TANH},
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "tanh": tf.tanh,
}


def activation(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown hidden_act {name!r}; supported: {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


def linear(p: Params, name: str, x: tf.Tensor) -> tf.Tensor:
    """``x @ W.T + b`` for the weight ``name.weight`` (out, in) and bias ``name.bias`` if any
    (``name.weight.T``, its transpose, used where present: see :func:`with_transposes`)."""
    w = name + ".weight"
    return project(x, p[w], p.get(name + ".bias"), p.get(w + ".T"))


def project(
    x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor | None = None, w_t: tf.Tensor | None = None
) -> tf.Tensor:
    """``x @ w.T + bias`` for x (..., C) and w (out, C), as one 2-D product (XLA on CPU runs an
    ``einsum`` over (B, T, C) about eight times slower at one row); ``x @ w_t`` where ``w_t``
    (C, out), w's transpose, is given."""
    shape = tf.shape(x)
    x2 = tf.reshape(x, (-1, x.shape[-1]))
    y = tf.matmul(x2, w, transpose_b=True) if w_t is None else tf.matmul(x2, w_t)
    if bias is not None:
        y = y + bias
    return tf.reshape(y, tf.concat([shape[:-1], [w.shape[0]]], 0))


def with_transposes(p: Params, names: list[str]) -> Params:
    """``p`` plus ``name.T``, the transpose (in, out), of each weight in ``names``: taken once before
    a decode loop, as XLA's CPU matrix-vector product reads (in, out) faster than (out, in)."""
    return {**p, **{name + ".T": tf.transpose(p[name]) for name in names}}


def layer_norm(p: Params, name: str, x: tf.Tensor, eps: float) -> tf.Tensor:
    mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + eps) * p[name + ".weight"] + p[name + ".bias"]


def dropout(x: tf.Tensor, rate: float, training: bool) -> tf.Tensor:
    return tf.nn.dropout(x, rate) if training and rate > 0.0 else x


def split_heads(x: tf.Tensor, heads: int, head_size: int | None = None) -> tf.Tensor:
    """(B, T, H * D) -> (B, H, T, D); D is ``head_size``, by default the width / H."""
    B, T = tf.shape(x)[0], tf.shape(x)[1]
    D = x.shape[-1] // heads if head_size is None else head_size
    return tf.transpose(tf.reshape(x, (B, T, heads, D)), (0, 2, 1, 3))


def merge_heads(x: tf.Tensor) -> tf.Tensor:
    """(B, H, T, D) -> (B, T, C)."""
    B, T = tf.shape(x)[0], tf.shape(x)[2]
    return tf.reshape(tf.transpose(x, (0, 2, 1, 3)), (B, T, x.shape[1] * x.shape[3]))


def attend(
    q: tf.Tensor,
    k: tf.Tensor,
    v: tf.Tensor,
    keep: tf.Tensor | None,
    rate: float = 0.0,
    training: bool = False,
    scale: float | None = None,
    weights: list[tf.Tensor] | None = None,
) -> tf.Tensor:
    """Scaled dot-product attention: q (B, H, T, D), k/v (B, H, S, D), boolean ``keep``
    broadcastable to (B, H, T, S) -> (B, T, C). Scores are multiplied by ``scale`` (default
    1/sqrt(D)). The attention weights (B, H, T, S) are appended to ``weights`` when a list is
    given."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = tf.matmul(q * scale, k, transpose_b=True)  # (B, H, T, S)
    if keep is not None:
        scores = tf.where(keep, scores, tf.float32.min)
    probs = dropout(tf.nn.softmax(scores, axis=-1), rate, training)
    if weights is not None:
        weights.append(probs)
    return merge_heads(tf.matmul(probs, v))


def padding_keep(attention_mask: tf.Tensor | None) -> tf.Tensor | None:
    """(B, S) of 1/0 -> boolean (B, 1, 1, S), or None."""
    if attention_mask is None:
        return None
    return tf.cast(attention_mask, tf.bool)[:, None, None, :]


def causal_keep(T: int | tf.Tensor, attention_mask: tf.Tensor | None) -> tf.Tensor:
    """Boolean (B or 1, 1, T, T): causal, and padded positions hidden."""
    return cached_keep(T, T, 0, attention_mask)


@dataclass
class SelfAttention:
    """How a decoder pass attends to itself: over the tokens of the pass (``kv`` None, training and
    scoring) or after ``past`` positions of a static cache ``kv`` (L, 2, B, H, M, D), whose new
    keys/values are written in place of zeros (the cache is a value: :attr:`written` holds the
    new one per layer).

    transformers' ``output_attentions`` / ``output_hidden_states``: with ``attentions`` set, the
    self- and cross-attention weights of each layer are kept in :attr:`self_weights` /
    :attr:`cross_weights`; with ``hidden_states`` set, the pass appends its states to
    :attr:`states` (:meth:`keep_state`). Neither costs anything when unset."""

    keep: tf.Tensor | None
    kv: tf.Tensor | None = None
    past: tf.Tensor | int = 0
    rate: float = 0.0
    training: bool = False
    attentions: bool = False
    hidden_states: bool = False

    def __post_init__(self) -> None:
        self.written: list[tf.Tensor] = []
        self.self_weights: list[tf.Tensor] = []  # (B, H, T, S) per layer, when recording
        self.cross_weights: list[tf.Tensor] = []
        self.states: list[tf.Tensor] = []  # (B, T, C): the embeddings, then each layer's output

    def __call__(
        self, layer: int, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, scale: float | None = None
    ) -> tf.Tensor:
        weights = self.self_weights if self.attentions else None
        if self.kv is None:
            return attend(q, k, v, self.keep, self.rate, self.training, scale, weights)
        cached = write_cache(self.kv[layer], tf.stack([k, v]), self.past)  # (2, B, H, M, D)
        self.written.append(cached)
        return attend(q, cached[0], cached[1], self.keep, scale=scale, weights=weights)

    def cross(
        self,
        q: tf.Tensor,
        kv: tuple[tf.Tensor, tf.Tensor],
        keep: tf.Tensor | None,
        rate: float,
        scale: float | None = None,
    ) -> tf.Tensor:
        """Cross-attention of queries q (B, H, T, D) over the encoder's keys/values -> (B, T, C)."""
        weights = self.cross_weights if self.attentions else None
        return attend(q, kv[0], kv[1], keep, rate, self.training, scale, weights)

    def keep_state(self, x: tf.Tensor) -> None:
        """Append hidden states x (B, T, C) when they are asked for."""
        if self.hidden_states:
            self.states.append(x)

    def recorded(self) -> dict[str, tuple | None]:
        """What the pass kept, as output fields: ``hidden_states``, ``attentions`` and
        ``cross_attentions`` (None where not asked for, or no cross-attention ran)."""
        return {
            "hidden_states": tuple(self.states) if self.hidden_states else None,
            "attentions": tuple(self.self_weights) if self.attentions else None,
            "cross_attentions": tuple(self.cross_weights) if self.cross_weights else None,
        }

    def cache(self) -> tf.Tensor:
        return tf.stack(self.written)  # (L, 2, B, H, M, D)


def write_cache(kv: tf.Tensor, new: tf.Tensor, past: tf.Tensor | int) -> tf.Tensor:
    """Put ``new`` (2, B, H, T, D) at positions past .. past + T - 1 of ``kv`` (2, B, H, M, D)."""
    M, T = kv.shape[3], new.shape[3]
    pos = tf.range(M)
    inside = (pos >= past) & (pos < past + T)  # (M,)
    picked = tf.gather(new, tf.clip_by_value(pos - past, 0, T - 1), axis=3)  # (2, B, H, M, D)
    return tf.where(inside[None, None, None, :, None], picked, kv)


def cached_keep(T: int, M: int, past: tf.Tensor | int, attention_mask: tf.Tensor | None):
    """Boolean (B or 1, 1, T, M) for T queries after ``past`` cached positions of M: causal, and
    positions the (B, M) ``attention_mask`` marks as padding hidden."""
    q = tf.range(T) + past
    keep = (tf.range(M)[None, :] <= q[:, None])[None, None]
    if attention_mask is not None:
        keep = keep & tf.cast(attention_mask, tf.bool)[:, None, None, :]
    return keep


def cross_entropy(logits: tf.Tensor, labels: tf.Tensor, ignore_index: int = -100) -> tf.Tensor:
    """Mean cross-entropy over the labels that are not ``ignore_index`` (as ``F.cross_entropy``):
    logits (..., V), labels (...)."""
    labels = tf.cast(labels, tf.int32)
    counted = labels != ignore_index
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.where(counted, labels, 0), tf.cast(logits, tf.float32)
    )
    counted = tf.cast(counted, tf.float32)
    return tf.reduce_sum(losses * counted) / tf.reduce_sum(counted)
