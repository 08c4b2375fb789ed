"""The fixtures of every test folder that runs PyTorch (torch/, tf/, flax/, onnx/, train/: the
other rooms' tests check against the PyTorch side); each folder's conftest.py imports the ones it
uses, so that tests/core runs without torch."""

from __future__ import annotations

import pytest
import torch

from warmstart.torch.speed import cpu, products


@pytest.fixture(autouse=True, scope="session")
def _default_product_paths():
    """The product paths of ``warmstart.torch.cpu`` fixed at their defaults, so that no test
    depends on what this CPU measured faster (tests/torch/test_cpu.py forces each candidate)."""
    with cpu.forced(**{name: paths[0] for name, paths in cpu.CHOICES.items()}):
        yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny models: extra threads only slow them down, badly so
    when other processes share the CPUs. Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def packs(monkeypatch) -> list[torch.Tensor]:
    """The weights ``warmstart.torch.speed.products.packed_weights`` reorders during the test, in order (a test
    using it is skipped where torch cannot keep weights in oneDNN's layout)."""
    if not products._HAS_PACKING:
        pytest.skip("this torch cannot keep weights in oneDNN's layout")
    seen: list[torch.Tensor] = []
    pack = products._pack
    monkeypatch.setattr(products, "_pack", lambda w: seen.append(w) or pack(w))
    return seen
