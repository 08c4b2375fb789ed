"""Greedy search, sampling and beam search over numpy arrays, as free functions over a step
callable, for rooms that run without a framework (:mod:`warmstart.onnx`).

The same contract and the same arithmetic as the PyTorch side's search
(:mod:`warmstart.torch.generation.search`, itself transformers' ``generate``)::

    step(tokens: int64 (N, t), cache) -> (float32 logits (N, V), cache)
    reorder(cache, index: int64 (N',)) -> cache      # expand inputs to beams, follow beams,
                                                     # drop the rows of inputs beam search ended

A step may return :class:`Scores` instead of the logits: the logits with their log-softmax, which
beam search then takes as it is (a runtime computes it faster than numpy).

:func:`generate` follows the core's plan (:func:`warmstart.generation.plan.make_plan`): lengths,
the processors by name (bound to :mod:`.numpy_processors`), the search. Greedy and beam search give
the PyTorch side's tokens on the same logits; sampling draws from a ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from time import monotonic
from typing import Any, NamedTuple

import numpy as np

from . import numpy_processors as P
from .config import GenerationConfig
from .plan import make_plan
from .settings import beam_fill, pad_id


class Scores(NamedTuple):
    """What a step may return in place of the logits: both (N, V) float32."""

    logits: np.ndarray
    log_probs: np.ndarray


Step = Callable[[np.ndarray, Any], tuple[np.ndarray | Scores, Any]]
Reorder = Callable[[Any, np.ndarray], Any]
NEG = np.float32(-1.0e9)


def generate(
    step: Step,
    reorder: Reorder,
    cache: Any,
    start_ids: np.ndarray,
    config: GenerationConfig | None = None,
    *,
    encoder_input_ids: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    streamer: Callable[[np.ndarray | None], None] | None = None,
    **options: Any,
) -> np.ndarray:
    """Generate continuations of ``start_ids`` (B, P): beam search, sampling or greedy search.

    Args:
        step, reorder: the model's callables (see the module docstring).
        cache: the cache for the B input rows.
        start_ids: (B, P) decoder prompts, usually the start token.
        config: base settings; ``options`` override them (not modified).
        encoder_input_ids: (B, S), for the encoder n-gram / repetition controls.
        rng: random source for sampling (default: a fresh unseeded one).
        streamer: greedy search and sampling: called with each step's tokens (N,), then None.

    Returns:
        (B * rows, L) int64 sequences, prompt included, padded as the PyTorch side pads them.
    """
    loop = _start(step, reorder, cache, start_ids, config, encoder_input_ids, rng, options)
    if isinstance(loop, np.ndarray):
        if streamer is not None:
            raise ValueError("A streamer cannot follow beam search; set `num_beams=1` to stream.")
        return loop
    try:
        while True:
            tokens = next(loop)
            if streamer is not None:
                streamer(tokens)
    except StopIteration as done:
        if streamer is not None:
            streamer(None)
        return done.value


def stream(
    step: Step,
    reorder: Reorder,
    cache: Any,
    start_ids: np.ndarray,
    config: GenerationConfig | None = None,
    *,
    encoder_input_ids: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    **options: Any,
) -> Generator[np.ndarray, None, np.ndarray]:
    """:func:`generate` for greedy search and sampling as an iterator over each step's tokens
    (N,); the sequences are the generator's return value."""
    loop = _start(step, reorder, cache, start_ids, config, encoder_input_ids, rng, options, True)
    return (yield from loop)


def _start(
    step, reorder, cache, start_ids, config, encoder_input_ids, rng, options, streaming=False
):
    start_ids = np.asarray(start_ids, dtype=np.int64)
    plan = make_plan(config, start_ids.shape[1], **options) if start_ids.ndim == 2 else None
    if plan is None or start_ids.shape[1] == 0:
        raise ValueError(
            f"`start_ids` must be (batch, prompt_length >= 1) token ids, not {start_ids.shape}."
        )
    if plan.search == "lookup":
        raise ValueError(
            "prompt_lookup_num_tokens is not supported by the ONNX runtime; leave it unset."
        )
    if streaming and plan.search == "beam":
        raise ValueError("Beam search cannot be streamed; set `num_beams=1` to stream.")
    processors = P.build(plan.processors, encoder_input_ids)
    times = plan.rows_per_input
    if times > 1:
        index = np.repeat(np.arange(start_ids.shape[0]), times)
        start_ids, cache = start_ids[index], reorder(cache, index)
    c = plan.config
    if plan.search == "beam":
        by_input = any(name.startswith("encoder_") for name, _ in plan.processors)
        return beam_search(step, reorder, cache, start_ids, c, processors, rng, not by_input)
    rng = rng if rng is not None else np.random.default_rng()
    return _token_loop(step, cache, start_ids, c, processors, plan.search == "sample", rng)


