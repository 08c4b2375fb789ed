"""Logits controls, one small pure function each.

Every control has the form ``control(input_ids, scores, *settings) -> scores`` where ``input_ids``
is ``(N, T)``, the tokens so far of each row (for an encoder-decoder model, starting with the
decoder start token), and ``scores`` is ``(N, V)``, the next-token scores of each row. The input
is never modified. Each function gives exactly the result of the transformers logits processor of
the same purpose (``RepetitionPenaltyLogitsProcessor``, ``TopPLogitsWarper``, ...).

:func:`build_processors` turns a :class:`GenerationConfig` into the ordered list of controls that
transformers' ``generate`` applies, with their settings bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

from ...generation.config import GenerationConfig
from ...generation.plan import ENCODER_PROCESSORS, ProcessorSpec, processor_specs

Processor = Callable[[Tensor, Tensor], Tensor]
"""A control with its settings bound: ``(input_ids (N, T), scores (N, V)) -> scores (N, V)``."""

TokenIds = int | Sequence[int] | Tensor


def _ids(token_ids: TokenIds, device: torch.device) -> Tensor:
    """Token id(s) as a 1-D LongTensor on ``device``."""
    return torch.as_tensor(token_ids, dtype=torch.long, device=device).reshape(-1)


def _vocab_mask(scores: Tensor, token_ids: TokenIds) -> Tensor:
    """(V,) bool: which vocabulary entries are in ``token_ids`` (ids outside the vocab ignored)."""
    vocab = torch.arange(scores.shape[-1], device=scores.device)
    return torch.isin(vocab, _ids(token_ids, scores.device))


# ------------------------------------------------------------------------------------ penalties


def repetition_penalty(input_ids: Tensor, scores: Tensor, penalty: float) -> Tensor:
    """Make every token already in the row less likely (``penalty`` > 1) or more (< 1).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        penalty: negative scores are multiplied by it, others divided by it (once per token).

    Returns:
        The new scores, ``(N, V)``.
    """
    vocab_size = scores.shape[-1]
    seen = torch.zeros(scores.shape[0], vocab_size + 1, dtype=torch.bool, device=scores.device)
    seen.scatter_(1, input_ids.clamp(max=vocab_size), True)  # ids past the vocab land in the spare
    penalized = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen[:, :vocab_size], penalized, scores)


def encoder_repetition_penalty(
    input_ids: Tensor, scores: Tensor, penalty: float, encoder_input_ids: Tensor
) -> Tensor:
    """Make every token of the encoder input more likely (``penalty`` > 1) or less (< 1).

    Args:
        input_ids: ``(N, T)`` tokens so far (unused).
        scores: ``(N, V)`` next-token scores.
        penalty: positive scores are multiplied by it, negative ones divided by it.
        encoder_input_ids: ``(B, S)``, one row per input, or already expanded to ``(N, S)``; laid
            out as for :func:`encoder_no_repeat_ngram`. Padding counts, as in transformers.

    Returns:
        The new scores, ``(N, V)``.
    """
    encoder = encoder_input_ids.to(scores.device)
    if scores.shape[0] > encoder.shape[0]:
        encoder = encoder.repeat_interleave(scores.shape[0] // encoder.shape[0], dim=0)
    inverse = 1 / penalty
    picked = scores.gather(1, encoder)  # (N, S)
    picked = torch.where(picked < 0, picked * inverse, picked / inverse)
    return scores.scatter(1, encoder, picked)


SequenceBias = Sequence[Sequence[Any]] | Mapping[tuple[int, ...], float]


def sequence_bias(input_ids: Tensor, scores: Tensor, biases: SequenceBias) -> Tensor:
    """Add a bias to the last token of each listed sequence where the rest just occurred.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        biases: ``[[token ids], bias]`` pairs (or a dict of token-id tuples to biases); a
            one-token sequence is biased everywhere. A sequence listed twice keeps its last bias.

    Returns:
        The new scores, ``(N, V)``.

    Raises:
        ValueError: a listed token is outside the vocabulary.
    """
    pairs = biases.items() if isinstance(biases, Mapping) else biases
    by_sequence = {tuple(seq): float(bias) for seq, bias in pairs}
    vocab_size = scores.shape[-1]
    too_big = [t for seq in by_sequence for t in seq if t >= vocab_size]
    if too_big:
        raise ValueError(
            f"`sequence_bias` holds token ids {too_big}, outside the vocabulary of {vocab_size}."
        )
    bias = torch.zeros_like(scores)
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
                prefix = torch.tensor(seq[:-1], dtype=input_ids.dtype, device=input_ids.device)
                matches = (input_ids[:, -prefix_length:] == prefix).all(dim=-1)  # (N,)
                bias[matches, seq[-1]] += value
    return scores + bias


def _ban_matching_windows(windows: Tensor, suffix: Tensor, scores: Tensor) -> Tensor:
    """Ban the last token of every n-gram window whose first n-1 tokens equal the row's suffix.

    windows: (N, W, n); suffix: (N, n-1); scores: (N, V).
    """
    vocab_size = scores.shape[-1]
    matches = (windows[..., :-1] == suffix[:, None, :]).all(dim=-1)  # (N, W)
    # Non-matching windows point at a spare column past the vocabulary, then dropped.
    targets = torch.where(matches, windows[..., -1].clamp(max=vocab_size), vocab_size)
    banned = torch.zeros(scores.shape[0], vocab_size + 1, dtype=torch.bool, device=scores.device)
    banned.scatter_(1, targets, True)
    return scores.masked_fill(banned[:, :vocab_size], -math.inf)


def no_repeat_ngram(input_ids: Tensor, scores: Tensor, ngram_size: int) -> Tensor:
    """Forbid any token that would repeat an n-gram already in the row.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        ngram_size: n; with 1, every token seen is forbidden.

    Returns:
        The new scores, ``(N, V)``.
    """
    length = input_ids.shape[-1]
    if length < ngram_size:
        return scores
    windows = input_ids.unfold(1, ngram_size, 1)  # (N, W, n)
    suffix = input_ids[:, length - ngram_size + 1 :]  # (N, n-1)
    return _ban_matching_windows(windows, suffix, scores)


def encoder_no_repeat_ngram(
    input_ids: Tensor, scores: Tensor, ngram_size: int, encoder_input_ids: Tensor
) -> Tensor:
    """Forbid any token that would copy an n-gram of the encoder input into the output.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        ngram_size: n.
        encoder_input_ids: ``(B, S)``, one row per input, or already expanded to ``(N, S)``; row
            ``i`` of ``input_ids`` belongs to encoder row ``i // (N // B)`` (the layout expansion
            for beams and ``num_return_sequences`` produces). Padding counts as tokens, as in
            transformers.

    Returns:
        The new scores, ``(N, V)``.
    """
    length = input_ids.shape[-1]
    num_rows, enc_rows = scores.shape[0], encoder_input_ids.shape[0]
    if length < ngram_size - 1 or encoder_input_ids.shape[-1] < ngram_size:
        return scores
    owner = torch.arange(num_rows, device=scores.device) // (num_rows // enc_rows)  # (N,)
    windows = encoder_input_ids.to(scores.device).unfold(1, ngram_size, 1)[owner]  # (N, W, n)
    suffix = input_ids[:, length - ngram_size + 1 :]  # (N, n-1)
    return _ban_matching_windows(windows, suffix, scores)


def bad_words(
    input_ids: Tensor,
    scores: Tensor,
    bad_words_ids: Sequence[Sequence[int]],
    eos_token_id: TokenIds | None = None,
) -> Tensor:
    """Forbid each listed token sequence: its last token is banned where the rest just occurred.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        bad_words_ids: the forbidden sequences; a one-token sequence is banned everywhere.
        eos_token_id: eos id(s); a sequence ``[eos]`` is ignored, so rows can still end.

    Returns:
        The new scores, ``(N, V)``; the ban is added as ``-inf``, as transformers does.

    Raises:
        ValueError: a listed token is outside the vocabulary.
    """
    vocab_size = scores.shape[-1]
    too_big = [t for seq in bad_words_ids for t in seq if t >= vocab_size]
    if too_big:
        raise ValueError(
            f"`bad_words_ids` holds token ids {too_big}, outside the vocabulary of {vocab_size}."
        )
    eos = [] if eos_token_id is None else _ids(eos_token_id, torch.device("cpu")).tolist()
    bias = torch.zeros_like(scores)
    for seq in bad_words_ids:
        seq = list(seq)
        if len(seq) == 1 and seq[0] in eos:
            continue
        prefix = torch.tensor(seq[:-1], dtype=input_ids.dtype, device=input_ids.device)
        if len(prefix) > input_ids.shape[-1]:
            continue
        if len(prefix) == 0:
            bias[:, seq[-1]] = -math.inf
        else:
            ends_with_prefix = (input_ids[:, -len(prefix) :] == prefix).all(dim=-1)  # (N,)
            bias[ends_with_prefix, seq[-1]] = -math.inf
    return scores + bias


# ------------------------------------------------------------------------------ length and force


def min_length(input_ids: Tensor, scores: Tensor, length: int, eos_token_id: TokenIds) -> Tensor:
    """Forbid eos while the rows are shorter than ``length`` tokens (prompt included).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        length: the minimum total length.
        eos_token_id: eos id(s).

    Returns:
        The new scores, ``(N, V)``.
    """
    if input_ids.shape[-1] < length:
        return torch.where(_vocab_mask(scores, eos_token_id), -math.inf, scores)
    return scores


def min_new_tokens(
    input_ids: Tensor, scores: Tensor, prompt_length: int, count: int, eos_token_id: TokenIds
) -> Tensor:
    """Forbid eos until ``count`` tokens follow the prompt.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        prompt_length: tokens in each row before generation started.
        count: the minimum number of new tokens.
        eos_token_id: eos id(s).

    Returns:
        The new scores, ``(N, V)``.
    """
    return min_length(input_ids, scores, prompt_length + count, eos_token_id)


def forced_bos(input_ids: Tensor, scores: Tensor, token_id: int) -> Tensor:
    """Force ``token_id`` as the first generated token (when the rows hold one token).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        token_id: the forced token.

    Returns:
        The new scores, ``(N, V)``.
    """
    if input_ids.shape[-1] != 1:
        return scores
    forced = torch.full_like(scores, -math.inf)
    forced[:, token_id] = 0
    return forced


def forced_eos(
    input_ids: Tensor, scores: Tensor, max_length: int, eos_token_id: TokenIds
) -> Tensor:
    """Force eos as the token that brings the rows to ``max_length``.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        max_length: the total length limit.
        eos_token_id: eos id(s); with several, all of them stay possible.

    Returns:
        The new scores, ``(N, V)``.
    """
    if input_ids.shape[-1] != max_length - 1:
        return scores
    forced = torch.full_like(scores, -math.inf)
    forced[:, _ids(eos_token_id, scores.device)] = 0
    return forced


def suppress_tokens(input_ids: Tensor, scores: Tensor, token_ids: Sequence[int]) -> Tensor:
    """Forbid the listed tokens at every step.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        token_ids: the forbidden tokens.

    Returns:
        The new scores, ``(N, V)``.
    """
    return torch.where(_vocab_mask(scores, list(token_ids)), -math.inf, scores)


def begin_suppress_tokens(
    input_ids: Tensor, scores: Tensor, token_ids: Sequence[int], begin_index: int
) -> Tensor:
    """Forbid the listed tokens at the first generated step (when the rows hold
    ``begin_index`` tokens).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        token_ids: the forbidden tokens.
        begin_index: the row length at that step: the prompt length, plus one after a forced bos.

    Returns:
        The new scores, ``(N, V)``.
    """
    if input_ids.shape[-1] != begin_index:
        return scores
    return torch.where(_vocab_mask(scores, list(token_ids)), -math.inf, scores)


def exponential_decay_length_penalty(
    input_ids: Tensor,
    scores: Tensor,
    start: int,
    factor: float,
    prompt_length: int,
    eos_token_id: TokenIds,
) -> Tensor:
    """Raise the eos scores exponentially once ``start`` tokens follow the prompt.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
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
    eos = _ids(eos_token_id, scores.device)
    eos_scores = scores[:, eos]
    boost = (eos_scores.abs() * (pow(factor, past) - 1)).masked_fill(~eos_scores.isfinite(), 0.0)
    penalties = torch.zeros_like(scores)
    penalties[:, eos] = boost
    return scores + penalties


