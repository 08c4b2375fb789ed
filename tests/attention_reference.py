"""The written-out attention the rooms' head-size and scale tests compare with (numpy, no
framework): softmax(scale * Q K^T) V."""

from __future__ import annotations

import numpy as np


def softmax_attention(q, k, v, scale: float, keep=None) -> np.ndarray:
    """q (B, H, T, D), k/v (B, H, S, D), ``keep`` a boolean mask broadcast to (B, H, T, S) ->
    (B, T, H * D), in float64."""
    scores = np.einsum("bhtd,bhsd->bhts", q, k).astype(np.float64) * scale
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = np.einsum("bhts,bhsd->bhtd", probs, v)
    B, H, T, D = out.shape
    return out.transpose(0, 2, 1, 3).reshape(B, T, H * D)
