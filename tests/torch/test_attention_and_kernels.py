"""The shared layers: dropout, attention with dropout, the loss and the cross-attention cache."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from warmstart.torch import attention
from warmstart.torch.attention import attend
from warmstart.torch.speed import kernels
from warmstart.torch.speed.kernels import Dropout, cross_entropy, dropout


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
    monkeypatch.setattr(kernels, "dropout", lambda x, p, training=True: x)
    got = attend(q, k, v, mask, 0.1, is_causal=causal)
    want = attention.merge_heads(F.scaled_dot_product_attention(q, k, v, mask, is_causal=causal))
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
    rows = 2 * kernels.LOSS_CHUNK + 5  # a partial last slice
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
    assert attention.cross_kv(None, 0, project) == (k, v)  # training: the projection as it is
    cache = attention.DecoderCache(
        num_layers=1, batch_size=2, num_heads=4, head_dim=8, max_length=3
    )
    first = attention.cross_kv(cache, 0, project)
    assert attention.cross_kv(cache, 0, project) is first and len(calls) == 2
    assert all(t.is_contiguous() and torch.equal(t, u) for t, u in zip(first, (k, v)))


def test_random_words_replay_with_torch_seed_and_spread_evenly():
    torch.manual_seed(3)
    a, b = kernels.random_words(50_000), kernels.random_words(50_000)
    torch.manual_seed(3)
    assert torch.equal(a, kernels.random_words(50_000)) and not torch.equal(a, b)
    lanes = a.view(torch.int16).float()  # the 16-bit lanes dropout compares
    assert abs(float(lanes.mean())) < 200 and float(lanes.std()) == pytest.approx(18918, rel=0.01)
