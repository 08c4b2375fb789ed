"""Large CPU buffers of a training step whose memory is used again by the next step.

glibc's malloc gives an allocation of 32 MB or more fresh pages of its own, returned to the system
when the tensor dies, and the kernel zeroes each 4 KB page on first touch. A training step of a
bert2bert with a 30k vocabulary makes six such tensors (the vocabulary logits and their gradient,
the head's weight gradient, each side's embedding gradient and the sum of the tied ones): on a
2-core AVX2 EPYC a fresh 47 MB tensor costs about 18 ms of page faults before any arithmetic, and a
reused one 1 ms to overwrite, so the faults took some 7% of the step.

:func:`empty` hands out such tensors from a few kept storages. A storage is handed out again only
when no tensor uses it any more (its use count is ours alone), so a buffer still held anywhere (the
logits a caller kept, a gradient before ``zero_grad``) is never written over: the caller then gets a
new buffer. The custom kernels of :mod:`.kernels` and :mod:`.products` take their large outputs
from here, on CPU only (CUDA's caching allocator does this already). A tied LM head and embedding
share one gradient buffer (:func:`offered_gradient`), where autograd would sum theirs into a third.
"""

from __future__ import annotations

import threading
import weakref

import torch
from torch import Tensor

MIN_BYTES = 16 << 20
"""Smaller tensors are allocated as usual (malloc reuses its own heap for most of them)."""

KEPT = 8
"""Storages kept at most (freed ones beyond it go back to the system)."""

_kept: list[torch.UntypedStorage] = []
_lock = threading.Lock()
_offered: dict[int, tuple[int, weakref.ref]] = {}


def large(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype = torch.float32) -> bool:
    """Whether :func:`empty` reuses memory for a tensor of this shape and dtype."""
    return torch.Size(shape).numel() * dtype.itemsize >= MIN_BYTES


def empty(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype = torch.float32) -> Tensor:
    """``torch.empty(shape, dtype=dtype)`` on CPU, its memory reused when it is large."""
    shape = tuple(shape)
    if not large(shape, dtype):
        return torch.empty(shape, dtype=dtype)
    storage = _free_storage(torch.Size(shape).numel() * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape)


def zeros(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype = torch.float32) -> Tensor:
    """``torch.zeros`` as :func:`empty` allocates it."""
    return empty(shape, dtype).zero_()


def release() -> None:
    """Let the kept storages go (those in use stay with their tensors)."""
    with _lock:
        _kept.clear()


def _free_storage(nbytes: int) -> torch.UntypedStorage:
    """The smallest kept storage of at least ``nbytes`` that no tensor uses, else a new one
    (rounded up to an eighth of its power of two, so that a size that varies a little from step to
    step finds its storage again), kept when there is room."""
    with _lock:
        free = [s for s in _kept if s.nbytes() >= nbytes and _unused(s)]
        if free:
            return min(free, key=lambda s: s.nbytes())
        step = 1 << max(0, nbytes.bit_length() - 4)
        storage = torch.UntypedStorage(-(-nbytes // step) * step)
        if len(_kept) >= KEPT:
            unused = [s for s in _kept if _unused(s)]
            if not unused:
                return storage
            _kept.remove(min(unused, key=lambda s: s.nbytes()))
        _kept.append(storage)
        return storage


def _unused(storage: torch.UntypedStorage) -> bool:
    return torch._C._storage_Use_Count(storage._cdata) == 1


def offer_gradient(weight: Tensor, grad: Tensor) -> None:
    """Record ``grad``, the gradient one use of ``weight`` hands autograd in the running backward,
    for a later use of the same weight in that backward (:func:`offered_gradient`)."""
    _offered[weight.data_ptr()] = (torch._C._current_graph_task_id(), weakref.ref(grad))


def offered_gradient(weight_at: int, shape: torch.Size) -> Tensor | None:
    """The gradient an earlier use of the weight at ``weight_at`` (its ``data_ptr()``), of
    ``shape``, handed autograd in the running backward, while autograd still holds it to deliver;
    else None. A tied weight's second use adds its part into it and hands autograd nothing:
    autograd would sum the two into a third large tensor (it adds in place only into a tensor
    whose storage nobody else holds, and this module holds both).

    When autograd has summed the offered tensor with another use's gradient already, it has let the
    offered one go (its weak reference is dead), and None tells the caller to hand over its own.
    """
    task, ref = _offered.pop(weight_at, (None, None))
    grad = ref() if ref is not None else None
    if grad is None or task != torch._C._current_graph_task_id() or grad.shape != shape:
        return None
    return grad
