"""Pieces every Flax architecture shares: dense and embedding layers with transformers' init,
attention over a cache held as a value, masks, activations and the loss.

The decoder cache is a pytree, passed in and returned (flax's wmt decoding keeps it the same way):
``{"index": () int32, "self": [(k, v)] per layer, each (B, H, M, D), "cross": [(k, v)] or None}``.
Cross-attention keys/values are projected from the encoder states on the first cached call and then
read from ``cache["cross"]``.

Shape legend: B batch, T query length, S key length, M cache length, H heads, D head size,
C = H * D channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.traverse_util import flatten_dict

Array = Any

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_fast": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
}


def activation(name: str) -> Callable[[Array], Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown hidden_act {name!r}; supported: {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


def dense(features: int, std: float, name: str, use_bias: bool = True) -> nn.Dense:
    """``nn.Dense`` (kernel (in, out), bias) initialised as transformers does: normal(std), zeros."""
    return nn.Dense(features, use_bias=use_bias, kernel_init=nn.initializers.normal(std), name=name)


def embed(num: int, features: int, std: float, name: str) -> nn.Embed:
    return nn.Embed(num, features, embedding_init=nn.initializers.normal(std), name=name)


def layer_norm(eps: float, name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=eps, name=name)


class Conv1D(nn.Module):
    """GPT-2's projection with transformers 4.x Flax's layout: kernel (out, in), ``x @ kernel.T``."""

    features: int
    std: float

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self.param(
            "kernel", nn.initializers.normal(self.std), (self.features, x.shape[-1])
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return x @ kernel.T + bias


def split_heads(x: Array, num_heads: int, head_size: int | None = None) -> Array:
    """(B, T, H * D) -> (B, H, T, D); D is ``head_size``, by default the width / H."""
    B, T, C = x.shape
    D = C // num_heads if head_size is None else head_size
    return x.reshape(B, T, num_heads, D).transpose(0, 2, 1, 3)


def merge_heads(x: Array) -> Array:
    """(B, H, T, D) -> (B, T, C)."""
    B, H, T, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * D)


def attend(
    q: Array,
    k: Array,
    v: Array,
    keep: Array | None,
    rate: float,
    train: bool,
    scale: float | None = None,
) -> tuple[Array, Array]:
    """Scaled dot-product attention (call it inside a module's compact method). q (B, H, T, D),
    k/v (B, H, S, D), ``keep`` a boolean mask broadcast to (B, H, T, S) -> the output (B, T, C) and
    the probabilities (B, H, T, S). Scores are multiplied by ``scale`` (default 1/sqrt(D)).
    Dropout on the probabilities in training."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = (q * scale) @ k.swapaxes(-1, -2)  # (B, H, T, S)
    if keep is not None:
        scores = jnp.where(keep, scores, jnp.finfo(scores.dtype).min)
    probs = jax.nn.softmax(scores, axis=-1)
    if train and rate > 0.0:
        probs = nn.Dropout(rate)(probs, deterministic=False)
    return merge_heads(probs @ v), probs


INTERMEDIATES = "intermediates"
"""The flax collection attention weights and hidden states are sown into: only a call that makes
it mutable (asked for them) keeps them, so the fast path computes nothing for them."""


def record_attention(module: nn.Module, probs: Array, cross: bool) -> None:
    """Keep one layer's attention probabilities (B, H, T, S) when they were asked for."""
    module.sow(INTERMEDIATES, "cross_attentions" if cross else "attentions", probs)


def record_hidden(module: nn.Module, x: Array) -> None:
    """Keep one hidden state (B, T, C) (the embeddings' or a layer's output) when asked for."""
    module.sow(INTERMEDIATES, "hidden_states", x)


def sown(intermediates: dict, name: str) -> tuple[Array, ...]:
    """Every value sown as ``name`` (``attentions``, ``cross_attentions``, ``hidden_states``) in
    a call's intermediates, layer by layer (call order, layer numbers compared as numbers)."""
    found = [(p, v) for p, v in flatten_dict(intermediates).items() if p[-1] == name]
    found.sort(key=lambda pv: [int(x) for x in pv[0] if x.isdigit()][:1])
    return tuple(x for _, values in found for x in values)


def apply_recording(
    module: nn.Module,
    params: dict,
    args: tuple,
    rngs: dict,
    record: bool,
    method: str | None = None,
    **kwargs: Any,
) -> tuple[Any, dict]:
    """``module.apply`` (``args`` and ``kwargs`` its inputs) and, with ``record``, what its layers
    sowed (attention weights, hidden states); without it nothing is kept, so nothing is computed
    for them."""
    variables = {"params": params}
    if not record:
        return module.apply(variables, *args, rngs=rngs, method=method, **kwargs), {}
    out, state = module.apply(
        variables, *args, rngs=rngs, method=method, mutable=[INTERMEDIATES], **kwargs
    )
    return out, state.get(INTERMEDIATES, {})


def padding_keep(attention_mask: Array | None) -> Array | None:
    """(B, S) of 1 (keep) / 0 (pad) -> boolean (B, 1, 1, S)."""
    if attention_mask is None:
        return None
    return attention_mask[:, None, None, :].astype(bool)


def causal_keep(T: int, start: Array | int, S: int, attention_mask: Array | None) -> Array:
    """Boolean (B or 1, 1, T, S): query ``start + t`` sees keys ``<= start + t`` that the (B, S)
    ``attention_mask`` keeps (a shorter mask covers the first keys, the rest are kept)."""
    q_pos = start + jnp.arange(T)[:, None]
    keep = (jnp.arange(S)[None, :] <= q_pos)[None, None]  # (1, 1, T, S)
    if attention_mask is not None:
        mask = attention_mask.astype(bool)
        if mask.shape[1] < S:
            mask = jnp.pad(mask, ((0, 0), (0, S - mask.shape[1])), constant_values=True)
        keep = keep & mask[:, None, None, :S]
    return keep


def cached_kv(cache: dict | None, layer: int, k: Array, v: Array) -> tuple[Array, Array, dict]:
    """Write self-attention k/v (B, H, T, D) at ``cache["index"]``; return the whole cached k/v
    (B, H, M, D) and the layer's new entry (or k, v themselves without a cache)."""
    if cache is None:
        return k, v, None
    old_k, old_v = cache["self"][layer]
    at = (0, 0, cache["index"], 0)
    k = jax.lax.dynamic_update_slice(old_k, k.astype(old_k.dtype), at)
    v = jax.lax.dynamic_update_slice(old_v, v.astype(old_v.dtype), at)
    return k, v, (k, v)


def cross_kv(
    cache: dict | None, layer: int, project: Callable[[], tuple[Array, Array]]
) -> tuple[Array, Array]:
    """Cross-attention keys/values (B, H, S, D): from the cache when it holds them, else projected."""
    if cache is not None and cache.get("cross") is not None:
        return cache["cross"][layer]
    return project()


def new_cache(
    num_layers: int,
    batch_size: int,
    num_heads: int,
    width: int,
    max_length: int,
    dtype=jnp.float32,
    head_size: int | None = None,
) -> dict:
    """An empty cache (see the module docstring) for ``max_length`` positions; heads of
    ``head_size`` channels (default width / heads)."""
    D = width // num_heads if head_size is None else head_size
    shape = (batch_size, num_heads, max_length, D)
    zeros = [(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)) for _ in range(num_layers)]
    return {"index": jnp.zeros((), jnp.int32), "self": zeros, "cross": None}


