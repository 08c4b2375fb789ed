"""The shared layers: the product behind every projection (``linear``/``Linear``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from warmstart.layers import FEW_ROWS, Linear, linear


@pytest.mark.parametrize("rows", [0, 1, 2, 5, FEW_ROWS, FEW_ROWS + 1])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_equals_f_linear_at_inference(rows, with_bias):
    torch.manual_seed(rows)
    weight, bias = torch.randn(300, 48), torch.randn(300) if with_bias else None
    x = torch.randn(rows, 48)
    with torch.no_grad():
        got = linear(x, weight, bias)
    want = F.linear(x, weight, bias)
    assert got.shape == want.shape and got.is_contiguous()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_linear_keeps_leading_dimensions_and_strided_inputs():
    weight, bias = torch.randn(32, 16), torch.randn(32)
    x = torch.randn(2, 16, 3).transpose(1, 2)  # (2, 3, 16), not contiguous
    with torch.no_grad():
        got = linear(x, weight, bias)
    assert got.shape == (2, 3, 32)
    torch.testing.assert_close(got, F.linear(x, weight, bias), atol=1e-5, rtol=1e-5)


def test_linear_with_autograd_is_f_linear():
    weight = torch.randn(8, 4, requires_grad=True)
    x = torch.randn(1, 4)
    out = linear(x, weight)
    assert torch.equal(out, F.linear(x, weight))
    out.sum().backward()
    torch.testing.assert_close(weight.grad, x.expand(8, 4))


def test_linear_other_dtypes_take_f_linear():
    weight, x = torch.randn(8, 4, dtype=torch.float64), torch.randn(1, 4, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(linear(x, weight), F.linear(x, weight))


def test_linear_module_is_a_drop_in_nn_linear():
    torch.manual_seed(0)
    ours, plain = Linear(16, 24), torch.nn.Linear(16, 24)
    plain.load_state_dict(ours.state_dict())
    assert isinstance(ours, torch.nn.Linear) and list(ours.state_dict()) == ["weight", "bias"]
    x = torch.randn(1, 1, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), plain(x), atol=1e-6, rtol=1e-6)
