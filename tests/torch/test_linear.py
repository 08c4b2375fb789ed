"""The product behind every projection (``linear``/``Linear``/``linear_then``) against
``F.linear``, and the paths it takes: ``weight @ x.T`` for few rows, oneDNN, packed weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from warmstart.torch.speed import products
from warmstart.torch.speed.products import ACTIVATIONS, FEW_ROWS, Linear, linear, linear_then


@pytest.mark.parametrize("rows", [0, 1, 2, FEW_ROWS, FEW_ROWS + 1, 100])
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


@pytest.mark.parametrize("rows", [1, 3 * FEW_ROWS])
def test_linear_keeps_leading_dimensions_and_strided_inputs(rows):
    weight, bias = torch.randn(32, 16), torch.randn(32)
    x = torch.randn(2, 16, rows).transpose(1, 2)  # (2, rows, 16), not contiguous
    with torch.no_grad():
        got = linear(x, weight, bias)
    assert got.shape == (2, rows, 32)
    torch.testing.assert_close(got, F.linear(x, weight, bias), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(products.ACTIVATIONS))
@pytest.mark.parametrize("rows", [2, 3 * FEW_ROWS])
def test_linear_applies_the_named_activation(name, rows):
    torch.manual_seed(0)
    weight, bias, x = torch.randn(64, 32), torch.randn(64), torch.randn(2, rows, 32)
    with torch.no_grad():
        got = linear(x, weight, bias, name)
    want = products.ACTIVATIONS[name](F.linear(x, weight, bias))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rows", [1, 3 * FEW_ROWS])
@pytest.mark.parametrize("trainable", ["all", "weight", "bias", "input"])
def test_linear_gradients_equal_f_linear(rows, trainable):
    torch.manual_seed(rows)
    made = {"x": torch.randn(3, rows, 16), "w": torch.randn(24, 16), "b": torch.randn(24)}
    needs = {"all": "xwb", "weight": "w", "bias": "b", "input": "x"}[trainable]
    grads = {}
    for product in (linear, F.linear):
        leaves = {k: v.clone().requires_grad_(k in needs) for k, v in made.items()}
        out = product(leaves["x"], leaves["w"], leaves["b"])
        (out * torch.linspace(-1, 1, 24)).sum().backward()
        grads[product] = {k: v.grad for k, v in leaves.items()}
    for k, want in grads[F.linear].items():
        got = grads[linear][k]
        assert (got is None) == (want is None), k
        if want is not None:
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_linear_products_run_in_onednn_where_it_is_available(monkeypatch):
    if not products._HAS_ONEDNN:
        pytest.skip("this torch has no oneDNN")
    calls = []
    monkeypatch.setattr(
        products, "_onednn", lambda *a: calls.append(a[1].shape) or F.linear(*a[:3])
    )
    weight = torch.randn(8, 4, requires_grad=True)
    x = torch.randn(3 * FEW_ROWS, 4, requires_grad=True)
    linear(x, weight).sum().backward()  # the forward, then the input's gradient (by weight.T)
    with torch.no_grad():
        linear(x, weight)
        linear(x[:1], weight)  # one row: weight @ x.T, not oneDNN
    assert calls == [(8, 4), (4, 8), (8, 4)]


def test_packed_weights_reorder_each_weight_once_per_block(packs):
    weight, bias = torch.randn(24, 16), torch.randn(24)
    x = torch.randn(2, 3 * FEW_ROWS, 16)
    with torch.no_grad():
        with products.packed_weights():
            for act in (None, "gelu", "relu", "tanh"):  # fused into the product or applied after
                want = (
                    F.linear(x, weight, bias)
                    if act is None
                    else ACTIVATIONS[act](F.linear(x, weight, bias))
                )
                torch.testing.assert_close(linear(x, weight, bias, act), want, atol=1e-5, rtol=1e-5)
            assert [w.shape for w in packs] == [(24, 16)]  # on its second use, once
            with products.packed_weights():  # a nested block keeps the outer one's weights
                linear(x, weight)
            linear(x[:, :1], weight)  # few rows: weight @ x.T, nothing to pack
            assert [w.shape for w in packs] == [(24, 16)]
            weight.add_(1.0)  # changed in place: used as it is, then packed again
            for _ in range(2):
                got = linear(x, weight)
                torch.testing.assert_close(got, F.linear(x, weight), atol=1e-5, rtol=1e-5)
            assert [w.shape for w in packs] == [(24, 16)] * 2
            linear(x, torch.randn(8, 16))  # used once: left as it is
            assert [w.shape for w in packs] == [(24, 16)] * 2
        linear(x, weight)  # after the block: plain weights again
        assert [w.shape for w in packs] == [(24, 16)] * 2 and products._scope.packed is None
    with products.packed_weights():
        w = weight.clone().requires_grad_()
        for _ in range(2):
            linear(x, w).sum().backward()  # training keeps its own path
    assert [w.shape for w in packs] == [(24, 16)] * 2


def test_packed_weights_take_tensors_made_under_inference_mode():
    if not products._HAS_PACKING:
        pytest.skip("this torch cannot keep weights in oneDNN's layout")
    with torch.inference_mode():  # such tensors keep no version counter
        weight, x = torch.randn(24, 16), torch.randn(3 * FEW_ROWS, 16)
        with products.packed_weights():
            for _ in range(2):  # the second use packs
                torch.testing.assert_close(linear(x, weight), F.linear(x, weight))


@pytest.mark.filterwarnings("ignore:TF32")
def test_linear_leaves_autocast_and_a_disabled_onednn_to_f_linear():
    weight, x = torch.randn(8, 4), torch.randn(3 * FEW_ROWS, 4)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(x, weight).dtype == torch.bfloat16 == F.linear(x, weight).dtype
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
        assert torch.equal(linear(x, weight), F.linear(x, weight))


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


def test_linear_then_calls_replaced_or_hooked_modules():
    torch.manual_seed(0)
    ours, x = Linear(16, 24), torch.randn(2, 3 * FEW_ROWS, 16)
    plain = torch.nn.Linear(16, 24)
    plain.load_state_dict(ours.state_dict())
    want = F.gelu(plain(x))
    seen = []
    ours.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    for module in (ours, plain):
        torch.testing.assert_close(linear_then(module, x, "gelu"), want, atol=1e-5, rtol=1e-5)
    assert seen == [(2, 3 * FEW_ROWS, 24)]


@pytest.mark.parametrize("onednn", [False, True])
def test_training_product_gradients_in_the_weights_layout_and_from_strided_outputs(
    monkeypatch, onednn
):
    if onednn and not products._HAS_ONEDNN:
        pytest.skip("this torch has no oneDNN")
    monkeypatch.setattr(products, "_onednn_on", lambda compiling, name="": onednn)
    torch.manual_seed(0)
    made = {"x": torch.randn(2, 5, 16), "w": torch.randn(24, 16), "b": torch.randn(24)}
    up = torch.randn(2, 4, 5, 6)  # the output split into heads, as attention does
    grads = {}
    for product in (linear, F.linear):
        leaves = {k: v.clone().requires_grad_() for k, v in made.items()}
        out = product(leaves["x"], leaves["w"], leaves["b"])  # (2, 5, 24)
        heads = out.view(2, 5, 4, 6).transpose(1, 2)  # its gradient comes back transposed
        (heads * up).sum().backward()
        grads[product] = {k: v.grad for k, v in leaves.items()}
    assert grads[linear]["w"].is_contiguous()
    for k, want in grads[F.linear].items():
        torch.testing.assert_close(grads[linear][k], want, atol=1e-5, rtol=1e-5)


def test_a_tied_weight_takes_both_gradients():
    """The head's weight is also an embedding table: its gradient is the sum of both uses."""
    from warmstart.torch.speed import Embedding

    torch.manual_seed(0)
    ids = torch.tensor([[3, 1, 3, 0]])
    table = torch.randn(10, 8)
    grads = []
    for embedding, product in ((Embedding, linear), (torch.nn.Embedding, F.linear)):
        embed = embedding(10, 8, padding_idx=0)
        embed.weight = w = torch.nn.Parameter(table.clone())
        product(torch.tanh(embed(ids)), w).square().sum().backward()
        grads.append(w.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-5)