def remove_invalid_values(input_ids: Tensor, scores: Tensor) -> Tensor:
    """Replace NaN by 0 and +/-inf by the largest/smallest finite value of the dtype.

    Args:
        input_ids: ``(N, T)`` tokens so far (unused).
        scores: ``(N, V)`` next-token scores.

    Returns:
        The new scores, ``(N, V)``.
    """
    finfo = torch.finfo(scores.dtype)
    out = torch.where(scores != scores, 0.0, scores)
    out = torch.where(scores == math.inf, finfo.max, out)
    return torch.where(scores == -math.inf, finfo.min, out)


def renormalize(input_ids: Tensor, scores: Tensor) -> Tensor:
    """Turn the scores into log-probabilities again (``renormalize_logits``; applied last).

    Args:
        input_ids: ``(N, T)`` tokens so far (unused).
        scores: ``(N, V)`` next-token scores.

    Returns:
        ``log_softmax`` of the scores, ``(N, V)``.
    """
    return scores.log_softmax(dim=-1)


# -------------------------------------------------------------------------------------- sampling


def temperature(input_ids: Tensor, scores: Tensor, value: float) -> Tensor:
    """Divide the scores by a temperature.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        value: the temperature, > 0.

    Returns:
        The new scores, ``(N, V)``.
    """
    return scores / value


