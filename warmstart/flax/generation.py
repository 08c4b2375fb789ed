"""Generation under ``jax.jit``: greedy search, sampling and beam search as ``lax.while_loop``s.

The loop carries every value it needs (the token buffer, the decoder cache, the next logits); the
cache is a static-size pytree written with ``dynamic_update_slice`` and the cross-attention keys/
values are projected once, by the first (prompt) step outside the loop. Settings are static: one
compile per settings and shapes, kept on the model. The processors and the beam search follow the
PyTorch side (:mod:`warmstart.torch.generation`), which matches transformers token for token; the
settings merge is the core's (:mod:`warmstart.generation.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from ..generation import GenerationConfig
from ..generation.settings import apply_options, cap_length, start_token
from ..outputs import BaseModelOutput, ModelOutput

NOT_IN_FLAX = {
    name: GenerationConfig().to_dict()[name]
    for name in (
        "min_p",
        "top_h",
        "typical_p",
        "epsilon_cutoff",
        "eta_cutoff",
        "encoder_repetition_penalty",
        "encoder_no_repeat_ngram_size",
        "bad_words_ids",
        "sequence_bias",
        "exponential_decay_length_penalty",
        "max_time",
        "prompt_lookup_num_tokens",
        "output_scores",
        "output_logits",
        "renormalize_logits",
        "remove_invalid_values",
    )
}
"""Settings the PyTorch side has and the Flax side refuses (name -> the neutral value)."""


@dataclass
class FlaxGenerateOutput(ModelOutput):
    """``sequences`` (B * num_return_sequences, max_length), a jax array: the start token, then
    the generated ids, padded with ``pad_token_id`` to the full length whether or not every row
    ended early (transformers 4.x's Flax shape: static, so it jits and stacks)."""

    sequences: Any


@dataclass(frozen=True)
class Plan:
    """The static settings of one compiled generation loop."""

    max_length: int
    pad: int
    eos: tuple[int, ...]
    min_length: int = 0
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    forced_bos: int | None = None
    forced_eos: int | None = None
    suppress: tuple[int, ...] = ()
    begin_suppress: tuple[int, ...] = ()
    begin_index: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    num_return_sequences: int = 1


def make_plan(c: GenerationConfig, max_length: int, prompt: int) -> Plan:
    """The :class:`Plan` of a resolved generation config.

    Raises:
        ValueError: a setting the Flax side does not implement.
    """
    found = [f"{k}={getattr(c, k)!r}" for k, v in NOT_IN_FLAX.items() if getattr(c, k) != v]
    if c.do_sample and c.num_beams > 1:
        found.append("do_sample=True with num_beams > 1 (beam sampling)")
    if found:
        raise ValueError(
            f"The Flax generate does not implement {', '.join(found)}; unset them, or use the "
            "PyTorch EncoderDecoderModel."
        )
    eos = tuple(c.eos_ids() or ())
    pad = c.pad_token_id if c.pad_token_id is not None else (eos[0] if eos else 0)
    min_length = c.min_length
    if c.min_new_tokens is not None:
        min_length = max(min_length, prompt + c.min_new_tokens)
    late = prompt == 1 and c.forced_bos_token_id is not None
    return Plan(
        max_length=max_length,
        pad=pad,
        eos=eos,
        min_length=min_length if eos else 0,
        no_repeat_ngram_size=c.no_repeat_ngram_size,
        repetition_penalty=float(c.repetition_penalty),
        forced_bos=c.forced_bos_token_id,
        forced_eos=c.forced_eos_token_id,
        suppress=tuple(c.suppress_tokens or ()),
        begin_suppress=tuple(c.begin_suppress_tokens or ()),
        begin_index=prompt + 1 if late else prompt,
        do_sample=bool(c.do_sample),
        temperature=float(c.temperature),
        top_k=int(c.top_k or 0),
        top_p=float(c.top_p),
        num_beams=c.num_beams,
        length_penalty=float(c.length_penalty),
        early_stopping=c.early_stopping,
        num_return_sequences=c.num_return_sequences,
    )


# ------------------------------------------------------------------------------- processors
def _banned(scores: jax.Array, token_ids: tuple[int, ...] | jax.Array) -> jax.Array:
    """(V,) bool: the vocabulary entries in ``token_ids``."""
    return jnp.isin(jnp.arange(scores.shape[-1]), jnp.asarray(token_ids))


def _where(cond: jax.Array, scores: jax.Array, banned: jax.Array) -> jax.Array:
    return jnp.where(cond & banned, -jnp.inf, scores)


def no_repeat_ngram(seqs: jax.Array, length: jax.Array, scores: jax.Array, n: int) -> jax.Array:
    """Forbid tokens that would repeat an n-gram of ``seqs[:, :length]`` (N, L)."""
    N, L = seqs.shape
    V = scores.shape[-1]
    starts = jnp.arange(L - n + 1)  # (W,) window starts
    windows = seqs[:, starts[:, None] + jnp.arange(n)[None, :]]  # (N, W, n)
    suffix = jax.lax.dynamic_slice_in_dim(seqs, length - n + 1, n - 1, axis=1) if n > 1 else None
    valid = starts <= length - n  # windows inside the tokens so far
    matches = valid[None, :]
    if suffix is not None:
        matches = matches & (windows[..., :-1] == suffix[:, None, :]).all(-1)  # (N, W)
    targets = jnp.where(matches, windows[..., -1], V)  # V: a spare column, dropped
    banned = jnp.zeros((N, V + 1), bool).at[jnp.arange(N)[:, None], targets].set(True)
    return jnp.where(banned[:, :V] & (length >= n), -jnp.inf, scores)


def repetition_penalty(seqs: jax.Array, length: jax.Array, scores: jax.Array, penalty: float):
    N, L = seqs.shape
    V = scores.shape[-1]
    ids = jnp.where(jnp.arange(L)[None, :] < length, jnp.minimum(seqs, V), V)
    seen = jnp.zeros((N, V + 1), bool).at[jnp.arange(N)[:, None], ids].set(True)[:, :V]
    penalized = jnp.where(scores < 0, scores * penalty, scores / penalty)
    return jnp.where(seen, penalized, scores)


def top_k(scores: jax.Array, k: int, keep: int) -> jax.Array:
    k = min(max(k, keep), scores.shape[-1])
    kth = jax.lax.top_k(scores, k)[0][..., -1:]
    return jnp.where(scores < kth, -jnp.inf, scores)


def top_p(scores: jax.Array, p: float, keep: int) -> jax.Array:
    order = jnp.argsort(scores, axis=-1)  # ascending
    ascending = jnp.take_along_axis(scores, order, axis=-1)
    cumulative = jnp.cumsum(jax.nn.softmax(ascending, axis=-1), axis=-1)
    drop_sorted = cumulative <= (1 - p)
    drop_sorted = drop_sorted.at[..., -keep:].set(False)
    drop = (
        jnp.zeros_like(drop_sorted).at[jnp.arange(scores.shape[0])[:, None], order].set(drop_sorted)
    )
    return jnp.where(drop, -jnp.inf, scores)


def process(plan: Plan, seqs: jax.Array, length: jax.Array, scores: jax.Array) -> jax.Array:
    """The PyTorch side's processors, in transformers' order, over tokens ``seqs[:, :length]``."""
    if plan.repetition_penalty != 1.0:
        scores = repetition_penalty(seqs, length, scores, plan.repetition_penalty)
    if plan.no_repeat_ngram_size > 0:
        scores = no_repeat_ngram(seqs, length, scores, plan.no_repeat_ngram_size)
    if plan.eos and plan.min_length > 0:
        scores = _where(length < plan.min_length, scores, _banned(scores, plan.eos))
    for token, at in ((plan.forced_bos, 1), (plan.forced_eos, plan.max_length - 1)):
        if token is not None:
            forced = jnp.where(_banned(scores, (token,)), 0.0, -jnp.inf)
            scores = jnp.where(length == at, forced[None, :], scores)
    if plan.suppress:
        scores = _where(True, scores, _banned(scores, plan.suppress))
    if plan.begin_suppress:
        scores = _where(length == plan.begin_index, scores, _banned(scores, plan.begin_suppress))
    if plan.do_sample:
        if plan.temperature != 1.0:
            scores = scores / plan.temperature
        if plan.top_k:
            scores = top_k(scores, plan.top_k, 1)
        if plan.top_p < 1.0:
            scores = top_p(scores, plan.top_p, 1)
    return scores


# ------------------------------------------------------------------------------- the loops
def _step(module: Any, params: dict, tokens: jax.Array, cache: dict, enc, enc_mask):
    """One decoder call: the float32 logits of the last position (N, V) and the new cache."""
    logits, cache = module.apply(
        {"params": params}, tokens, enc, enc_mask, None, cache, False, method="decode"
    )
    return logits[:, -1].astype(jnp.float32), cache


def _prepare(module, params, enc, enc_mask, start, times: int, empty_cache):
    """Repeat each input ``times`` times; return (ids, enc, enc_mask, cache) with the cache's
    cross-attention keys/values projected: of a decoder call on the prompt only they are kept, so
    XLA drops the rest, and the loop compiles the decoder step once."""
    enc = jnp.repeat(enc, times, axis=0)
    enc_mask = None if enc_mask is None else jnp.repeat(enc_mask, times, axis=0)
    start = jnp.repeat(start, times, axis=0)
    cache = empty_cache(start.shape[0])
    _, projected = _step(module, params, start, cache, enc, enc_mask)
    return start, enc, enc_mask, {**cache, "cross": projected["cross"]}


def token_loop(module, plan: Plan, empty_cache, params, enc, enc_mask, start, key):
    """Greedy search or sampling: (sequences (N, L), length)."""
    start, enc, enc_mask, cache = _prepare(
        module, params, enc, enc_mask, start, plan.num_return_sequences, empty_cache
    )
    N, P = start.shape
    seqs = jnp.full((N, plan.max_length), plan.pad, start.dtype).at[:, :P].set(start)
    eos = jnp.asarray(plan.eos, start.dtype)

    def cond(s):
        return (s[0] < plan.max_length) & s[2].any()

    def body(s):
        length, seqs, unfinished, cache, feed, key = s
        logits, cache = _step(module, params, feed, cache, enc, enc_mask)
        scores = process(plan, seqs, length, logits)
        if plan.do_sample:
            key, sub = jax.random.split(key)
            tokens = jax.random.categorical(sub, scores, axis=-1).astype(seqs.dtype)
        else:
            tokens = jnp.argmax(scores, axis=-1).astype(seqs.dtype)  # (N,)
        if plan.eos:
            tokens = jnp.where(unfinished, tokens, plan.pad)
            unfinished = unfinished & ~jnp.isin(tokens, eos)
        seqs = jax.lax.dynamic_update_slice(seqs, tokens[:, None], (0, length))
        return length + 1, seqs, unfinished, cache, tokens[:, None], key

    state = (jnp.int32(P), seqs, jnp.ones((N,), bool), cache, start, key)
    length, seqs, *_ = jax.lax.while_loop(cond, body, state)
    return seqs, length


def _take(x: jax.Array, index: jax.Array) -> jax.Array:
    """Pick along axis 1 of a (B, K, ...) array with a (B, C) index."""
    return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)


