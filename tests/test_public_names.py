"""Every public name of ``warmstart`` resolves, the lazy ones from their framework's side."""

import importlib

import pytest

import warmstart


@pytest.mark.parametrize("name", warmstart.__all__)
def test_every_public_name_resolves(name):
    side = warmstart._LAZY.get(name)
    if side is not None:
        pytest.importorskip(warmstart._SIDES[side][1][0])
    assert getattr(warmstart, name) is not None
    assert name in dir(warmstart)


@pytest.mark.parametrize("side", ["tf", "flax"])
def test_every_model_class_of_a_side_is_a_top_level_name(side):
    """The core lists the TF and Flax names without importing their sides; a model class added to a
    side and not to that list would be missing from ``warmstart``."""
    pytest.importorskip(warmstart._SIDES[side][1][0])
    module = importlib.import_module(f"warmstart.{side}")
    models = {n for n in module.__all__ if hasattr(getattr(module, n), "from_pretrained")}
    listed = {n for n, s in warmstart._LAZY.items() if s == side}
    assert models and models <= listed, sorted(models - listed)