@dataclass
class Pass:
    """What every layer of one call reads (masks, encoder states, the cache, whether training)
    and where it leaves its new cache entries."""

    keep: Array | None  # self-attention, broadcast to (B, H, T, S)
    train: bool = False
    enc: Array | None = None  # (B, S_enc, C) encoder states, for cross-attention
    enc_keep: Array | None = None
    cache: dict | None = None
    new_self: dict = field(default_factory=dict)
    new_cross: dict = field(default_factory=dict)

    def new_cache(self, T: int) -> dict | None:
        """The cache after this call's T positions."""
        if self.cache is None:
            return None
        n = len(self.cache["self"])
        return {
            "index": self.cache["index"] + T,
            "self": [self.new_self[i] for i in range(n)],
            "cross": [self.new_cross[i] for i in range(n)] if self.new_cross else None,
        }


def decoder_pass(
    T: int,
    attention_mask: Array | None,
    enc: Array | None,
    encoder_attention_mask: Array | None,
    cache: dict | None,
    train: bool,
) -> tuple[Pass, Array | int]:
    """The :class:`Pass` of a causal decoder call over T new tokens, and its first position."""
    start = 0 if cache is None else cache["index"]
    S = T if cache is None else cache["self"][0][0].shape[2]
    keep = causal_keep(T, start, S, attention_mask)
    return Pass(keep, train, enc, padding_keep(encoder_attention_mask), cache), start


