"""The plan's logits processors over numpy arrays, for rooms that run without a framework
(:mod:`warmstart.onnx`): the core's (:mod:`.eager_processors`, which the PyTorch side shares) over
:data:`NUMPY`. Each is ``control(input_ids (N, T), scores (N, V), **settings) -> scores (N, V)``,
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
