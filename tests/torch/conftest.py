"""The PyTorch fixtures (tests/torch_fixtures.py) for this folder."""

from torch_fixtures import _default_product_paths, _seed, one_thread, packs  # noqa: F401
