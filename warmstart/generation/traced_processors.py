"""Logits processors for the XLA rooms (TensorFlow, JAX), written once over the rooms' array
namespace (:class:`.traced_beam.Ops`).

Each reads the tokens so far as a static buffer ``seqs`` (N, L) whose first ``cur`` columns are
written (``cur`` may be traced) and returns new scores (N, V), as the PyTorch side's processor of
the same name (:mod:`warmstart.torch.generation.processors`, transformers'). :func:`bind` takes them
from the core's plan (:mod:`.plan`), which lists them in the order transformers applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from .plan import Plan
from .traced_beam import Ops

NEG_INF = float("-inf")
F32_MAX = float(np.finfo(np.float32).max)


def _vocab(xp: Ops, V: int, token_ids: Any) -> Any:
    """(V,) bool: which vocabulary entries are in ``token_ids`` (an id or ids)."""
    ids = token_ids if isinstance(token_ids, (list, tuple)) else [token_ids]
    return xp.asarray(np.isin(np.arange(V), ids))


def repetition_penalty(xp: Ops, seqs, cur, scores, penalty: float):
    """Negative scores of tokens already in the row times ``penalty``, others divided by it."""
    seen = xp.mark(xp.where(xp.arange(seqs.shape[1]) < cur, seqs, -1), scores.shape[-1])
    return xp.where(seen, xp.where(scores < 0, scores * penalty, scores / penalty), scores)


def no_repeat_ngram(xp: Ops, seqs, cur, scores, ngram_size: int):
    """Forbid any token that would repeat an n-gram already in the row."""
    n, W = ngram_size, seqs.shape[1] - ngram_size + 1  # windows starting at 0 .. W - 1
    if W <= 0:
        return scores
    matches = xp.arange(W) + n <= cur  # windows inside the written tokens
    for j in range(n - 1):  # ... whose first n - 1 tokens are the row's last n - 1
        matches = matches & (seqs[:, j : j + W] == seqs[:, cur - n + 1 + j][:, None])  # (N, W)
    banned = xp.mark(xp.where(matches, seqs[:, n - 1 : n - 1 + W], -1), scores.shape[-1])
    return xp.where(banned & (cur >= n), NEG_INF, scores)


def min_length(xp: Ops, seqs, cur, scores, length: int, eos: Sequence[int]):
    """Forbid eos while the rows are shorter than ``length`` tokens (prompt included)."""
    return xp.where((cur < length) & _vocab(xp, scores.shape[-1], eos), NEG_INF, scores)


def forced_token(xp: Ops, seqs, cur, scores, at: int, token_ids: Sequence[int]):
    """Only ``token_ids`` possible when the rows hold ``at`` tokens (forced bos and eos)."""
    forced = xp.where(_vocab(xp, scores.shape[-1], token_ids), 0.0, NEG_INF)  # (V,)
    return xp.where(cur == at, forced[None], scores)


def suppress_tokens(xp: Ops, seqs, cur, scores, token_ids: Sequence[int], begin: Any = None):
    """Forbid the listed tokens (with ``begin``: only when the rows hold ``begin`` tokens)."""
    banned = _vocab(xp, scores.shape[-1], token_ids)
    return xp.where(banned if begin is None else (cur == begin) & banned, NEG_INF, scores)


def temperature(xp: Ops, seqs, cur, scores, value: float):
    return scores / value


def top_k(xp: Ops, seqs, cur, scores, k: int, keep: int = 1):
    """Keep the ``max(k, keep)`` best tokens (and those tied with the last)."""
    kth_best = xp.top_k(scores, min(max(k, keep), scores.shape[-1]))[0][:, -1:]
    return xp.where(scores < kth_best, NEG_INF, scores)


def top_p(xp: Ops, seqs, cur, scores, p: float, keep: int = 1):
    """Keep the smallest set of best tokens whose probabilities add up to more than ``p``."""
    V = scores.shape[-1]
    order = xp.argsort(scores)  # (N, V) ascending
    cumulative = xp.cumsum(xp.softmax(xp.take(scores, order)))
    drop_sorted = (cumulative <= 1 - p) & (xp.arange(V) < V - keep)
    return xp.where(xp.take(drop_sorted, xp.argsort(order)), NEG_INF, scores)


def remove_invalid_values(xp: Ops, seqs, cur, scores):
    """NaN to 0 and +/-inf to the largest/smallest finite float32."""
    finite = xp.where(scores > F32_MAX, F32_MAX, xp.where(scores < -F32_MAX, -F32_MAX, scores))
    return xp.where(scores != scores, 0.0, finite)


_BIND: dict[str, Callable[[dict[str, Any]], Callable]] = {
    # the core's processor names and settings (plan.py) -> a processor's keywords
    "repetition_penalty": lambda s: partial(repetition_penalty, penalty=float(s["penalty"])),
    "no_repeat_ngram": lambda s: partial(no_repeat_ngram, ngram_size=s["ngram_size"]),
    "min_length": lambda s: partial(min_length, length=s["length"], eos=s["eos_token_id"]),
    "min_new_tokens": lambda s: partial(
        min_length, length=s["prompt_length"] + s["count"], eos=s["eos_token_id"]
    ),
    "forced_bos": lambda s: partial(forced_token, at=1, token_ids=s["token_id"]),
    "forced_eos": lambda s: partial(
        forced_token, at=s["max_length"] - 1, token_ids=s["eos_token_id"]
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


def bind(xp: Ops, plan: Plan) -> list[Callable]:
    """The plan's processors, each ``(seqs (N, L), cur, scores (N, V)) -> scores (N, V)``."""
    return [partial(_BIND[name](settings), xp) for name, settings in plan.processors]


def apply(processors: Sequence[Callable], seqs, cur, scores) -> Any:
    for process in processors:
        scores = process(seqs, cur, scores)
    return scores
