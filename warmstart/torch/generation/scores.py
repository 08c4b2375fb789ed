"""The score of each generated token, from what ``generate`` returns (transformers'
``compute_transition_scores``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def transition_scores(
    sequences: Tensor,
    scores: Sequence[Tensor],
    beam_indices: Tensor | None = None,
    normalize_logits: bool = False,
) -> Tensor:
    """The score each generated token had when it was chosen.

    Args:
        sequences: ``(N, L)`` as ``generate`` returns them.
        scores: the ``scores`` (or ``logits``) of ``generate``, one ``(R, V)`` tensor per step.
        beam_indices: beam search's ``beam_indices``, ``(N, steps)``: the row of ``scores`` each
            token came from, -1 past a sequence's end. None (greedy search, sampling): row i of
            every step belongs to sequence i.
        normalize_logits: take a log-softmax over the vocabulary first.

    Returns:
        ``(N, T)`` where T is the longest sequence's number of generated tokens: the score of
        token ``sequences[i, L - T + t]``, 0 past the sequence's end.
    """
    steps = torch.stack(tuple(scores))  # (S, R, V)
    if normalize_logits:
        steps = torch.log_softmax(steps.float(), dim=-1)
    if beam_indices is None:
        beam_indices = torch.arange(steps.shape[1], device=steps.device)[:, None]
        beam_indices = beam_indices.expand(-1, steps.shape[0])
    ended = beam_indices < 0  # (N, S)
    length = int((~ended).sum(-1).max())
    rows, ended = beam_indices[:, :length].clamp(min=0), ended[:, :length]  # (N, T)
    tokens = sequences[:, sequences.shape[1] - length :]  # (N, T)
    step = torch.arange(length, device=steps.device).expand_as(rows)
    return steps[step, rows, tokens].masked_fill(ended, 0.0)