def top_k(
    input_ids: Tensor,
    scores: Tensor,
    k: int,
    min_tokens_to_keep: int = 1,
    filter_value: float = -math.inf,
) -> Tensor:
    """Keep the ``max(k, min_tokens_to_keep)`` best tokens (and those tied with the last).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        k: how many tokens to keep.
        min_tokens_to_keep: keep at least this many.
        filter_value: the score given to the others.

    Returns:
        The new scores, ``(N, V)``.
    """
    k = min(max(k, min_tokens_to_keep), scores.shape[-1])
    kth_best = torch.topk(scores, k).values[..., -1:]  # (N, 1)
    return scores.masked_fill(scores < kth_best, filter_value)


def top_p(
    input_ids: Tensor,
    scores: Tensor,
    p: float,
    min_tokens_to_keep: int = 1,
    filter_value: float = -math.inf,
) -> Tensor:
    """Keep the smallest set of best tokens whose probabilities add up to more than ``p``.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        p: the probability mass to keep, in (0, 1].
        min_tokens_to_keep: keep at least this many.
        filter_value: the score given to the others.

    Returns:
        The new scores, ``(N, V)``.
    """
    ascending, order = torch.sort(scores, descending=False)  # (N, V)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative <= (1 - p)
    drop_sorted[..., -min_tokens_to_keep:] = False
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return scores.masked_fill(drop, filter_value)


