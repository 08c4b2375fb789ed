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
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor

from .config import GenerationConfig

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


# -------------------------------------------------------------------------------------- assembly


def build_processors(
    config: GenerationConfig,
    *,
    prompt_length: int,
    encoder_input_ids: Tensor | None = None,
) -> list[Processor]:
    """The controls ``config`` asks for, in the order transformers' ``generate`` applies them.

    Order: repetition penalty, no-repeat n-gram, encoder no-repeat n-gram, bad words, min length,
    min new tokens, forced bos, forced eos, suppressed tokens; then, only when sampling,
    temperature, top-k, top-p, min-p. Eos-dependent controls are left out when there is no eos.

    Args:
        config: the generation settings.
        prompt_length: tokens in each row before generation starts (1: the start token).
        encoder_input_ids: ``(B, S)`` encoder input ids, needed for
            ``encoder_no_repeat_ngram_size`` > 0.

    Returns:
        Processors to apply in turn with :func:`apply_processors`.

    Raises:
        ValueError: ``encoder_no_repeat_ngram_size`` > 0 without ``encoder_input_ids``.
    """
    c = config
    eos = c.eos_ids()
    out: list[Processor] = []
    if c.repetition_penalty != 1.0:
        out.append(partial(repetition_penalty, penalty=c.repetition_penalty))
    if c.no_repeat_ngram_size > 0:
        out.append(partial(no_repeat_ngram, ngram_size=c.no_repeat_ngram_size))
    if c.encoder_no_repeat_ngram_size > 0:
        if encoder_input_ids is None:
            raise ValueError(
                "`encoder_no_repeat_ngram_size` needs the encoder input ids; pass "
                "`encoder_input_ids`, or set `encoder_no_repeat_ngram_size=0`."
            )
        out.append(
            partial(
                encoder_no_repeat_ngram,
                ngram_size=c.encoder_no_repeat_ngram_size,
                encoder_input_ids=encoder_input_ids,
            )
        )
    if c.bad_words_ids is not None:
        out.append(partial(bad_words, bad_words_ids=c.bad_words_ids, eos_token_id=eos))
    if eos is not None and c.min_length > 0:
        out.append(partial(min_length, length=c.min_length, eos_token_id=eos))
    if eos is not None and c.min_new_tokens:
        out.append(
            partial(
                min_new_tokens,
                prompt_length=prompt_length,
                count=c.min_new_tokens,
                eos_token_id=eos,
            )
        )
    if c.forced_bos_token_id is not None:
        out.append(partial(forced_bos, token_id=c.forced_bos_token_id))
    if c.forced_eos_token_id is not None:
        max_length = c.max_total_length(prompt_length)
        out.append(partial(forced_eos, max_length=max_length, eos_token_id=c.forced_eos_token_id))
    if c.suppress_tokens is not None:
        out.append(partial(suppress_tokens, token_ids=c.suppress_tokens))
    if c.do_sample:
        out.extend(_sampling_processors(c, eos))
    return out


def _sampling_processors(c: GenerationConfig, eos: list[int] | None) -> list[Processor]:
    # Beam sampling keeps one token more than there are eos ids, so a beam can always go on.
    keep = (len(eos) + 1 if eos else 2) if c.num_beams > 1 else 1
    out: list[Processor] = []
    if c.temperature != 1.0:
        out.append(partial(temperature, value=float(c.temperature)))
    if c.top_k:
        out.append(partial(top_k, k=c.top_k, min_tokens_to_keep=keep))
    if c.top_p < 1.0:
        out.append(partial(top_p, p=float(c.top_p), min_tokens_to_keep=keep))
    if c.min_p is not None:
        out.append(partial(min_p, p=c.min_p, min_tokens_to_keep=keep))
    return out


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
