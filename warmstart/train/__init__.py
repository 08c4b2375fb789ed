"""Fine-tuning: data loading and batching, the Trainer, metrics, checkpoints, batched generation."""

from .config import TrainConfig
from .data import DataError, read_pairs
from .metrics import compute_metrics, plot_metrics
from .predict import evaluate, generate_texts
from .trainer import Trainer, configure_special_tokens

__all__ = [
    "DataError",
    "TrainConfig",
    "Trainer",
    "compute_metrics",
    "configure_special_tokens",
    "evaluate",
    "generate_texts",
    "plot_metrics",
    "read_pairs",
]