def _beam_step(plan: Plan, s: dict, prompt: int) -> tuple[dict, jax.Array, jax.Array]:
    """One beam-search step over the next logits in ``s``, as the PyTorch side's (transformers
    5.24's): returns the new state, the cache rows the live beams extend and whether it stops."""
    B, K, L = s["running"].shape
    length = s["length"]
    log_probs = jax.nn.log_softmax(s["logits"], axis=-1)  # (N, V)
    log_probs = process(plan, s["running"].reshape(B * K, L), length, log_probs)
    V = log_probs.shape[-1]
    C = max(2, 1 + len(plan.eos)) * K
    total = log_probs.reshape(B, K, V) + s["running_scores"][:, :, None]
    scores, picks = jax.lax.top_k(total.reshape(B, K * V), C)  # (B, C)
    source, tokens = picks // V, (picks % V).astype(s["running"].dtype)
    sequences = _take(s["running"], source).at[:, :, length].set(tokens)  # (B, C, L)
    finished = jnp.broadcast_to(length + 1 >= plan.max_length, tokens.shape)
    if plan.eos:
        finished = finished | jnp.isin(tokens, jnp.asarray(plan.eos))
    live = scores + finished * -1.0e9
    running_scores, keep = jax.lax.top_k(live, K)
    rows = (_take(source, keep) + jnp.arange(B)[:, None] * K).reshape(-1)  # (N,)
    new = finished & (jnp.arange(C) < K)[None, :]
    steps = (length + 1 - prompt).astype(jnp.float32)
    final = scores / steps**plan.length_penalty
    if plan.early_stopping is True:
        final += s["is_done"].all(-1, keepdims=True) * -1.0e9
    final += ~s["improvable"] * -1.0e9 + ~new * -1.0e9
    merged = jnp.concatenate([s["done_scores"], final], axis=1)
    done_scores, best = jax.lax.top_k(merged, K)
    lengths = jnp.full(tokens.shape, length + 1, jnp.int32)
    out = {
        "running": _take(sequences, keep),
        "running_scores": running_scores,
        "done": _take(jnp.concatenate([s["done"], sequences], axis=1), best),
        "done_scores": done_scores,
        "done_lengths": _take(jnp.concatenate([s["done_lengths"], lengths], axis=1), best),
        "is_done": _take(jnp.concatenate([s["is_done"], new], axis=1), best),
        "length": length + 1,
    }
    if plan.early_stopping == "never" and plan.length_penalty > 0.0:
        best_length = jnp.float32(plan.max_length - prompt)
    else:
        best_length = (length + 1 - prompt).astype(jnp.float32)
    best_live = running_scores[:, :1] / best_length**plan.length_penalty  # (B, 1)
    worst = jnp.where(out["is_done"], done_scores.min(1, keepdims=True), -1.0e9)  # (B, K)
    out["improvable"] = s["improvable"] & (best_live > worst).any(-1, keepdims=True)
    stop = ~out["improvable"].any() | finished.all()
    if plan.early_stopping is True:
        stop = stop | out["is_done"].all()
    return out, rows, stop


