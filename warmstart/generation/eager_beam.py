"""Beam search for the eager rooms (PyTorch, and numpy for :mod:`warmstart.onnx`), written once over
a room's array functions (:class:`~.eager_processors.EagerOps`): transformers 5.24's vectorised
beam search (beam sampling with ``do_sample``), step for step.

Each step keeps the best ``K * max(2, 1 + n_eos)`` continuations over all beams of an input; those
ending in eos (or at ``max_length``) among the first K become finished hypotheses, scored
``sum_logprob / generated_length ** length_penalty``; the best K others live on. An input stops
when no live beam can beat its finished ones (``early_stopping``: False uses the current length,
``"never"`` the best reachable one, True stops once K hypotheses are finished).

The room gives :func:`search` its model ``step``, cache ``reorder`` and a ``log_probs`` callable
that turns the step's output into processed log-probabilities (where it also records scores);
:func:`results` reads the best hypotheses off the final :class:`Beams`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from time import monotonic
from typing import Any

from .config import GenerationConfig
from .eager_processors import EagerOps
from .settings import beam_fill

NEG = -1.0e9
"""The score of a dead beam or an empty hypothesis slot."""

_DONE = ("done", "done_scores", "done_lengths", "done_sources")
_PER_INPUT = ("running", "running_scores", "improvable", "running_sources", *_DONE, "is_done")


@dataclass
class Beams:
    """Beam-search state for B inputs with K beams each, in (B, K, max_length) buffers."""

    running: Any  # (B, K, L) tokens of the live beams, best first
    running_scores: Any  # (B, K) their summed log-probabilities
    done: Any  # (B, K, L) the best finished hypotheses, best first
    done_scores: Any  # (B, K) their length-penalised scores (NEG: empty slot)
    done_lengths: Any  # (B, K) their lengths
    is_done: Any  # (B, K) whether a slot holds a finished hypothesis
    improvable: Any  # (B, 1) whether a live beam may still beat the finished ones
    running_sources: Any  # (B, K, L - P) the row each generated token came from (-1: none)
    done_sources: Any  # (B, K, L - P) the same for the finished hypotheses
    eos: Any  # (n_eos,) the eos ids, or None
    length: int  # tokens in each row so far
    prompt: int  # P


def start(xp: EagerOps, input_ids: Any, config: GenerationConfig) -> Beams:
    """The state for ``input_ids`` (B * K, P), each input's row repeated K times. Only the first of
    an input's K beams is live at first, so that the K copies do not pick the same tokens."""
    rows, prompt = input_ids.shape
    beams, max_length = config.num_beams, config.max_length
    batch = rows // beams
    running = xp.full((batch, beams, max_length), beam_fill(config), "int64", input_ids)
    running[:, :, :prompt] = input_ids.reshape(batch, beams, prompt)
    running_scores = xp.full((batch, beams), 0.0, "float32", input_ids)
    running_scores[:, 1:] = NEG
    sources = xp.full((batch, beams, max_length - prompt), -1, "int32", input_ids)
    eos = config.eos_ids()
    return Beams(
        running=running,
        running_scores=running_scores,
        done=xp.copy(running),
        done_scores=xp.full((batch, beams), NEG, "float32", input_ids),
        done_lengths=xp.full((batch, beams), prompt, "int64", input_ids),
        is_done=xp.full((batch, beams), False, "bool", input_ids),
        improvable=xp.full((batch, 1), True, "bool", input_ids),
        running_sources=sources,
        done_sources=xp.copy(sources),
        eos=None if eos is None else xp.ids(eos, input_ids),
        length=prompt,
        prompt=prompt,
    )


def search(
    xp: EagerOps,
    step: Callable[[Any, Any], tuple[Any, Any]],
    reorder: Callable[[Any, Any], Any],
    cache: Any,
    input_ids: Any,
    config: GenerationConfig,
    log_probs: Callable[[Any, Any], Any],
    *,
    rng: Any = None,
    shrink: bool = False,
    expired: Callable[[], bool] | None = None,
) -> Beams:
    """Run beam search to its end; the final state holds every input's hypotheses.

    Args:
        step, reorder, cache: the model's step, its cache row selector (called after every step
            to follow the beams) and its cache, already expanded to ``B * K`` rows.
        input_ids: ``(B * K, P)`` prompts, each input's row repeated K times.
        config: the resolved settings (total ``max_length``).
        log_probs: ``(output, running (N, length)) -> (N, V)`` float32 processed log-probabilities.
        rng: the room's random source for beam sampling.
        shrink: drop the inputs whose hypotheses can no longer change (numpy does; torch keeps
            its batch): later steps run the others only, ``reorder`` getting their rows alone.
        expired: whether ``max_time`` ran out, asked after each step (as transformers'
            MaxTimeCriteria); default: :func:`time.monotonic` against ``config.max_time``.
    """
    s = start(xp, input_ids, config)
    if expired is None:
        deadline = None if config.max_time is None else monotonic() + config.max_time
        expired = lambda: deadline is not None and monotonic() > deadline  # noqa: E731
    out, active = None, xp.arange(s.running.shape[0], input_ids)  # the inputs s holds
    new_tokens = input_ids
    while True:
        output, cache = step(new_tokens, cache)
        scores = log_probs(output, s.running[:, :, : s.length].reshape(-1, s.length))
        rows, going = advance(xp, s, scores, config, rng, expired())
        if not going:
            break
        if shrink and not bool(s.improvable.all()):  # their hypotheses are final: they leave
            out = _settle(out, s, active)
            searching = s.improvable[:, 0]
            rows = rows.reshape(-1, config.num_beams)[searching].reshape(-1)
            s = replace(s, **{name: getattr(s, name)[searching] for name in _PER_INPUT})
            active = active[searching]
        cache = reorder(cache, rows)
        new_tokens = s.running[:, :, s.length - 1].reshape(-1, 1)
    return _settle(out, s, active)


