"""The plan's logits processors over numpy arrays, for rooms that run without a framework
(:mod:`warmstart.onnx`): the core's (:mod:`.eager_processors`, which the PyTorch side shares) over
:data:`NUMPY`, which also holds beam search's functions (:mod:`.eager_beam`). Each is ``control(input_ids (N, T), scores (N, V), **settings) -> scores (N, V)``,
the input unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import eager_processors as core
from .eager_processors import EagerOps, apply  # noqa: F401  (numpy_processors.apply)
from .plan import ProcessorSpec

Processor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float32 in, float32 out)."""
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis."""
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _put(x: np.ndarray, index: np.ndarray, values: Any) -> np.ndarray:
    np.put_along_axis(x, index, values, axis=1)
    return x


def _by(x: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.take_along_axis(x, order, axis=1), order


def _add_columns(x: np.ndarray, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``x`` plus ``values`` in ``columns``; the other columns are copied as they are."""
    out = x.copy()
    out[:, columns] += values
    return out


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


def _draw(flat: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k positions per row drawn without replacement from softmax(flat) (Gumbel top-k), by score."""
    gumbel = -np.log(-np.log(rng.random(flat.shape)))
    picks = _top(np.log(softmax(flat.astype(np.float64))) + gumbel, k)
    values = np.take_along_axis(flat, picks, axis=1)
    return np.take_along_axis(picks, np.argsort(-values, axis=1, kind="stable"), axis=1)


def _categorical(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = softmax(logits)
    return probs, (-probs * np.log(probs)).sum(-1)


NUMPY = EagerOps(
    where=np.where,
    isin=np.isin,
    exp=np.exp,
    log=np.log,
    sqrt=np.sqrt,
    isfinite=np.isfinite,
    finfo=np.finfo,
    zeros_like=np.zeros_like,
    full_like=np.full_like,
    copy=np.copy,
    softmax=softmax,
    log_softmax=log_softmax,
    nansum=lambda x: np.nansum(x, -1, keepdims=True),
    amax=lambda x: x.max(-1, keepdims=True),
    clip=np.minimum,
    arange=lambda n, like: np.arange(n),
    ids=lambda token_ids, like=None: np.asarray(token_ids, dtype=np.int64).reshape(-1),
    on=lambda x, like: np.asarray(x),
    falses=lambda shape, like: np.zeros(shape, dtype=bool),
    put=_put,
    gather=lambda x, index: np.take_along_axis(x, index, axis=1),
    windows=lambda x, n: np.lib.stride_tricks.sliding_window_view(x, n, axis=1),
    repeat_rows=lambda x, r: np.repeat(x, r, axis=0),
    sort=lambda x: _by(x, np.argsort(x, axis=-1, kind="stable")),
    top=lambda x, k: _by(x, np.argsort(-x, axis=-1, kind="stable")[:, :k]),
    kth_best=lambda x, k: -np.partition(-x, k - 1, axis=-1)[:, k - 1 : k],
    scalar=lambda value, like: np.float32(value),
    number=np.float32,
    add_columns=_add_columns,
    entropy=lambda logits, probs: -np.nansum(probs * log_softmax(logits), -1),
    categorical=_categorical,
    needs_encoder_ids="`{name}` needs the encoder input ids; pass input_ids.",
    full=lambda shape, value, dtype, like: np.full(shape, value, dtype=dtype),
    float32=lambda x: x.astype(np.float32),
    cat=lambda arrays: np.concatenate(arrays, axis=1),
    amin=lambda x: x.min(-1, keepdims=True),
    best=_top,
    beam_top=lambda total, k: _top(total.reshape(total.shape[0], -1), k),
    draw=_draw,
)
"""numpy's array functions for the core's controls."""

FUNCTIONS: dict[str, Callable[..., np.ndarray]] = core.bound(NUMPY)
"""Processor name (as the plan lists it) -> its numpy function."""


def build(specs: Sequence[ProcessorSpec], encoder_input_ids: np.ndarray | None) -> list[Processor]:
    """Bind the plan's processors to numpy arrays.

    Raises:
        ValueError: an encoder control without ``encoder_input_ids``.
    """
    return core.build(NUMPY, specs, encoder_input_ids)
