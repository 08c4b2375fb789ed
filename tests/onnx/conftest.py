"""The PyTorch fixtures (tests/torch_fixtures.py) for this folder: the graphs are exported from the
PyTorch side."""

from torch_fixtures import _default_product_paths, _seed, one_thread  # noqa: F401
