"""Logits controls for the eager sides (PyTorch, and numpy for :mod:`warmstart.onnx`), written once
over a side's array functions (:class:`EagerOps`): :data:`warmstart.torch.generation.processors.TORCH`
and :data:`.numpy_processors.NUMPY`.

Every control has the form ``control(xp, input_ids, scores, *settings) -> scores`` where ``xp`` is
the side's :class:`EagerOps`, ``input_ids`` is ``(N, T)``, the tokens so far of each row (for an
encoder-decoder model, starting with the decoder start token), and ``scores`` is ``(N, V)``, the
next-token scores of each row; it returns the new scores ``(N, V)`` (its Args name the settings).
The input is never modified. Each gives the result of the transformers logits processor of the same
purpose (``RepetitionPenaltyLogitsProcessor``, ``TopPLogitsWarper``, ...); the sampling filters give
the tokens they drop -inf, those warpers' default ``filter_value``. :func:`build` binds the plan's
processors (:mod:`.plan`, names + settings, in transformers' order) to a side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial, update_wrapper
from typing import Any

from .plan import ENCODER_PROCESSORS, ProcessorSpec

Processor = Callable[[Any, Any], Any]
"""A control bound to a side and its settings: ``(input_ids (N, T), scores (N, V)) -> scores``."""

NEG_INF = -math.inf


@dataclass(frozen=True, repr=False)
class EagerOps:
    """A side's array functions; each is NumPy's of the same name unless said. "Along axis 1" and
    "the last axis" are of (N, ...) arrays; ``like`` is an array whose device a new one takes."""

    where: Callable
    isin: Callable
    exp: Callable
    log: Callable
    sqrt: Callable
    isfinite: Callable
    finfo: Callable
    zeros_like: Callable
    full_like: Callable
    copy: Callable
    softmax: Callable  # x -> along the last axis
    log_softmax: Callable  # x -> along the last axis
    nansum: Callable  # x -> along the last axis, kept (N, 1)
    amax: Callable  # x -> along the last axis, kept (N, 1)
    clip: Callable  # (x, high) -> the smaller of x and high (an array or a number)
    arange: Callable  # (n, like)
    ids: Callable  # (token id(s), like=None) -> 1-D int64 on like's device (the host without)
    on: Callable  # (x, like) -> x on like's device
    falses: Callable  # (shape, like) -> all-False bool array
    put: Callable  # (x, index, values) -> x, values written at index along axis 1 (in place)
    gather: Callable  # (x, index) -> picks along axis 1 (index broadcast over the others)
    windows: Callable  # (x (N, T), n) -> (N, T - n + 1, n) sliding windows
    repeat_rows: Callable  # (x, r) -> each row r times in turn
    sort: Callable  # x -> (values, order) ascending along the last axis
    top: Callable  # (x, k) -> (values, indices) of the k largest along the last axis, best first
    kth_best: Callable  # (x, k) -> (N, 1) the k-th largest of each row
    scalar: Callable  # (value, like) -> a 0-d float array (eta's epsilon)
    number: Callable  # a float setting as the side multiplies arrays by it (numpy: float32)
    add_columns: Callable  # (x (N, V), columns, values (N, C)) -> x + values in those columns
    entropy: Callable  # (logits, their softmax) -> (N,) for eta cutoff
    categorical: Callable  # logits -> (probs, entropy (N,)) for top-h
    needs_encoder_ids: str  # error, formatted with name, option and off
    # beam search's (eager_beam.py):
    full: Callable  # (shape, value, dtype name, like)
    float32: Callable  # x -> x as float32
    cat: Callable  # arrays -> joined along axis 1
    amin: Callable  # x -> along the last axis, kept (N, 1)
    best: Callable  # (x (B, M), k) -> (B, k) positions of the k largest, best first
    beam_top: Callable  # (total (B, K, V), k) -> (B, k) positions in K * V of the k best
    draw: Callable  # (x (B, M), k, rng) -> (B, k) positions drawn from softmax(x), best first


def _mark(xp: EagerOps, ids: Any, like: Any) -> Any:
    """(N, V) bool: the ids of each row of ``ids`` (N, M); ids past the vocabulary are ignored."""
    vocab = like.shape[-1]
    # ids past the vocab land in a spare column, then dropped
    marks = xp.put(xp.falses((ids.shape[0], vocab + 1), like), xp.clip(ids, vocab), True)
    return marks[:, :vocab]


def _vocab_mask(xp: EagerOps, scores: Any, token_ids: Any) -> Any:
    """(V,) bool: which vocabulary entries are in ``token_ids`` (ids outside the vocab ignored)."""
    return xp.isin(xp.arange(scores.shape[-1], scores), xp.ids(token_ids, scores))


def _matching(xp: EagerOps, input_ids: Any, prefix: Sequence[int]) -> Any:
    """(N,) bool: which rows end with the tokens ``prefix`` (not empty)."""
    return (input_ids[:, -len(prefix) :] == xp.ids(prefix, input_ids)).all(-1)


# ------------------------------------------------------------------------------------ penalties


def repetition_penalty(xp: EagerOps, input_ids: Any, scores: Any, penalty: float) -> Any:
    """Make every token already in the row less likely (``penalty`` > 1) or more (< 1).

    Args:
        penalty: negative scores are multiplied by it, others divided by it (once per token).
    """
    penalized = xp.where(scores < 0, scores * penalty, scores / penalty)
    return xp.where(_mark(xp, input_ids, scores), penalized, scores)


def encoder_repetition_penalty(
    xp: EagerOps, input_ids: Any, scores: Any, penalty: float, encoder_input_ids: Any
) -> Any:
    """Make every token of the encoder input more likely (``penalty`` > 1) or less (< 1).

    Args:
        penalty: positive scores are multiplied by it, negative ones divided by it.
        encoder_input_ids: ``(B, S)``, one row per input, or already expanded to ``(N, S)``; laid
            out as for :func:`encoder_no_repeat_ngram`. Padding counts, as in transformers.
    """
    encoder = xp.on(encoder_input_ids, scores)
    if scores.shape[0] > encoder.shape[0]:
        encoder = xp.repeat_rows(encoder, scores.shape[0] // encoder.shape[0])
    inverse = 1 / penalty
    picked = xp.gather(scores, encoder)  # (N, S)
    picked = xp.where(picked < 0, picked * inverse, picked / inverse)
    return xp.put(xp.copy(scores), encoder, picked)


SequenceBias = Sequence[Sequence[Any]] | Mapping[tuple[int, ...], float]


def _too_big(name: str, sequences: Any, vocab_size: int) -> None:
    too_big = [t for seq in sequences for t in seq if t >= vocab_size]
    if too_big:
        raise ValueError(
            f"`{name}` holds token ids {too_big}, outside the vocabulary of {vocab_size}."
        )


def sequence_bias(xp: EagerOps, input_ids: Any, scores: Any, biases: SequenceBias) -> Any:
    """Add a bias to the last token of each listed sequence where the rest just occurred.

    Args:
        biases: ``[[token ids], bias]`` pairs (or a dict of token-id tuples to biases); a
            one-token sequence is biased everywhere. A sequence listed twice keeps its last bias.

    Raises:
        ValueError: a listed token is outside the vocabulary.
    """
    pairs = biases.items() if isinstance(biases, Mapping) else biases
    by_sequence = {tuple(seq): float(bias) for seq, bias in pairs}
    _too_big("sequence_bias", by_sequence, scores.shape[-1])
    bias = xp.zeros_like(scores)
    for seq, value in by_sequence.items():
        if len(seq) == 1:
            bias[:, seq[0]] = value
    # Longer sequences by prefix length, in order of first appearance, as transformers adds them.
    longer = [(seq, value) for seq, value in by_sequence.items() if len(seq) > 1]
    for prefix_length in dict.fromkeys(len(seq) - 1 for seq, _ in longer):
        if prefix_length > input_ids.shape[-1]:
            continue
        for seq, value in longer:
            if len(seq) - 1 == prefix_length:
                bias[_matching(xp, input_ids, seq[:-1]), seq[-1]] += value
    return scores + bias


def _ban_matching_windows(xp: EagerOps, windows: Any, suffix: Any, scores: Any) -> Any:
    """Ban the last token of every n-gram window whose first n-1 tokens equal the row's suffix.

    windows: (N, W, n); suffix: (N, n-1); scores: (N, V).
    """
    matches = (windows[..., :-1] == suffix[:, None, :]).all(-1)  # (N, W)
    targets = xp.where(matches, windows[..., -1], scores.shape[-1])  # others: past the vocab
    return xp.where(_mark(xp, targets, scores), NEG_INF, scores)


def no_repeat_ngram(xp: EagerOps, input_ids: Any, scores: Any, ngram_size: int) -> Any:
    """Forbid any token that would repeat an n-gram already in the row.

    Args:
        ngram_size: n; with 1, every token seen is forbidden.
    """
    length = input_ids.shape[-1]
    if length < ngram_size:
        return scores
    windows = xp.windows(input_ids, ngram_size)  # (N, W, n)
    suffix = input_ids[:, length - ngram_size + 1 :]  # (N, n-1)
    return _ban_matching_windows(xp, windows, suffix, scores)


def encoder_no_repeat_ngram(
    xp: EagerOps, input_ids: Any, scores: Any, ngram_size: int, encoder_input_ids: Any
) -> Any:
    """Forbid any token that would copy an n-gram of the encoder input into the output.

    Args:
        ngram_size: n.
        encoder_input_ids: ``(B, S)``, one row per input, or already expanded to ``(N, S)``; row
            ``i`` of ``input_ids`` belongs to encoder row ``i // (N // B)`` (the layout expansion
            for beams and ``num_return_sequences`` produces). Padding counts as tokens, as in
            transformers.
    """
    length = input_ids.shape[-1]
    num_rows, enc_rows = scores.shape[0], encoder_input_ids.shape[0]
    if length < ngram_size - 1 or encoder_input_ids.shape[-1] < ngram_size:
        return scores
    owner = xp.arange(num_rows, scores) // (num_rows // enc_rows)  # (N,)
    windows = xp.windows(xp.on(encoder_input_ids, scores), ngram_size)[owner]  # (N, W, n)
    suffix = input_ids[:, length - ngram_size + 1 :]  # (N, n-1)
    return _ban_matching_windows(xp, windows, suffix, scores)


def bad_words(
    xp: EagerOps,
    input_ids: Any,
    scores: Any,
    bad_words_ids: Sequence[Sequence[int]],
    eos_token_id: Any = None,
) -> Any:
    """Forbid each listed token sequence: its last token is banned where the rest just occurred.

    Args:
        bad_words_ids: the forbidden sequences; a one-token sequence is banned everywhere.
        eos_token_id: eos id(s); a sequence ``[eos]`` is ignored, so rows can still end.

    Returns:
        The new scores, ``(N, V)``; the ban is added as ``-inf``, as transformers does.

    Raises:
        ValueError: a listed token is outside the vocabulary.
    """
    _too_big("bad_words_ids", bad_words_ids, scores.shape[-1])
    eos = [] if eos_token_id is None else xp.ids(eos_token_id).tolist()
    bias = xp.zeros_like(scores)
    for seq in bad_words_ids:
        seq = list(seq)
        if len(seq) == 1 and seq[0] in eos:
            continue
        prefix = seq[:-1]
        if len(prefix) > input_ids.shape[-1]:
            continue
        bias[_matching(xp, input_ids, prefix) if prefix else slice(None), seq[-1]] = NEG_INF
    return scores + bias


# ------------------------------------------------------------------------------ length and force


def min_length(xp: EagerOps, input_ids: Any, scores: Any, length: int, eos_token_id: Any) -> Any:
    """Forbid eos while the rows are shorter than ``length`` tokens (prompt included).

    Args:
        length: the minimum total length.
        eos_token_id: eos id(s).
    """
    if input_ids.shape[-1] < length:
        return xp.where(_vocab_mask(xp, scores, eos_token_id), NEG_INF, scores)
    return scores


def min_new_tokens(
    xp: EagerOps, input_ids: Any, scores: Any, prompt_length: int, count: int, eos_token_id: Any
) -> Any:
    """Forbid eos until ``count`` tokens follow the prompt.

    Args:
        prompt_length: tokens in each row before generation started.
        count: the minimum number of new tokens.
        eos_token_id: eos id(s).
    """
    return min_length(xp, input_ids, scores, prompt_length + count, eos_token_id)


def forced_bos(xp: EagerOps, input_ids: Any, scores: Any, token_id: int) -> Any:
    """Force ``token_id`` as the first generated token (when the rows hold one token).

    Args:
        token_id: the forced token.
    """
    if input_ids.shape[-1] != 1:
        return scores
    forced = xp.full_like(scores, NEG_INF)
    forced[:, token_id] = 0
    return forced


def forced_eos(
    xp: EagerOps, input_ids: Any, scores: Any, max_length: int, eos_token_id: Any
) -> Any:
    """Force eos as the token that brings the rows to ``max_length``.

    Args:
        max_length: the total length limit.
        eos_token_id: eos id(s); with several, all of them stay possible.
    """
    if input_ids.shape[-1] != max_length - 1:
        return scores
    forced = xp.full_like(scores, NEG_INF)
    forced[:, xp.ids(eos_token_id, scores)] = 0
    return forced


def suppress_tokens(xp: EagerOps, input_ids: Any, scores: Any, token_ids: Sequence[int]) -> Any:
    """Forbid the listed tokens at every step.

    Args:
        token_ids: the forbidden tokens.
    """
    return xp.where(_vocab_mask(xp, scores, list(token_ids)), NEG_INF, scores)


def begin_suppress_tokens(
    xp: EagerOps, input_ids: Any, scores: Any, token_ids: Sequence[int], begin_index: int
) -> Any:
    """Forbid the listed tokens at the first generated step (when the rows hold
    ``begin_index`` tokens).

    Args:
        token_ids: the forbidden tokens.
        begin_index: the row length at that step: the prompt length, plus one after a forced bos.
    """
    if input_ids.shape[-1] != begin_index:
        return scores
    return suppress_tokens(xp, input_ids, scores, token_ids)


def exponential_decay_length_penalty(
    xp: EagerOps,
    input_ids: Any,
    scores: Any,
    start: int,
    factor: float,
    prompt_length: int,
    eos_token_id: Any,
) -> Any:
    """Raise the eos scores exponentially once ``start`` tokens follow the prompt.

    Args:
        start: new tokens after which the boost begins.
        factor: the growth per further token (> 1 makes eos ever more likely).
        prompt_length: tokens in each row before generation started.
        eos_token_id: eos id(s).

    Returns:
        The new scores, ``(N, V)``: each eos score ``s`` gains ``|s| * (factor ** k - 1)``, ``k``
        the tokens past the start (infinite scores are left as they are).
    """
    past = input_ids.shape[-1] - (start + prompt_length)
    if past <= 0:
        return scores
    eos = xp.ids(eos_token_id, scores)
    eos_scores = scores[:, eos]
    boost = abs(eos_scores) * xp.number(pow(factor, past) - 1)
    return xp.add_columns(scores, eos, xp.where(xp.isfinite(eos_scores), boost, 0.0))


def remove_invalid_values(xp: EagerOps, input_ids: Any, scores: Any) -> Any:
    """Replace NaN by 0 and +/-inf by the largest/smallest finite value of the dtype."""
    finfo = xp.finfo(scores.dtype)
    out = xp.where(scores != scores, 0.0, scores)
    out = xp.where(scores == math.inf, finfo.max, out)
    return xp.where(scores == -math.inf, finfo.min, out)


def renormalize(xp: EagerOps, input_ids: Any, scores: Any) -> Any:
    """Turn the scores into log-probabilities again (``renormalize_logits``; applied last)."""
    return xp.log_softmax(scores)


# -------------------------------------------------------------------------------------- sampling


def temperature(xp: EagerOps, input_ids: Any, scores: Any, value: float) -> Any:
    """Divide the scores by a temperature.

    Args:
        value: the temperature, > 0.
    """
    return scores / xp.number(value)


def top_k(xp: EagerOps, input_ids: Any, scores: Any, k: int, min_tokens_to_keep: int = 1) -> Any:
    """Keep the ``max(k, min_tokens_to_keep)`` best tokens (and those tied with the last).

    Args:
        k: how many tokens to keep.
        min_tokens_to_keep: keep at least this many.
    """
    k = min(max(k, min_tokens_to_keep), scores.shape[-1])
    return xp.where(scores < xp.kth_best(scores, k), NEG_INF, scores)


def _unsort(xp: EagerOps, sorted_mask: Any, order: Any) -> Any:
    """A mask over sorted columns (N, V) back in the columns' own order."""
    return xp.put(xp.copy(sorted_mask), order, sorted_mask)


