"""The shared layers: the product behind every projection (``linear``/``Linear``), dropout and
attention with dropout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from warmstart import layers
from warmstart.layers import (
    ACTIVATIONS,
    FEW_ROWS,
    Dropout,
    Linear,
    attend,
    cross_entropy,
    dropout,
    linear,
    linear_then,
)


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


@pytest.mark.parametrize("name", list(layers.ACTIVATIONS))
@pytest.mark.parametrize("rows", [2, 3 * FEW_ROWS])
def test_linear_applies_the_named_activation(name, rows):
    torch.manual_seed(0)
    weight, bias, x = torch.randn(64, 32), torch.randn(64), torch.randn(2, rows, 32)
    with torch.no_grad():
        got = linear(x, weight, bias, name)
    want = layers.ACTIVATIONS[name](F.linear(x, weight, bias))
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
    if not layers._HAS_ONEDNN:
        pytest.skip("this torch has no oneDNN")
    calls = []
    monkeypatch.setattr(layers, "_onednn", lambda *a: calls.append(a[1].shape) or F.linear(*a[:3]))
    weight = torch.randn(8, 4, requires_grad=True)
    x = torch.randn(3 * FEW_ROWS, 4, requires_grad=True)
    linear(x, weight).sum().backward()  # the forward, then the input's gradient (by weight.T)
    with torch.no_grad():
        linear(x, weight)
        linear(x[:1], weight)  # one row: weight @ x.T, not oneDNN
    assert calls == [(8, 4), (4, 8), (8, 4)]


def test_packed_weights_reorder_each_weight_once_per_block(monkeypatch):
    if not layers._HAS_PACKING:
        pytest.skip("this torch cannot keep weights in oneDNN's layout")
    packed = []
    pack = layers._pack
    monkeypatch.setattr(layers, "_pack", lambda w: packed.append(w.shape) or pack(w))
    weight, bias = torch.randn(24, 16), torch.randn(24)
    x = torch.randn(2, 3 * FEW_ROWS, 16)
    with torch.no_grad():
        with layers.packed_weights():
            for act in (None, "gelu", "relu", "tanh"):  # fused into the product or applied after
                want = (
                    F.linear(x, weight, bias)
                    if act is None
                    else ACTIVATIONS[act](F.linear(x, weight, bias))
                )
                torch.testing.assert_close(linear(x, weight, bias, act), want, atol=1e-5, rtol=1e-5)
            assert packed == [(24, 16)]  # on its second use, once
            with layers.packed_weights():  # a nested block keeps the outer one's weights
                linear(x, weight)
            linear(x[:, :1], weight)  # few rows: weight @ x.T, nothing to pack
            assert packed == [(24, 16)]
            weight.add_(1.0)  # changed in place: used as it is, then packed again
            for _ in range(2):
                got = linear(x, weight)
                torch.testing.assert_close(got, F.linear(x, weight), atol=1e-5, rtol=1e-5)
            assert packed == [(24, 16)] * 2
            linear(x, torch.randn(8, 16))  # used once: left as it is
            assert packed == [(24, 16)] * 2
        linear(x, weight)  # after the block: plain weights again
        assert packed == [(24, 16)] * 2 and layers._scope.packed is None
    with layers.packed_weights():
        w = weight.clone().requires_grad_()
        for _ in range(2):
            linear(x, w).sum().backward()  # training keeps its own path
    assert packed == [(24, 16)] * 2


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


def test_dropout_is_the_identity_when_off():
    x = torch.randn(4, 8)
    assert dropout(x, 0.1, training=False) is x and dropout(x, 0.0) is x


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_drops_at_rate_p_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    x = torch.full((1000, 1001), 2.0)  # an odd count: the last 64-bit draw is partly used
    out = dropout(x, p)
    kept = out != 0
    assert abs(1 - kept.float().mean().item() - p) < 3e-3
    assert torch.all(out[kept] == 2.0 * 65536 / (65536 - round(p * 65536)))
    assert abs(out.mean().item() - 2.0) < 0.01
    lanes = kept.view(-1)[: 4 * 250_000].view(-1, 4).float().mean(0)  # every 16-bit lane is fair
    assert torch.all((lanes - (1 - p)).abs() < 5e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_is_seeded_and_its_gradient_uses_the_same_mask(dtype):
    # drawn in fp32: torch 2.11 draws bf16 normals with exact zeros, which `out != 0` below misreads
    x = torch.randn(64, 96).to(dtype).requires_grad_()
    torch.manual_seed(3)
    out = dropout(x, 0.2)
    torch.manual_seed(3)
    assert torch.equal(dropout(x.detach(), 0.2), out.detach())
    assert out.dtype == dtype
    g = torch.randn_like(out)
    out.backward(g)
    scale = 65536 / (65536 - round(0.2 * 65536))
    assert x.grad.dtype == dtype
    torch.testing.assert_close(x.grad, (g * (out != 0)).mul_(scale))


def test_dropout_module_is_a_drop_in_for_nn_dropout():
    module = Dropout(0.3)
    assert isinstance(module, nn.Dropout) and repr(module) == repr(nn.Dropout(0.3))
    x = torch.randn(8, 8)
    assert torch.equal(module.eval()(x), x)
    assert (module.train()(x) == 0).any()
    same = Dropout(0.3, inplace=True).train()
    y = x.clone()
    assert same(y) is y  # in place: torch's own


@pytest.mark.parametrize("case", ["none", "padding", "causal", "causal, fewer queries"])
def test_attention_with_dropout_is_sdpa_before_the_drop(case, monkeypatch):
    """With the drop itself removed, the dropout path computes what SDPA computes."""
    torch.manual_seed(0)
    T = 3 if case == "causal, fewer queries" else 5
    q, k, v = torch.randn(2, 4, T, 8), torch.randn(2, 4, 5, 8), torch.randn(2, 4, 5, 8)
    mask = None
    if case == "padding":
        mask = torch.zeros(2, 1, 1, 5).masked_fill(torch.tensor([[0, 0, 0, 1, 1]]).bool(), -1e9)
    causal = case.startswith("causal")
    monkeypatch.setattr(layers, "dropout", lambda x, p, training=True: x)
    got = attend(q, k, v, mask, 0.1, is_causal=causal)
    want = layers.merge_heads(F.scaled_dot_product_attention(q, k, v, mask, is_causal=causal))
    torch.testing.assert_close(got, want)


def test_dropout_and_attention_with_dropout_trace_whole_under_compile():
    """Compiled, they leave the drop to torch's own op (the 16-bit draw would break the graph)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    f = torch.compile(lambda x, q: (dropout(x, 0.1), attend(q, q, q, None, 0.1)), backend="eager")
    out, att = f(torch.randn(4, 8), torch.randn(1, 2, 3, 4))
    assert out.shape == (4, 8) and att.shape == (1, 3, 8)
    assert not counters["graph_break"], dict(counters["graph_break"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("ignored", ["none", "some", "all"])
def test_cross_entropy_equals_torch_in_loss_and_gradient(ignored, dtype):
    torch.manual_seed(0)
    rows = 2 * layers.LOSS_CHUNK + 5  # a partial last slice
    logits = (3 * torch.randn(rows, 50)).to(dtype).requires_grad_()
    labels = torch.randint(0, 50, (rows,))
    if ignored != "none":
        labels[:: 1 if ignored == "all" else 3] = -100
    got = cross_entropy(logits, labels)
    want = F.cross_entropy(logits.float(), labels, ignore_index=-100)  # bf16: fp32 arithmetic
    assert got.dtype == torch.float32
    if ignored == "all":
        assert torch.isnan(got) and torch.isnan(want)
        return
    torch.testing.assert_close(got, want)
    (got_grad,) = torch.autograd.grad(2.5 * got, logits)
    (want_grad,) = torch.autograd.grad(2.5 * want, logits)
    torch.testing.assert_close(got_grad, want_grad)


def test_cross_entropy_rejects_labels_outside_the_vocabulary():
    with pytest.raises((RuntimeError, IndexError), match="out of bounds"):
        cross_entropy(torch.randn(4, 10), torch.tensor([1, 2, 10, 3]))


def test_cross_kv_is_projected_once_per_decode_and_laid_out_head_by_head():
    k, v = (torch.randn(2, 5, 4, 8).transpose(1, 2) for _ in range(2))  # (B, H, S, D) views
    calls = []
    project = lambda: calls.append(1) or (k, v)  # noqa: E731
    assert layers.cross_kv(None, 0, project) == (k, v)  # training: the projection as it is
    cache = layers.DecoderCache(num_layers=1, batch_size=2, num_heads=4, head_dim=8, max_length=3)
    first = layers.cross_kv(cache, 0, project)
    assert layers.cross_kv(cache, 0, project) is first and len(calls) == 2
    assert all(t.is_contiguous() and torch.equal(t, u) for t, u in zip(first, (k, v)))
