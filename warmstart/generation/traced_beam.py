"""One beam-search step for the XLA rooms (TensorFlow, JAX), written once over an array namespace.

transformers' vectorised beam search step for step, as the eager rooms' :mod:`.eager_beam` (see
there), over static (B, K, max_length) buffers so that it traces under XLA.
The room passes ``xp``, an :class:`Ops` of its framework's functions (the arrays' own operators do
the rest) and keeps its loop, processors and cache, which it reorders by the beams a step returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import GenerationConfig
from .settings import beam_fill

NEG = -1.0e9
"""The score of a dead beam or an empty hypothesis slot."""


@dataclass(frozen=True)
class Ops:
    """A room's array functions; each is NumPy's of the same name unless said."""

    top_k: Callable  # (x (..., M), k) -> (values, indices) of the k largest, best first
    take: Callable  # (x (B, K, ...), index (B, C)) -> (B, C, ...): picks along axis 1
    where: Callable
    concat: Callable  # (arrays, axis)
    reshape: Callable
    full: Callable  # (shape, value, dtype name)
    all: Callable  # (x, axis=None, keepdims=False)
    any: Callable
    min: Callable
    arange: Callable
    float32: Callable  # x -> x as float32
    # the processors' (traced_processors.py):
    asarray: Callable
    argsort: Callable  # x -> the stable ascending order along the last axis
    cumsum: Callable  # x -> along the last axis
    softmax: Callable  # x -> along the last axis
    mark: Callable  # (ids (N, M), V) -> (N, V) bool: the ids in [0, V) each row holds


def start(xp: Ops, prompt: Any, B: Any, config: GenerationConfig) -> dict[str, Any]:
    """The loop's state for ``prompt`` (B * K, P) int32 rows, each input's repeated K times: only the
    first of each input's K beams is live at first, so that the K copies do not pick the same
    tokens."""
    K, P, L = config.num_beams, prompt.shape[1], config.max_length
    running = xp.concat([prompt, xp.full((B * K, L - P), beam_fill(config), "int32")], 1)
    running = xp.reshape(running, (-1, K, L))  # (B, K, L)
    first = xp.full((B, 1), 0.0, "float32")
    return {
        "length": xp.full((), P, "int32"),  # tokens written in each row
        "running": running,
        "running_scores": xp.concat([first, xp.full((B, K - 1), NEG, "float32")], 1),  # (B, K)
        "done": running,  # (B, K, L) the finished hypotheses, best first
        "done_scores": xp.full((B, K), NEG, "float32"),
        "done_lengths": xp.full((B, K), P, "int32"),
        "is_done": xp.full((B, K), False, "bool"),
        "improvable": xp.full((B, 1), True, "bool"),
        "stop": xp.full((), False, "bool"),
    }


def step(
    xp: Ops,
    s: dict[str, Any],
    log_probs: Any,
    config: GenerationConfig,
    P: int,
    noise: Callable[[Any], Any] | None = None,
) -> tuple[dict[str, Any], Any]:
    """One step over ``log_probs`` (B * K, V), the processed log-probabilities of the running
    beams' next tokens; ``P`` is the prompt's length, ``noise(total)`` Gumbel noise of the shape of
    ``total`` (B, K * V) to sample with.

    Returns:
        The new state, and for each new live beam (B, K) the beam of its input it extends.
    """
    K, L = s["running"].shape[1], s["running"].shape[2]
    V, length, eos = log_probs.shape[-1], s["length"], config.eos_ids() or ()
    C = max(2, 1 + len(eos)) * K
    total = xp.reshape(log_probs, (-1, K, V)) + s["running_scores"][:, :, None]
    total = xp.reshape(total, (-1, K * V))  # (B, K * V)
    if noise is None:
        scores, picks = xp.top_k(total, C)  # (B, C)
    else:
        picks = xp.top_k(total + noise(total), C)[1]
        scores, order = xp.top_k(xp.take(total, picks), C)
        picks = xp.take(picks, order)
    source, tokens = picks // V, picks % V
    sequences = xp.where(xp.arange(L) == length, tokens[:, :, None], xp.take(s["running"], source))
    finished = (tokens < 0) | (length + 1 >= L)  # (B, C)
    for token in eos:
        finished = finished | (tokens == token)
    running_scores, keep = xp.top_k(xp.where(finished, scores + NEG, scores), K)  # (B, K)
    new = finished & (xp.arange(C) < K)  # hypotheses come from the first K only
    final = scores / xp.float32(length + 1 - P) ** config.length_penalty
    if config.early_stopping is True:
        final = xp.where(xp.all(s["is_done"], axis=-1, keepdims=True), final + NEG, final)
    final = xp.where(s["improvable"], final, final + NEG)
    final = xp.where(new, final, final + NEG)
    done_scores, best = xp.top_k(xp.concat([s["done_scores"], final], 1), K)

    def merge(old: Any, candidates: Any) -> Any:
        return xp.take(xp.concat([old, candidates], 1), best)

    out = {
        "length": length + 1,
        "running": xp.take(sequences, keep),
        "running_scores": running_scores,
        "done": merge(s["done"], sequences),
        "done_scores": done_scores,
        "done_lengths": merge(s["done_lengths"], tokens * 0 + (length + 1)),
        "is_done": merge(s["is_done"], new),
    }
    out["improvable"] = s["improvable"] & _improvable(xp, out, config, P)
    out["stop"] = ~xp.any(out["improvable"]) | xp.all(finished)
    if config.early_stopping is True:
        out["stop"] = out["stop"] | xp.all(out["is_done"])
    return out, xp.take(source, keep)


def _improvable(xp: Ops, s: dict[str, Any], config: GenerationConfig, P: int) -> Any:
    """(B, 1): whether an input's best live beam can still beat its worst finished hypothesis."""
    penalty = config.length_penalty
    if config.early_stopping == "never" and penalty > 0.0:
        best_length = xp.float32(config.max_length - P)
    else:
        best_length = xp.float32(s["length"] - P)
    best_live = s["running_scores"][:, :1] / best_length**penalty  # (B, 1)
    worst = xp.where(s["is_done"], xp.min(s["done_scores"], axis=1, keepdims=True), NEG)
    return xp.any(best_live > worst, axis=-1, keepdims=True)


def results(xp: Ops, s: dict[str, Any], R: int) -> tuple[Any, Any, Any]:
    """The best ``R`` hypotheses of each input, best first: (B * R, L), their lengths and scores
    (B * R,)."""
    L = s["done"].shape[2]
    flat = (xp.reshape(s[name][:, :R], (-1,)) for name in ("done_lengths", "done_scores"))
    return (xp.reshape(s["done"][:, :R], (-1, L)), *flat)