def top_p(xp: EagerOps, input_ids: Any, scores: Any, p: float, min_tokens_to_keep: int = 1) -> Any:
    """Keep the smallest set of best tokens whose probabilities add up to more than ``p``.

    Args:
        p: the probability mass to keep, in (0, 1].
        min_tokens_to_keep: keep at least this many.
    """
    ascending, order = xp.sort(scores)  # (N, V)
    drop_sorted = xp.softmax(ascending).cumsum(-1) <= (1 - p)
    drop_sorted[..., -min_tokens_to_keep:] = False
    return xp.where(_unsort(xp, drop_sorted, order), NEG_INF, scores)


def min_p(xp: EagerOps, input_ids: Any, scores: Any, p: float, min_tokens_to_keep: int = 1) -> Any:
    """Drop tokens less likely than ``p`` times the most likely token's probability.

    Args:
        p: the fraction of the top probability a token needs, in [0, 1].
        min_tokens_to_keep: keep at least this many.
    """
    probs = xp.softmax(scores)
    drop = probs < p * xp.amax(probs)
    keep = xp.top(probs, min(min_tokens_to_keep, probs.shape[-1]))[1]
    return xp.where(xp.put(drop, keep, False), NEG_INF, scores)


def top_h(xp: EagerOps, input_ids: Any, scores: Any, h: float) -> Any:
    """Keep the best tokens (of the best 100) while their entropy terms add up to at most
    ``h`` times the entropy of those 100 (the best token always stays).

    Args:
        h: the fraction of the entropy, in (0, 1].
    """
    best, order = xp.top(scores, min(100, scores.shape[-1]))  # (N, n), sorted
    probs, entropy = xp.categorical(best)
    keep_sorted = (-probs * xp.log(probs)).cumsum(-1) <= (entropy * h)[:, None]
    keep_sorted[:, 0] = True
    keep = xp.put(xp.falses(scores.shape, scores), order, keep_sorted)
    return xp.where(keep, scores, NEG_INF)


