"""Every public name of ``warmstart`` resolves, the lazy ones from their framework's side."""

import pytest

import warmstart


@pytest.mark.parametrize("name", warmstart.__all__)
def test_every_public_name_resolves(name):
    side = warmstart._LAZY.get(name)
    if side is not None:
        pytest.importorskip(warmstart._SIDES[side][1][0])
    assert getattr(warmstart, name) is not None
    assert name in dir(warmstart)
