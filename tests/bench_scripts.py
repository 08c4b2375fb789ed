"""A script of benchmarks/ (no package) loaded as a module for its tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

FOLDER = Path(__file__).resolve().parents[1] / "benchmarks"


@contextmanager
def bench_script(name: str) -> Iterator[ModuleType]:
    """``benchmarks/<name>.py`` as a module, registered while in use (dataclasses look their
    module up)."""
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", FOLDER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]