def typical_p(
    xp: EagerOps, input_ids: Any, scores: Any, mass: float, min_tokens_to_keep: int = 1
) -> Any:
    """Locally typical sampling: keep the tokens whose surprise is closest to the entropy, until
    their probabilities add up to ``mass`` (Meister et al., 2022).

    Args:
        mass: the probability mass to keep, in (0, 1).
        min_tokens_to_keep: keep at least this many.
    """
    log_probs = xp.log_softmax(scores)
    entropy = -xp.nansum(log_probs * xp.exp(log_probs))  # (N, 1)
    distance, order = xp.sort(abs(-log_probs - entropy))
    cumulative = xp.softmax(xp.gather(scores, order)).cumsum(-1)
    last = xp.clip((cumulative < mass).sum(1), distance.shape[-1] - 1)  # (N,)
    drop_sorted = distance > xp.gather(distance, last[:, None])
    drop_sorted[..., :min_tokens_to_keep] = False
    return xp.where(_unsort(xp, drop_sorted, order), NEG_INF, scores)


def _drop_below(xp: EagerOps, scores: Any, below: Any, min_tokens_to_keep: int) -> Any:
    """Fill the ``below`` entries, sparing the ``min_tokens_to_keep`` best (and their ties)."""
    kth_best = xp.kth_best(scores, min(min_tokens_to_keep, scores.shape[-1]))
    return xp.where(below & (scores < kth_best), NEG_INF, scores)


