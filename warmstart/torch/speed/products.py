"""Matrix products of the models' linear layers: ``F.linear`` semantics with faster CPU paths.

Few-row inference products (decoding steps) run as ``weight @ x.T`` or ``F.linear``, the rest in
oneDNN with the activation fused at inference (and the input gradient there too in training where
AVX-512 is present), each where it was measured faster on this CPU (:mod:`.cpu`); decodes may keep the
weights in oneDNN's layout (:func:`packed_weights`). Everything else goes to ``F.linear``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import cpu, recycled
from .cpu import choice

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


def activation(name: str) -> str:
    """``name``, checked to be one of :data:`ACTIVATIONS` (layers apply it with :func:`linear_then`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown hidden_act {name!r}; supported: {', '.join(ACTIVATIONS)}.")
    return name


FEW_ROWS = 4
"""Inference products with at most this many rows run as ``weight @ x.T`` (see :func:`linear`)."""

_HAS_ONEDNN = cpu.HAS_ONEDNN

_HAS_PACKING = _HAS_ONEDNN and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
"""Whether this torch can keep a weight in oneDNN's own layout (see :func:`packed_weights`)."""

# .packed, inside a packed_weights block: id(weight) -> (weight, _version(weight), packed or None)
_scope = threading.local()

_ONEDNN_ACTIVATIONS = {
    "gelu": ("gelu", "none"),
    "gelu_new": ("gelu", "tanh"),
    "gelu_pytorch_tanh": ("gelu", "tanh"),
    "gelu_fast": ("gelu", "tanh"),
    "relu": ("relu", ""),
}
"""Activations oneDNN applies inside the product: name -> (oneDNN's name, its algorithm)."""


def _onednn(x: Tensor, weight: Tensor, bias: Tensor | None, act: str | None = None) -> Tensor:
    """``act(x @ weight.T + bias)`` by oneDNN (fp32 CPU tensors; ``act`` in ``_ONEDNN_ACTIVATIONS``)."""
    return cpu.onednn_product(x, weight, bias, *(_ONEDNN_ACTIVATIONS[act] if act else ()))


@torch.library.custom_op("warmstart::onednn_linear", mutates_args=())
def onednn_linear(x: Tensor, weight: Tensor, bias: Tensor | None, act: str) -> Tensor:
    """:func:`_onednn` as one opaque operation for compiled graphs (``act`` "" for none): inductor
    lowers oneDNN's product only for weights it has packed as constants."""
    return _onednn(x, weight, bias, act)


@onednn_linear.register_fake
def _(x: Tensor, weight: Tensor, bias: Tensor | None, act: str) -> Tensor:
    return x.new_empty(*x.shape[:-1], weight.shape[0])


class _TrainingLinear(torch.autograd.Function):
    """``F.linear`` with autograd on CPU: the forward in oneDNN where ``onednn_forward`` (its bias
    added inside the product; ATen's ``addmm`` first copies the bias into the output), the input
    gradient in oneDNN where ``onednn_backward`` (AVX-512 CPUs), else ATen.

    The weight gradient is an ATen product written in the weight's own (V, C) layout, where
    ``F.linear``'s is a transposed view that autograd copies before keeping it as ``.grad``. Large
    ATen outputs (a vocabulary projection's weight gradient) take memory reused from step to step
    (:mod:`.recycled`). oneDNN's forward allocates its own: for a vocabulary projection of a
    race step's labelled rows (about 200 x 30,522) it was still 18-33 ms faster than ATen's
    product into reused memory (2-core AVX2 EPYC, alternating steps).
    """

    @staticmethod
    def forward(
        ctx, x: Tensor, weight: Tensor, bias: Tensor | None, onednn_forward: bool,
        onednn_backward: bool,
    ) -> Tensor:  # fmt: skip
        ctx.save_for_backward(x, weight)
        ctx.has_bias, ctx.onednn = bias is not None, onednn_backward
        if onednn_forward:
            return _onednn(x, weight, bias)
        rows = x.reshape(-1, x.shape[-1])
        out = recycled.empty((rows.shape[0], weight.shape[0]), x.dtype)
        if bias is None:
            torch.mm(rows, weight.t(), out=out)
        else:
            torch.addmm(bias, rows, weight.t(), out=out)
        return out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b, _, _ = ctx.needs_input_grad
        grad = grad.contiguous()  # a transposed view where the output was split into heads
        rows = grad.view(-1, grad.shape[-1])
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = _onednn(grad, weight.t(), None) if ctx.onednn else grad @ weight
        if need_w:
            grad_w = recycled.empty(weight.shape, weight.dtype)
            torch.mm(rows.t(), x.reshape(-1, x.shape[-1]), out=grad_w)
            if recycled.large(weight.shape, weight.dtype):  # a vocabulary head, often tied
                recycled.offer_gradient(weight, grad_w)
        if need_b and ctx.has_bias:
            grad_b = rows.sum(0)
        return grad_x, grad_w, grad_b, None, None


def linear(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None
) -> Tensor:
    """``act(x @ weight.T + bias)``, as ``F.linear`` followed by the named activation
    (:data:`ACTIVATIONS`), with faster paths on CPU in fp32.

    - With at most :data:`FEW_ROWS` rows at inference (one decoding step), the product is bound by
      streaming ``weight`` from memory. Some BLAS builds handle ``x @ weight.T`` with few rows far
      below memory bandwidth while the same product written ``weight @ x.T`` streams the weight
      about three times faster (a single row goes in twice); on others (MKL 2024 on Sapphire
      Rapids) it is the reverse. Which runs is measured once on this CPU (``cpu.choice``).
    - Otherwise the product runs in oneDNN where that was measured faster than ATen's (10-20%
      for encoder- and training-sized products on the CPUs measured, about twice for a
      vocabulary projection of a few dozen rows); at inference oneDNN also applies GELU or ReLU
      while the output is in cache (about 40% off a BERT intermediate layer), and inside
      :func:`packed_weights` (decoding) it reuses each weight in its own layout. With autograd
      the forward runs there too, and the input gradient where ``cpu.choice("training_rows")``
      says (AVX-512 CPUs; ATen's products on AVX2-only ones).
    - Compiled graphs call oneDNN as one opaque operation, and leave products with autograd to
      ``F.linear``; so does everything under autocast, in other dtypes or on other devices.

    The result equals ``F.linear``'s up to float rounding.
    """
    if (
        x.device.type != "cpu"
        or x.dtype != torch.float32
        or weight.dtype != torch.float32
        or torch.is_autocast_enabled("cpu")
    ):
        return _activate(F.linear(x, weight, bias), activation)
    compiling = torch.compiler.is_compiling()
    if torch.is_grad_enabled():
        if compiling:
            return _activate(F.linear(x, weight, bias), activation)
        forward, backward = _onednn_on(compiling), _onednn_on(compiling, "training_rows")
        return _activate(_TrainingLinear.apply(x, weight, bias, forward, backward), activation)
    if x.shape[:-1].numel() <= FEW_ROWS:
        if choice("few_rows") == "linear":
            return _activate(F.linear(x, weight, bias), activation)
        return _activate(cpu.columns_product(x, weight, bias), activation)
    if not _onednn_on(compiling):
        return _activate(F.linear(x, weight, bias), activation)
    fused = activation in _ONEDNN_ACTIVATIONS
    act = activation if fused else None
    if compiling:
        out = onednn_linear(x, weight, bias, act or "")
    else:
        out = _onednn(x, _packed(weight), bias, act)
    return out if fused else _activate(out, activation)


@contextlib.contextmanager
def packed_weights() -> Iterator[None]:
    """Within this block (in this thread), :func:`linear`'s oneDNN products at inference keep each
    weight they use more than once in oneDNN's own blocked layout, reordered on its second use,
    until the block ends (a weight used once, such as a cross-attention key projection in a
    decode, is left as it is).

    oneDNN otherwise reorders the weight on every call, about 30% of a product of a few dozen rows
    (the vocabulary projection of 32 rows: 7.4 -> 5.1 ms). Decoding reuses every decoder weight at
    every step, so ``generate`` decodes inside this block when it may run long enough to repay the
    reordering (about 45 ms for a MiniLM decoder, some ten batched steps' gain). The price is a
    second copy of the weights that more than :data:`FEW_ROWS` rows multiply, for the length of
    the block. A weight changed in place meanwhile is reordered again.
    """
    outer = getattr(_scope, "packed", None)
    if outer is None and _HAS_PACKING:
        _scope.packed = {}
    try:
        yield
    finally:
        _scope.packed = outer


def _packed(weight: Tensor) -> Tensor:
    """``weight`` in oneDNN's layout inside :func:`packed_weights`, else itself."""
    store = getattr(_scope, "packed", None)
    if store is None:
        return weight
    version = _version(weight)
    entry = store.get(id(weight))
    if entry is None or entry[0] is not weight or entry[1] != version:
        store[id(weight)] = (weight, version, None)  # first use: as it is
        return weight
    if entry[2] is None:  # used again: worth reordering
        entry = store[id(weight)] = (weight, version, _pack(weight))
    return entry[2]


def _version(t: Tensor) -> int | None:
    """``t``'s in-place change counter; None for tensors made under ``torch.inference_mode``,
    which keep none (and cannot be changed outside it)."""
    return None if t.is_inference() else t._version


def _pack(weight: Tensor) -> Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach())


def _onednn_on(compiling: bool, name: str = "many_rows") -> bool:
    """Whether oneDNN's product is there, switched on, and faster than ATen's on this CPU
    (``cpu.choice(name)``: ``many_rows``, or ``training_rows`` with autograd). Dynamo cannot
    read the switch, so compiled graphs take oneDNN
    wherever torch has it and it was measured faster."""
    if not _HAS_ONEDNN or not (compiling or torch._C._get_mkldnn_enabled()):
        return False
    return choice(name) == "onednn"


def _activate(x: Tensor, activation: str | None) -> Tensor:
    return x if activation is None else ACTIVATIONS[activation](x)


class Linear(nn.Linear):
    """``nn.Linear`` computed by :func:`linear` (same parameters, names and initialisation)."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


def linear_then(module: nn.Module, x: Tensor, activation: str) -> Tensor:
    """``ACTIVATIONS[activation](module(x))``. For a :class:`Linear` without hooks the activation
    goes to :func:`linear`, which may apply it inside the product; other modules (quantised,
    replaced or hooked layers) are called as they are."""
    if type(module) is Linear and not (module._forward_hooks or module._forward_pre_hooks):
        return linear(x, module.weight, module.bias, activation)
    return _activate(module(x), activation)