class DecoderModule(nn.Module):
    """A decoder family's linen module (its body under its LM head), called with transformers
    4.x Flax's decoder inputs in their order: returns the logits (B, T, V) and the new cache (or
    None). A family defines :meth:`logits` over the call's :class:`Pass`."""

    config: Any

    @nn.compact
    def __call__(
        self,
        input_ids: Array,
        attention_mask: Array | None = None,
        encoder_hidden_states: Array | None = None,
        encoder_attention_mask: Array | None = None,
        cache: dict | None = None,
        train: bool = False,
        token_type_ids: Array | None = None,
    ) -> tuple[Array, dict | None]:
        T = input_ids.shape[1]
        p, start = self.make_pass(
            T, attention_mask, encoder_hidden_states, encoder_attention_mask, cache, train
        )
        return self.logits(input_ids, token_type_ids, p, start), p.new_cache(T)

    def make_pass(self, *args: Any) -> tuple[Pass, Array | int]:
        """The call's :class:`Pass` and first position: :func:`decoder_pass`'s arguments."""
        return decoder_pass(*args)

    def logits(
        self, input_ids: Array, token_type_ids: Array | None, p: Pass, start: Array | int
    ) -> Array:
        """(B, T, V): the body and the head, created here (this runs inside :meth:`__call__`)."""
        raise NotImplementedError


class QKVAttention(nn.Module):
    """Multi-head attention with separate query/key/value projections named ``names``: self-
    attention (keys/values written to the cache) or, with ``cross``, attention over the encoder
    states (keys/values projected once per decode). Returns (B, T, H * D), through the output
    projection ``out`` (back to the width C) when it is named (BART's ``out_proj``). Heads are
    ``head_size`` wide (default C / heads), scores multiplied by ``scale`` (default 1/sqrt(D))."""

    num_heads: int
    std: float
    rate: float
    layer: int
    names: tuple[str, str, str] = ("query", "key", "value")
    out: str | None = None
    head_size: int | None = None
    scale: float | None = None

    @nn.compact
    def __call__(self, x: Array, p: Pass, cross: bool = False) -> Array:
        C, H = x.shape[-1], self.num_heads
        D = C // H if self.head_size is None else self.head_size
        query, key, value = (dense(H * D, self.std, n) for n in self.names)
        q = split_heads(query(x), H, D)  # (B, H, T, D)
        if cross:
            k, v = cross_kv(
                p.cache,
                self.layer,
                lambda: (split_heads(key(p.enc), H, D), split_heads(value(p.enc), H, D)),
            )
            p.new_cross[self.layer] = (k, v)
            h, probs = attend(q, k, v, p.enc_keep, self.rate, p.train, self.scale)
        else:
            k, v = split_heads(key(x), H, D), split_heads(value(x), H, D)
            k, v, p.new_self[self.layer] = cached_kv(p.cache, self.layer, k, v)
            h, probs = attend(q, k, v, p.keep, self.rate, p.train, self.scale)
        record_attention(self, probs, cross)
        return h if self.out is None else dense(C, self.std, self.out)(h)


def tied_logits(h: Array, embedding: Array) -> Array:
    """``h @ embedding.T``: (..., C) states against the (V, C) word embeddings -> (..., V) logits,
    computed as ``embedding @ h.T``. Written ``h @ embedding.T``, XLA's CPU backend copies the
    transposed table at every call when ``h`` has one row (a batch-1 decoding step), which takes
    several times as long as the step's products."""
    flat = h.reshape(-1, h.shape[-1])  # (N, C)
    return (embedding @ flat.T).T.reshape(*h.shape[:-1], embedding.shape[0])


def tied_embedding(module: nn.Module, *path: str) -> Array:
    """A parameter of an already called child of ``module`` (the word embeddings an LM head is
    tied to), by its path in ``module``'s params."""
    params = module.variables["params"]
    for name in path:
        params = params[name]
    return params


def cross_entropy(logits: Array, labels: Array, ignore_index: int = -100) -> Array:
    """Mean token cross-entropy of ``logits`` (..., V) against ``labels`` (...), in fp32, over
    the labels that are not ``ignore_index`` (NaN when there are none, as torch's)."""
    counted = labels != ignore_index
    targets = jnp.where(counted, labels, 0)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return -(picked * counted).sum() / counted.sum()