def epsilon_cutoff(
    xp: EagerOps, input_ids: Any, scores: Any, epsilon: float, min_tokens_to_keep: int = 1
) -> Any:
    """Drop tokens with a probability below ``epsilon`` (Hewitt et al., 2022).

    Args:
        epsilon: the probability threshold, in (0, 1).
        min_tokens_to_keep: keep at least this many (the best ones).
    """
    below = xp.softmax(scores) < epsilon
    return _drop_below(xp, scores, below, min_tokens_to_keep)


def eta_cutoff(
    xp: EagerOps, input_ids: Any, scores: Any, epsilon: float, min_tokens_to_keep: int = 1
) -> Any:
    """Drop tokens with a probability below ``min(epsilon, sqrt(epsilon) * exp(-entropy))``
    (eta sampling, Hewitt et al., 2022).

    Args:
        epsilon: the largest threshold, in (0, 1).
        min_tokens_to_keep: keep at least this many (the best ones).
    """
    probs = xp.softmax(scores)
    eps = xp.scalar(epsilon, scores)
    eta = xp.clip(xp.sqrt(eps) * xp.exp(-xp.entropy(scores, probs)), eps)[:, None]  # (N, 1)
    return _drop_below(xp, scores, probs < eta, min_tokens_to_keep)


# -------------------------------------------------------------------------------------- assembly

FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        sequence_bias,
        encoder_repetition_penalty,
        repetition_penalty,
        no_repeat_ngram,
        encoder_no_repeat_ngram,
        bad_words,
        min_length,
        min_new_tokens,
        forced_bos,
        forced_eos,
        remove_invalid_values,
        exponential_decay_length_penalty,
        suppress_tokens,
        begin_suppress_tokens,
        temperature,
        top_h,
        top_k,
        top_p,
        min_p,
        typical_p,
        epsilon_cutoff,
        eta_cutoff,
        renormalize,
    )
}
"""Processor name (as the plan lists it) -> the function that applies it, over any side."""

_ENCODER_OPTIONS = {
    "encoder_repetition_penalty": ("encoder_repetition_penalty", "1.0"),
    "encoder_no_repeat_ngram": ("encoder_no_repeat_ngram_size", "0"),
}
"""Encoder processor -> the generation option that asks for it, and its value that turns it off."""


def bound(xp: EagerOps) -> dict[str, Callable[..., Any]]:
    """Every control bound to a side: name -> ``control(input_ids, scores, *settings)``."""
    return {name: update_wrapper(partial(f, xp), f) for name, f in FUNCTIONS.items()}


def build(
    xp: EagerOps, specs: Sequence[ProcessorSpec], encoder_input_ids: Any = None
) -> list[Processor]:
    """The plan's processors bound to a side and their settings, to run with :func:`apply`.

    Args:
        xp: the side's array functions.
        specs: the processors by name, as a :class:`~warmstart.generation.plan.Plan` lists them.
        encoder_input_ids: ``(B, S)`` encoder input ids, needed for the encoder controls.

    Raises:
        ValueError: an encoder control without ``encoder_input_ids``.
    """
    out: list[Processor] = []
    for name, settings in specs:
        if name in ENCODER_PROCESSORS:
            if encoder_input_ids is None:
                option, off = _ENCODER_OPTIONS[name]
                raise ValueError(xp.needs_encoder_ids.format(name=name, option=option, off=off))
            settings = {**settings, "encoder_input_ids": encoder_input_ids}
        out.append(partial(FUNCTIONS[name], xp, **settings))
    return out


def apply(processors: Sequence[Processor], input_ids: Any, scores: Any) -> Any:
    """Run processors in turn.

    Args:
        processors: as :func:`build` returns them.
    """
    for process in processors:
        scores = process(input_ids, scores)
    return scores