def _settle(out, s, active):
    """``out`` (every input) with the hypotheses of ``s``, which holds the inputs ``active``."""
    if out is None:
        return s
    for name in _DONE:
        getattr(out, name)[active] = getattr(s, name)
    return out


def _take(xp, x, index):
    """Pick along axis 1 of a (B, K, ...) array with a (B, C) index."""
    while index.ndim < x.ndim:
        index = index[..., None]
    return xp.gather(x, index)


def advance(
    xp: EagerOps, s: Beams, log_probs: Any, config: GenerationConfig, rng: Any, expired: bool
) -> tuple[Any, bool]:
    """One step over ``log_probs`` (B * K, V), the processed log-probabilities of the live beams
    (every candidate finishes when ``expired``).

    Returns:
        For each new live beam, the cache row it extends (B * K,), and whether to go on.
    """
    batch, beams, _ = s.running.shape
    vocab = log_probs.shape[-1]
    count = max(2, 1 + (0 if s.eos is None else len(s.eos))) * beams
    total = log_probs.reshape(batch, beams, vocab) + s.running_scores[:, :, None]  # (B, K, V)
    flat = total.reshape(batch, beams * vocab)
    picks = xp.draw(flat, count, rng) if config.do_sample else xp.beam_top(total, count)
    scores = xp.gather(flat, picks)  # (B, C)
    source, tokens = picks // vocab, picks % vocab
    rows = source + xp.arange(batch, source)[:, None] * beams  # (B, C) the cache rows extended
    sequences = _take(xp, s.running, source)  # (B, C, L)
    sequences[:, :, s.length] = tokens
    sources = _take(xp, s.running_sources, source)  # (B, C, L - P)
    sources[:, :, s.length - s.prompt] = rows
    finished = xp.full(tokens.shape, s.length + 1 >= config.max_length, "bool", tokens)
    if s.eos is not None:
        finished |= xp.isin(tokens, s.eos)
    if expired:
        finished[:] = True
    # the K best unfinished candidates live on
    live = scores + xp.float32(finished) * NEG
    keep = xp.best(live, beams)  # (B, K)
    s.running, s.running_scores = _take(xp, sequences, keep), _take(xp, live, keep)
    s.running_sources = _take(xp, sources, keep)
    _record(xp, s, scores, sequences, sources, finished, config)
    s.length += 1
    _check_improvable(xp, s, config)
    all_full = config.early_stopping is True and bool(s.is_done.all())
    going = bool(s.improvable.any()) and not all_full and not bool(finished.all())
    return _take(xp, rows, keep).reshape(-1), going


def _record(xp, s, scores, sequences, sources, finished, config) -> None:
    """Merge the finished candidates among the first K into the K best finished hypotheses."""
    beams = s.running.shape[1]
    new = xp.copy(finished)  # (B, C)
    new[:, beams:] = False
    final = scores / xp.number((s.length + 1 - s.prompt) ** config.length_penalty)
    full = s.is_done.all(-1)[:, None] & (config.early_stopping is True)
    final = final + xp.float32(full) * NEG
    final = final + xp.float32(~s.improvable) * NEG
    final = final + xp.float32(~new) * NEG
    merged = xp.cat((s.done_scores, final))
    keep = xp.best(merged, beams)  # (B, K)
    lengths = xp.full(finished.shape, s.length + 1, "int64", finished)
    s.done = _take(xp, xp.cat((s.done, sequences)), keep)
    s.done_scores = _take(xp, merged, keep)
    s.done_lengths = _take(xp, xp.cat((s.done_lengths, lengths)), keep)
    s.done_sources = _take(xp, xp.cat((s.done_sources, sources)), keep)
    s.is_done = _take(xp, xp.cat((s.is_done, new)), keep)


def _check_improvable(xp, s, config) -> None:
    """Clear ``improvable`` for inputs whose best live beam cannot beat their worst finished one."""
    penalty = config.length_penalty
    if config.early_stopping == "never" and penalty > 0.0:
        best_length = config.max_length - s.prompt
    else:
        best_length = s.length - s.prompt
    best_live = s.running_scores[:, :1] / xp.number(best_length**penalty)  # (B, 1)
    worst = xp.where(s.is_done, xp.amin(s.done_scores), NEG)  # (B, K)
    s.improvable &= (best_live > worst).any(-1)[:, None]


def results(s: Beams, count: int) -> tuple[Any, Any, Any]:
    """The best ``count`` hypotheses of each input, best first: sequences (B * count, length)
    cut to the longest, their scores (B * count,) and beam indices (B * count, length - P)."""
    length = int(s.done_lengths[:, :count].max())
    width = s.done.shape[2]
    return (
        s.done[:, :count].reshape(-1, width)[:, :length],
        s.done_scores[:, :count].reshape(-1),
        s.done_sources[:, :count].reshape(-1, width - s.prompt)[:, : length - s.prompt],
    )