def min_p(
    input_ids: Tensor,
    scores: Tensor,
    p: float,
    min_tokens_to_keep: int = 1,
    filter_value: float = -math.inf,
) -> Tensor:
    """Drop tokens less likely than ``p`` times the most likely token's probability.

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        p: the fraction of the top probability a token needs, in [0, 1].
        min_tokens_to_keep: keep at least this many.
        filter_value: the score given to the others.

    Returns:
        The new scores, ``(N, V)``.
    """
    probs = torch.softmax(scores, dim=-1)
    drop = probs < p * probs.amax(dim=-1, keepdim=True)
    keep = torch.topk(probs, min(min_tokens_to_keep, probs.shape[-1]), dim=-1).indices
    drop.scatter_(-1, keep, False)
    return scores.masked_fill(drop, filter_value)


def top_h(input_ids: Tensor, scores: Tensor, h: float, filter_value: float = -math.inf) -> Tensor:
    """Keep the best tokens (of the best 100) while their entropy terms add up to at most
    ``h`` times the entropy of those 100 (the best token always stays).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        h: the fraction of the entropy, in (0, 1].
        filter_value: the score given to the others.

    Returns:
        The new scores, ``(N, V)``.
    """
    best, order = torch.topk(scores, min(100, scores.shape[-1]), dim=-1)  # (N, n), sorted
    dist = torch.distributions.Categorical(logits=best)
    probs = dist.probs
    cumulative = torch.cumsum(-probs * torch.log(probs), dim=-1)
    keep_sorted = cumulative <= (dist.entropy() * h)[:, None]
    keep_sorted[:, 0] = True
    keep = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, order, keep_sorted)
    return scores.masked_fill(~keep, filter_value)


def typical_p(
    input_ids: Tensor,
    scores: Tensor,
    mass: float,
    min_tokens_to_keep: int = 1,
    filter_value: float = -math.inf,
) -> Tensor:
    """Locally typical sampling: keep the tokens whose surprise is closest to the entropy, until
    their probabilities add up to ``mass`` (Meister et al., 2022).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        mass: the probability mass to keep, in (0, 1).
        min_tokens_to_keep: keep at least this many.
        filter_value: the score given to the others.

    Returns:
        The new scores, ``(N, V)``.
    """
    log_probs = torch.log_softmax(scores, dim=-1)
    entropy = -(log_probs * log_probs.exp()).nansum(-1, keepdim=True)  # (N, 1)
    distance, order = torch.sort((-log_probs - entropy).abs(), descending=False)
    cumulative = scores.gather(-1, order).softmax(dim=-1).cumsum(dim=-1)
    last = (cumulative < mass).sum(dim=1).clamp_(max=distance.shape[-1] - 1)  # (N,)
    drop_sorted = distance > distance.gather(1, last[:, None])
    drop_sorted[..., :min_tokens_to_keep] = False
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return scores.masked_fill(drop, filter_value)


