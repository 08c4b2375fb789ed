"""warmstart.torch.cpu: the CPU's extensions as /proc/cpuinfo states them, each product path
forced in turn gives F.linear's result by the path it names, and a measured choice is one of
the candidates, measured once."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from warmstart.torch.speed import cpu, products, quantize

pytestmark = pytest.mark.usefixtures("one_thread")

SAPPHIRE = "model name\t: Intel Xeon\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16 amx_tile\n"
EPYC = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n"


@pytest.mark.parametrize(
    "text, model, has",
    [
        (SAPPHIRE, "Intel Xeon", {"avx2", "avx512", "avx512_bf16", "amx"}),
        (EPYC, "AMD EPYC 7B13", {"avx2"}),
    ],
)
def test_model_and_extensions_read_from_cpuinfo(monkeypatch, text, model, has):
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: text.splitlines())
    assert cpu.model_name() == model
    assert {name for name, present in cpu.extensions().items() if present} == has
    info = cpu.describe()
    assert info["model"] == model and info["aten_capability"]


def test_without_cpuinfo_the_model_is_what_platform_knows(monkeypatch):
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: [])
    assert cpu.model_name() and not any(cpu.extensions().values())


def counted(monkeypatch, name: str, module=products) -> list[int]:
    """Calls of ``module.<name>`` during the test."""
    calls: list[int] = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.mark.parametrize("path", cpu.CHOICES["few_rows"])
@pytest.mark.parametrize("rows", [1, products.FEW_ROWS])
def test_each_few_rows_path_equals_f_linear(monkeypatch, path, rows):
    x, w, b = torch.randn(rows, 48), torch.randn(40, 48), torch.randn(40)
    columns = counted(monkeypatch, "columns_product", cpu)
    with cpu.forced(few_rows=path), torch.no_grad():
        out = products.linear(x, w, b, "gelu")
    torch.testing.assert_close(out, F.gelu(F.linear(x, w, b)))
    assert bool(columns) == (path == "columns")


@pytest.mark.skipif(not products._HAS_ONEDNN, reason="this torch has no oneDNN product")
@pytest.mark.parametrize("path", cpu.CHOICES["many_rows"])
@pytest.mark.parametrize("grad", [False, True])  # True: training_rows too (the input gradient)
def test_each_many_rows_path_equals_f_linear(monkeypatch, path, grad):
    x = torch.randn(3, 10, 48, requires_grad=grad)
    w = torch.randn(40, 48, requires_grad=grad)
    onednn = counted(monkeypatch, "_onednn")
    paths = {"many_rows": path, **({"training_rows": path} if grad else {})}
    with cpu.forced(**paths), torch.set_grad_enabled(grad):
        out = products.linear(x, w, None, "relu")
    torch.testing.assert_close(out, F.relu(F.linear(x, w)))
    if grad:
        out.sum().backward()
        expected_x, expected_w = torch.autograd.grad(F.relu(F.linear(x, w)).sum(), [x, w])
        torch.testing.assert_close(x.grad, expected_x)
        torch.testing.assert_close(w.grad, expected_w)
    assert bool(onednn) == (path == "onednn")


@pytest.mark.parametrize("path", cpu.CHOICES["bf16_row"])
def test_each_bf16_row_path_gives_the_same_product(path):
    layer = torch.nn.Linear(48, 40)
    quantised = quantize.WeightOnlyLinear.from_linear(layer, "bf16")
    x = torch.randn(1, 48)
    with cpu.forced(bf16_row=path), torch.no_grad():
        with quantize.native_gemv():
            onednn_on = torch._C._get_mkldnn_enabled()
        out = quantised(x)
    assert onednn_on == (path == "onednn" or not torch.backends.mkldnn.is_available())
    expected = F.linear(x.bfloat16(), layer.weight.detach().bfloat16()).float() + layer.bias
    torch.testing.assert_close(out, expected.detach(), rtol=1e-2, atol=1e-2)


def test_forcing_an_unknown_path_says_which_there_are():
    with (
        pytest.raises(ValueError, match="few_rows is one of columns, linear"),
        cpu.forced(few_rows="fastest"),
    ):
        pass


def test_a_choice_is_measured_once_and_is_one_of_its_candidates(monkeypatch):
    monkeypatch.setattr(cpu, "_forced", {})
    monkeypatch.setattr(cpu, "_chosen", {})
    measured: list[str] = []
    real = cpu._measure
    monkeypatch.setattr(cpu, "_measure", lambda name: measured.append(name) or real(name))
    paths = cpu.chosen()
    for name, candidates in cpu.CHOICES.items():
        assert paths[name] in candidates
        assert cpu.choice(name) == cpu.describe()["paths"][name] == paths[name]
    assert measured == list(cpu.CHOICES)


@pytest.mark.parametrize("avx512", [False, True])
@pytest.mark.parametrize("many", cpu.CHOICES["many_rows"])
def test_training_products_take_onednn_only_on_avx512_where_it_measured_faster(
    monkeypatch, avx512, many
):
    monkeypatch.setattr(cpu, "extensions", lambda: {"avx512": avx512})
    monkeypatch.setattr(cpu, "HAS_ONEDNN", True)
    with cpu.forced(many_rows=many):
        expected = "onednn" if avx512 and many == "onednn" else "aten"
        assert cpu._measure("training_rows") == expected


@pytest.mark.skipif(not products._HAS_ONEDNN, reason="this torch has no oneDNN product")
def test_training_forward_follows_many_rows_and_the_input_gradient_training_rows(monkeypatch):
    calls = []
    monkeypatch.setattr(
        products, "_onednn", lambda *a: calls.append(tuple(a[1].shape)) or F.linear(*a[:3])
    )
    x = torch.randn(3, 10, 48, requires_grad=True)
    w = torch.randn(40, 48, requires_grad=True)
    with cpu.forced(many_rows="onednn", training_rows="aten"):
        products.linear(x, w).sum().backward()
    assert calls == [(40, 48)]  # the forward only
    calls.clear()
    with cpu.forced(many_rows="aten", training_rows="onednn"):
        products.linear(x, w).sum().backward()
    assert calls == [(48, 40)]  # the input gradient only (by weight.T)