def _sample(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row drawn from softmax(scores) (N, V)."""
    probs = P.softmax(scores.astype(np.float64))
    u = rng.random((scores.shape[0], 1))
    return np.minimum((probs.cumsum(-1) < u).sum(-1), scores.shape[-1] - 1)


def _token_loop(step, cache, input_ids, config, processors, sampling, rng):
    """Greedy search or sampling; yields each step's tokens (N,), returns the sequences."""
    eos = config.eos_ids()
    eos = None if eos is None else np.asarray(eos)
    pad = pad_id(config)
    if eos is not None and pad is None:
        raise ValueError("Set pad_token_id (or eos_token_id) to pad rows that end early.")
    unfinished = np.ones(input_ids.shape[0], dtype=bool)
    deadline = None if config.max_time is None else monotonic() + config.max_time
    new_tokens = input_ids
    while True:
        logits, cache = step(new_tokens, cache)
        logits = logits.logits if isinstance(logits, Scores) else logits
        scores = P.apply(processors, input_ids, logits.astype(np.float32))
        tokens = _sample(scores, rng) if sampling else scores.argmax(-1)
        if eos is not None:
            tokens = np.where(unfinished, tokens, pad)
            unfinished &= ~np.isin(tokens, eos)
        input_ids = np.concatenate([input_ids, tokens[:, None]], axis=1)
        yield tokens
        if input_ids.shape[1] >= config.max_length or not unfinished.any():
            break
        if deadline is not None and monotonic() > deadline:
            break
        new_tokens = tokens[:, None]
    return input_ids


# ---------------------------------------------------------------------------------- beam search


@dataclass
class _Beams:
    running: np.ndarray  # (B, K, L)
    running_scores: np.ndarray  # (B, K)
    done: np.ndarray  # (B, K, L)
    done_scores: np.ndarray  # (B, K)
    done_lengths: np.ndarray  # (B, K)
    is_done: np.ndarray  # (B, K)
    improvable: np.ndarray  # (B, 1)


def _take(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Pick along axis 1 of a (B, K, ...) array with a (B, C) index."""
    while index.ndim < x.ndim:
        index = index[..., None]
    return np.take_along_axis(x, index, axis=1)


GROUP = 64  # _top's group size on long rows


def _top(x: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest of each row of x (B, M), best first.

    On long rows (beam search's K * V scores) positions fall into groups of ``GROUP`` (every
    G-th one, so that the group maxima are one vectorised pass): a group holding one of the k
    largest has a maximum at least as large, and fewer than k groups can beat it, so only the
    k best groups (and the < GROUP positions left over) are partitioned."""
    B, M = x.shape
    if k >= M:
        part = np.broadcast_to(np.arange(M), x.shape)
    elif 16 * k * GROUP <= M:
        G = M // GROUP
        best = np.argpartition(x[:, : GROUP * G].reshape(B, GROUP, G).max(1), G - k, axis=1)
        cand = best[:, None, G - k :] + (np.arange(GROUP) * G)[None, :, None]  # (B, GROUP, k)
        rest = np.broadcast_to(np.arange(GROUP * G, M), (B, M - GROUP * G))
        cand = np.concatenate([cand.reshape(B, -1), rest], axis=1)
        C = cand.shape[1]
        within = np.argpartition(np.take_along_axis(x, cand, 1), C - k, axis=1)[:, C - k :]
        part = np.take_along_axis(cand, within, axis=1)
    else:
        part = np.argpartition(x, M - k, axis=1)[:, M - k :]
    order = np.argsort(-np.take_along_axis(x, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def beam_search(
    step, reorder, cache, input_ids, config, processors, rng=None, shrink=True
) -> np.ndarray:
    """Beam search (beam sampling with ``do_sample``) as the PyTorch side runs it: each step keeps
    the best ``K * max(2, 1 + n_eos)`` continuations; those ending in eos (or at ``max_length``)
    among the first K become hypotheses scored ``sum_logprob / length ** length_penalty``.

    With ``shrink`` (not with sampling), an input whose hypotheses can no longer change leaves the
    batch: later steps run the inputs still searching only (``reorder`` gets their rows alone, an
    input's beams still adjacent), with the same results.

    Returns:
        (B * num_return_sequences, L) the best hypotheses of each input, best first.
    """
    K, prompt, L = config.num_beams, input_ids.shape[1], config.max_length
    B = input_ids.shape[0] // K
    eos = config.eos_ids()
    eos_arr = None if eos is None else np.asarray(eos)
    count = max(2, 1 + (0 if eos is None else len(eos))) * K
    running = np.full((B, K, L), beam_fill(config), dtype=np.int64)
    running[:, :, :prompt] = input_ids.reshape(B, K, prompt)
    scores0 = np.zeros((B, K), dtype=np.float32)
    scores0[:, 1:] = NEG
    s = _Beams(
        running,
        scores0,
        running.copy(),
        np.full((B, K), NEG, dtype=np.float32),
        np.full((B, K), prompt, dtype=np.int64),
        np.zeros((B, K), dtype=bool),
        np.ones((B, 1), dtype=bool),
    )
    deadline = None if config.max_time is None else monotonic() + config.max_time
    new_tokens, length = input_ids, prompt
    shrink = shrink and not config.do_sample
    active = np.arange(B)  # the inputs still searching, in order
    out_done, out_lengths = s.done.copy(), s.done_lengths.copy()
    while True:
        B = len(active)
        logits, cache = step(new_tokens, cache)
        if isinstance(logits, Scores):
            log_probs = logits.log_probs
        else:
            log_probs = P.log_softmax(logits.astype(np.float32))
        log_probs = P.apply(processors, s.running[:, :, :length].reshape(B * K, length), log_probs)
        V = log_probs.shape[-1]
        total = log_probs.reshape(B, K, V) + s.running_scores[:, :, None]  # (B, K, V)
        flat = total.reshape(B, K * V)
        if config.do_sample:
            picks = _draw(flat, count, rng or np.random.default_rng())
        else:
            picks = _top(flat, count)  # (B, C)
        scores = np.take_along_axis(flat, picks, axis=1)
        source, tokens = picks // V, picks % V
        sequences = _take(s.running, source)  # (B, C, L)
        sequences[:, :, length] = tokens
        finished = np.full(tokens.shape, length + 1 >= L, dtype=bool)
        if eos_arr is not None:
            finished |= np.isin(tokens, eos_arr)
        if deadline is not None and monotonic() > deadline:
            finished[:] = True
        # the K best unfinished candidates live on
        live = (scores + finished.astype(np.float32) * NEG).astype(np.float32)
        keep = _top(live, K)
        s.running = _take(sequences, keep)
        s.running_scores = _take(live, keep)
        rows = (_take(source, keep) + np.arange(B)[:, None] * K).reshape(-1)  # (B*K,)
        _record(s, scores, sequences, finished, length, prompt, config)
        length += 1
        _check_improvable(s, length, prompt, config)
        all_full = bool(s.is_done.all()) and config.early_stopping is True
        if not s.improvable.any() or all_full or finished.all():
            break
        searching = s.improvable[:, 0]
        if shrink and not searching.all():  # their hypotheses are final: leave the batch
            out_done[active], out_lengths[active] = s.done, s.done_lengths
            s = _Beams(*(getattr(s, f.name)[searching] for f in fields(_Beams)))
            rows, active = rows.reshape(B, K)[searching].reshape(-1), active[searching]
        cache = reorder(cache, rows)
        new_tokens = s.running[:, :, length - 1].reshape(-1, 1)
    out_done[active], out_lengths[active] = s.done, s.done_lengths
    R = config.num_return_sequences
    out_length = int(out_lengths[:, :R].max())
    return out_done[:, :R].reshape(-1, L)[:, :out_length]


def _draw(flat: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` positions per row drawn without replacement from softmax(flat), by score."""
    gumbel = -np.log(-np.log(rng.random(flat.shape)))
    picks = _top(np.log(P.softmax(flat.astype(np.float64))) + gumbel, count)
    values = np.take_along_axis(flat, picks, axis=1)
    return np.take_along_axis(picks, np.argsort(-values, axis=1, kind="stable"), axis=1)


def _record(s, scores, sequences, finished, length, prompt, config) -> None:
    """Merge the finished candidates among the first K into the K best hypotheses."""
    K = s.running.shape[1]
    top_k = np.zeros(finished.shape[1], dtype=bool)
    top_k[:K] = True
    new = finished & top_k[None, :]
    final = (scores / np.float32((length + 1 - prompt) ** config.length_penalty)).astype(np.float32)
    full = s.is_done.all(-1, keepdims=True) & (config.early_stopping is True)
    final = final + full.astype(np.float32) * NEG
    final = final + (~s.improvable).astype(np.float32) * NEG
    final = final + (~new).astype(np.float32) * NEG
    merged = np.concatenate([s.done_scores, final], axis=1)
    keep = _top(merged, K)
    lengths = np.full(finished.shape, length + 1, dtype=np.int64)
    s.done = _take(np.concatenate([s.done, sequences], axis=1), keep)
    s.done_scores = _take(merged, keep)
    s.done_lengths = _take(np.concatenate([s.done_lengths, lengths], axis=1), keep)
    s.is_done = _take(np.concatenate([s.is_done, new], axis=1), keep)


def _check_improvable(s, length, prompt, config) -> None:
    penalty = config.length_penalty
    if config.early_stopping == "never" and penalty > 0.0:
        best_length = config.max_length - prompt
    else:
        best_length = length - prompt
    best_live = s.running_scores[:, :1] / np.float32(best_length**penalty)
    worst = s.done_scores.min(1, keepdims=True)
    worst = np.where(s.is_done, worst, NEG)
    s.improvable &= (best_live > worst).any(-1, keepdims=True)