def beam_loop(module, plan: Plan, empty_cache, params, enc, enc_mask, start, key):
    """Beam search: (sequences (B * num_return_sequences, L), length)."""
    K, L = plan.num_beams, plan.max_length
    start, enc, enc_mask, cache = _prepare(module, params, enc, enc_mask, start, K, empty_cache)
    N, P = start.shape
    B = N // K
    fill = (plan.pad or plan.eos[0]) if plan.eos else -1
    running = jnp.full((B, K, L), fill, start.dtype).at[:, :, :P].set(start.reshape(B, K, P))
    state = {
        "running": running,
        "running_scores": jnp.zeros((B, K)).at[:, 1:].set(-1.0e9),
        "done": running,
        "done_scores": jnp.full((B, K), -1.0e9),
        "done_lengths": jnp.full((B, K), P, jnp.int32),
        "is_done": jnp.zeros((B, K), bool),
        "improvable": jnp.ones((B, 1), bool),
        "length": jnp.int32(P),
    }

    def cond(carry):
        return ~carry[3]

    def body(carry):
        s, cache, feed, _ = carry
        logits, cache = _step(module, params, feed, cache, enc, enc_mask)
        s, rows, stop = _beam_step(plan, {**s, "logits": logits}, P)
        cache = {**cache, "self": [(k[rows], v[rows]) for k, v in cache["self"]]}
        feed = jax.lax.dynamic_slice_in_dim(s["running"], s["length"] - 1, 1, axis=2)
        return s, cache, feed.reshape(N, 1), stop

    s, *_ = jax.lax.while_loop(cond, body, (state, cache, start, jnp.bool_(False)))
    R = plan.num_return_sequences
    return s["done"][:, :R].reshape(B * R, L), s["done_lengths"][:, :R].max()


