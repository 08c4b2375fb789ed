"""Fine-tuning: data loading and batching, the Trainer, metrics, checkpoints, batched generation.

The PyTorch Trainer and what it needs import torch when first used (PEP 562), so that the data
readers and ``warmstart train --framework tf | flax`` work without it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import TrainConfig
from .tokens import configure_special_tokens

_LAZY = {
    "DataError": "data",
    "read_pairs": "data",
    "compute_metrics": "metrics",
    "plot_metrics": "metrics",
    "evaluate": "predict",
    "generate_texts": "predict",
    "Trainer": "trainer",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'warmstart.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = ["TrainConfig", "configure_special_tokens", *_LAZY]
