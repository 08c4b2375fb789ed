"""Datasets the repository generates itself (no downloads): see :mod:`warmstart.data.discofuse` and
:mod:`warmstart.data.headlines` (sources of varied length, for timing fine-tuning on real lengths)."""

from . import headlines
from .discofuse import make_example, make_splits, write_splits

__all__ = ["headlines", "make_example", "make_splits", "write_splits"]
