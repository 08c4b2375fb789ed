"""Process-group set-up for runs under ``torchrun``: gloo on CPU, nccl on CUDA.

``torchrun`` describes the run in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; without them a run is a single
process and every helper here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """Where this process sits in the run."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def pick_device(device: str | None = None) -> torch.device:
    """``device``, or CUDA when torch sees one and none is named; a clear error for a device name
    torch does not know, or for CUDA where torch sees none."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        picked = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"--device {device!r} is not a device torch knows ({err}).") from err
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {device} was asked for, but this torch sees no CUDA device (a CPU build of "
            "torch, or no GPU visible). Run on the CPU with --device cpu."
        )
    return picked


def setup(device: str | None = None) -> Dist:
    """Join the process group that ``torchrun`` describes, if any, and pick this process's device.

    Args:
        device: "cpu", "cuda" or None (CUDA when available).

    Returns:
        The rank, world size and device.
    """
    want_cuda = pick_device(device).type == "cuda"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=torch.device("cuda" if want_cuda else "cpu"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        gpus = torch.cuda.device_count()
        if local >= gpus:
            per_node = os.environ.get("LOCAL_WORLD_SIZE", str(local + 1))
            raise ValueError(
                f"torchrun started {per_node} processes on this machine, one per GPU, but it has "
                f"{gpus} CUDA device(s). Start at most {gpus} (--nproc_per_node {gpus}), or "
                "train on CPU processes with --device cpu."
            )
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if want_cuda else "gloo")
    dev = torch.device("cuda", local) if want_cuda else torch.device("cpu")
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), device=dev)


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def all_sum(d: Dist, value: float) -> float:
    """The sum of ``value`` over all processes."""
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return float(t.item())


def gather_objects(d: Dist, obj: Any) -> list[Any]:
    """``obj`` of every process, in rank order (a list of one without a process group)."""
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(d: Dist, obj: Any) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not d.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