def epsilon_cutoff(
    input_ids: Tensor,
    scores: Tensor,
    epsilon: float,
    min_tokens_to_keep: int = 1,
    filter_value: float = -math.inf,
) -> Tensor:
    """Drop tokens with a probability below ``epsilon`` (Hewitt et al., 2022).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        epsilon: the probability threshold, in (0, 1).
        min_tokens_to_keep: keep at least this many (the best ones).
        filter_value: the score given to the others.

    Returns:
        The new scores, ``(N, V)``.
    """
    return _drop_below(scores, scores.softmax(dim=-1) < epsilon, min_tokens_to_keep, filter_value)


def eta_cutoff(
    input_ids: Tensor,
    scores: Tensor,
    epsilon: float,
    min_tokens_to_keep: int = 1,
    filter_value: float = -math.inf,
) -> Tensor:
    """Drop tokens with a probability below ``min(epsilon, sqrt(epsilon) * exp(-entropy))``
    (eta sampling, Hewitt et al., 2022).

    Args:
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.
        epsilon: the largest threshold, in (0, 1).
        min_tokens_to_keep: keep at least this many (the best ones).
        filter_value: the score given to the others.

    Returns:
        The new scores, ``(N, V)``.
    """
    eps = torch.tensor(epsilon, device=scores.device)
    entropy = torch.distributions.Categorical(logits=scores).entropy()  # (N,)
    eta = torch.min(eps, torch.sqrt(eps) * torch.exp(-entropy))[..., None]
    return _drop_below(scores, scores.softmax(dim=-1) < eta, min_tokens_to_keep, filter_value)


def _drop_below(scores: Tensor, below: Tensor, min_tokens_to_keep: int, fill: float) -> Tensor:
    """Fill the ``below`` entries, sparing the ``min_tokens_to_keep`` best (and their ties)."""
    kth_best = torch.topk(scores, min(min_tokens_to_keep, scores.shape[-1]))[0][..., -1:]
    return scores.masked_fill(below & (scores < kth_best), fill)


# -------------------------------------------------------------------------------------- assembly


def build_processors(
    config: GenerationConfig,
    *,
    prompt_length: int,
    encoder_input_ids: Tensor | None = None,
    specs: Sequence[ProcessorSpec] | None = None,
) -> list[Processor]:
    """The controls ``config`` asks for, in the order transformers' ``generate`` applies them
    (:func:`warmstart.generation.plan.processor_specs` lists them), as functions of this module.

    Args:
        config: the generation settings.
        prompt_length: tokens in each row before generation starts (1: the start token).
        encoder_input_ids: ``(B, S)`` encoder input ids, needed for
            ``encoder_no_repeat_ngram_size`` > 0 and ``encoder_repetition_penalty`` != 1.
        specs: the processors by name, as a :class:`~warmstart.generation.plan.Plan` holds them
            (default: listed from ``config``).

    Returns:
        Processors to apply in turn with :func:`apply_processors`.

    Raises:
        ValueError: an encoder control without ``encoder_input_ids``, or
            ``exponential_decay_length_penalty`` without an eos.
    """
    if specs is None:
        specs = processor_specs(config, prompt_length)
    out: list[Processor] = []
    for name, settings in specs:
        if name in ENCODER_PROCESSORS:
            option = {"encoder_repetition_penalty": ("encoder_repetition_penalty", "1.0")}.get(
                name, ("encoder_no_repeat_ngram_size", "0")
            )
            settings = {
                **settings,
                "encoder_input_ids": _need_encoder_ids(encoder_input_ids, *option),
            }
        function = _FUNCTIONS[name]
        out.append(partial(function, **settings) if settings else function)
    return out


def _need_encoder_ids(encoder_input_ids: Tensor | None, name: str, off: str) -> Tensor:
    if encoder_input_ids is None:
        raise ValueError(
            f"`{name}` needs the encoder input ids; pass `encoder_input_ids`, or set `{name}={off}`."
        )
    return encoder_input_ids


def apply_processors(processors: Sequence[Processor], input_ids: Tensor, scores: Tensor) -> Tensor:
    """Run processors in turn.

    Args:
        processors: as :func:`build_processors` returns them.
        input_ids: ``(N, T)`` tokens so far.
        scores: ``(N, V)`` next-token scores.

    Returns:
        The new scores, ``(N, V)``.
    """
    for process in processors:
        scores = process(input_ids, scores)
    return scores


_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
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
"""Processor name (as the plan lists it) -> the function that applies it."""
