"""Datasets the repository generates itself (no downloads): see :mod:`warmstart.data.discofuse`."""

from .discofuse import make_example, make_splits, write_splits

__all__ = ["make_example", "make_splits", "write_splits"]
