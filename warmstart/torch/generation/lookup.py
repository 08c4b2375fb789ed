"""Prompt lookup decoding: greedy search that checks several guessed tokens in one decoder pass.

Saxena, "Prompt Lookup Decoding" (2023); transformers' ``prompt_lookup_num_tokens``. Summaries,
fusions and edits copy long spans of their source, so the tokens after the output's last n-gram
can often be guessed by finding that n-gram earlier in the source or the output. The decoder then
runs once over the last token and the guesses (a pass over t tokens costs about one one-token step
on a CPU, which reads every weight either way); the guesses it would have chosen itself are kept,
with the token it chooses after them. The tokens are greedy search's: a guess only decides how many
positions one pass computes.

Besides the ``step`` of :mod:`warmstart.torch.generation.search`, the model provides a :class:`Lookahead`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

DEFAULT_NGRAM = 2
"""The longest n-gram matched when ``max_matching_ngram_size`` is unset (transformers' default)."""


@dataclass
class Lookahead:
    """What prompt lookup decoding needs from a model besides its one-token ``step``.

    Attributes:
        step_all: ``(tokens (1, t), cache) -> (logits (1, t, V), cache)``: like ``step`` but
            returning the logits of every position fed, each predicting the token after it.
        rewind: ``(cache, n) -> cache``: forget the ``n`` newest cached positions.
        source: ``(1, S)`` ids to look guesses up in besides the output, in the decoder's
            vocabulary (the encoder input when both sides share it), or None.
        width: the most tokens one pass should feed (the newest token and the guesses), or
            None for ``prompt_lookup_num_tokens + 1``. A pass costs about one step only while its
            products stay bound by reading the weights; past that, every position costs more.
    """

    step_all: Callable[[Tensor, Any], tuple[Tensor, Any]]
    rewind: Callable[[Any, int], Any]
    source: Tensor | None = None
    width: int | None = None


def guess(text: Tensor, ngram: int, count: int) -> Tensor:
    """The tokens that followed the earliest earlier occurrence of ``text``'s last n-gram.

    The longest n-gram (``ngram`` down to 1 tokens) that occurs earlier wins, as in transformers.

    Args:
        text: ``(T,)`` the source, then the output so far.
        ngram: the longest n-gram to match.
        count: the most tokens to return.

    Returns:
        ``(c,)`` with ``0 <= c <= count``; empty when nothing matches.
    """
    T = text.shape[0]
    for n in range(min(ngram, T - 1), 0, -1):
        windows = text[: T - 1].unfold(0, n, 1)  # (T - n, n): every n-gram with a token after it
        hits = (windows == text[T - n :]).all(dim=1).nonzero()
        if hits.numel():
            start = int(hits[0, 0]) + n
            return text[start : start + count]
    return text[:0]


def settings(config: Any) -> tuple[int, int]:
    """``(prompt_lookup_num_tokens, max_matching_ngram_size)`` of a validated generation config,
    the n-gram size defaulted."""
    ngram = config.max_matching_ngram_size
    return config.prompt_lookup_num_tokens, DEFAULT_NGRAM if ngram is None else ngram


def with_source(source: Tensor | None, ids: Tensor) -> Tensor:
    """``(S + L,)``: the text guesses are looked up in, for the one row ``ids`` (1, L)."""
    return ids[0] if source is None else torch.cat([source[0], ids[0]])
