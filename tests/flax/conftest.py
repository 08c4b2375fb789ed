"""Fixtures of the Flax side's tests: skip without jax/flax, and compile quickly.

XLA's CPU backend spends most of a tiny model's compile time in LLVM's optimisations, which buy
nothing at these sizes; the flag below (set before jax starts its backend, if it has not yet) cuts
the compiles of these tests about in half. Timings in benchmarks/ run without it.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault(
    "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
)
pytest.importorskip("flax")
pytest.importorskip("optax")

from torch_fixtures import _default_product_paths, _seed  # noqa: F401  (the references)