# ------------------------------------------------------------------------------- entry point
def generate(
    model: Any,
    input_ids: jax.Array | None = None,
    attention_mask: jax.Array | None = None,
    generation_config: GenerationConfig | None = None,
    prng_key: jax.Array | None = None,
    encoder_outputs: Any = None,
    params: dict | None = None,
    token_type_ids: jax.Array | None = None,
    **kwargs: Any,
) -> FlaxGenerateOutput:
    """Generate with a :class:`FlaxEncoderDecoderModel`, the whole loop under ``jax.jit``.

    Args:
        model: the model.
        input_ids: (B, S) source ids (or ``encoder_outputs``, precomputed).
        attention_mask: (B, S); inferred from ``pad_token_id`` when omitted.
        generation_config: base settings (default: the model's, with token ids set on
            ``model.config`` after creation honoured).
        prng_key: the random key for sampling (default ``jax.random.key(0)``).
        encoder_outputs: the encoder's output, to skip running it.
        params: other parameters than ``model.params``.
        **kwargs: GenerationConfig fields: ``max_new_tokens``, ``max_length``, ``min_length``,
            ``num_beams``, ``length_penalty``, ``early_stopping``, ``num_return_sequences``,
            ``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``no_repeat_ngram_size``,
            ``repetition_penalty``, ``forced_bos_token_id``, ``forced_eos_token_id``,
            ``suppress_tokens``, ``begin_suppress_tokens``, token ids.

    Returns:
        ``.sequences`` (B * num_return_sequences, max_length), starting with the start token,
        padded to the full length as transformers 4.x's Flax generate.
    """
    kwargs.pop("trace", None)  # 4.x's trace=False ran the loop unjitted: same tokens
    if kwargs.pop("logits_processor", None):
        raise ValueError(
            "logits_processor= is not supported by the Flax generate; set the processors through "
            "GenerationConfig fields (top_k=, no_repeat_ngram_size=, ...)."
        )
    config = apply_options(model._generation_config(generation_config), kwargs)
    config.validate()
    params = model.params if params is None else params
    if attention_mask is None and input_ids is not None and config.pad_token_id is not None:
        attention_mask = (jnp.asarray(input_ids) != config.pad_token_id).astype(jnp.int32)
    if encoder_outputs is None:
        if input_ids is None:
            raise ValueError("Pass input_ids (or encoder_outputs) to generate.")
        encoder_outputs = model.encode(
            input_ids, attention_mask, token_type_ids=token_type_ids, params=params
        )
    enc = last_hidden_state(encoder_outputs)
    start = jnp.full((enc.shape[0], 1), start_token(config), jnp.int32)
    length = cap_length(config, 1, model.config.decoder.max_position_embeddings)
    plan = make_plan(config, length, 1)
    loop = beam_loop if plan.num_beams > 1 else token_loop
    empty = partial(_empty_cache, model, length)
    run = model._jit(("generate", plan), partial(loop, model.module, plan, empty))
    mask = None if attention_mask is None else jnp.asarray(attention_mask)
    key = jax.random.key(0) if prng_key is None else prng_key
    seqs, _ = run(params, enc, mask, start, key)
    return FlaxGenerateOutput(sequences=seqs)


def _empty_cache(model: Any, length: int, rows: int) -> dict:
    return model.init_cache(rows, length)


def last_hidden_state(encoder_outputs: Any) -> jax.Array:
    """The states of an encoder output given as an output object (this library's or
    transformers', read by field name), a dict, a tuple or an array."""
    if isinstance(encoder_outputs, BaseModelOutput) or hasattr(
        encoder_outputs, "last_hidden_state"
    ):
        return jnp.asarray(encoder_outputs.last_hidden_state)
    if isinstance(encoder_outputs, dict):
        return jnp.asarray(encoder_outputs["last_hidden_state"])
    if isinstance(encoder_outputs, tuple | list):
        return jnp.asarray(encoder_outputs[0])
    return jnp.asarray(encoder_outputs)
