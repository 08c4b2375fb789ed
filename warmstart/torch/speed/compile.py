"""Opt-in ``torch.compile`` of the cached decoding step and of the encoder, with a fallback to eager.

``compile_decoder(model)`` makes ``model.generate`` run every one-token decoder step after the first
through one compiled graph per number of rows (1 for greedy batch 1, ``num_beams`` for beam search).
The graph keeps the cache buffers in place and takes the number of cached positions, the source
length and the cache size as symbolic sizes, so one graph serves every step of every decode with
that many rows. The matrix products stay library calls (BLAS for up to four rows, oneDNN beyond),
as ``speed.products.linear`` chooses them; what compiling removes is the per-operation overhead
of eager PyTorch around them (about 2.5 ms per step of a 6-layer decoder), which at batch 1 is as
large as the products.

The first call for a row count compiles (seconds to tens of seconds); if compiling fails, a warning
is issued once and the model decodes eagerly from then on. Tokens may differ from eager decoding
only where two logits tie to within float rounding (the products sum in another order).

``compile_encoder(model)`` runs the encoder through inductor at inference (``generate``, and
``forward`` without gradients). For long inputs the encoder is bound by its matrix products, which
stay oneDNN calls (see ``speed.products.linear``, which already applies GELU inside the product
when eager); what compiling can save is the passes around them (residual and layer norm fused),
which at 32 x 128 tokens measured within a few percent of eager on a 2-core AVX-512 CPU.
"""

from __future__ import annotations

import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..attention import merge_heads
from . import cpu
from .fused import FusedDecoderCache

SMALL_ROWS = 8
"""Steps with at most this many rows (batch size times beams) run compiled."""


class _StepCache(FusedDecoderCache):
    """A view of a :class:`FusedDecoderCache`'s buffers, built inside the compiled graph."""

    def __init__(self, kv: Tensor, cross: list, fused: list, length: int) -> None:
        self.kv, self.cross, self.fused, self.length = kv, cross, fused, length
        self.start = length  # the decoder advances length; the new position is this one
        self.written: list[Tensor] = []  # per layer: the new keys and values (2, B, H, 1, D)

    def write(self) -> None:
        """Write every layer's new keys and values into the cache in one go, after all attention:
        a write between reads would have inductor copy the whole cache for each later read."""
        if self.written:  # empty where every layer attended the plain way (dropout, say)
            self.kv[:, :, :, :, self.start : self.start + 1] = torch.stack(self.written)

    def attend(self, layer, q, k, v, mask, dropout, is_causal, scale=None) -> Tensor:
        """Attention of one new position over the cached ones and itself, the cache written after.

        Written first, the cache would be read back after its write, which makes inductor copy
        the whole cache for every layer each step (several times the attention's cost for beams).
        Instead attention runs over the cache as it was, the new key's share is merged in with the
        log-sum-exp the attention kernel returns, and :meth:`write` stores the new keys and values
        of all layers at the end of the step.
        """
        start = self.length
        if k.shape[2] != 1 or dropout or is_causal or q.device.type != "cpu":
            return super().attend(layer, q, k, v, mask, dropout, is_causal, scale)
        cached = self.kv[layer, :, :, :, :start]
        cached_mask = None if mask is None else mask[..., :start]
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, cached[0], cached[1], attn_mask=cached_mask, scale=scale
        )[:2]  # (B, H, 1, D), (B, H, 1)
        scale = q.shape[-1] ** -0.5 if scale is None else scale
        score = (q * k).sum(-1) * scale  # (B, H, 1): the new key
        if mask is not None:
            score = score + mask[..., start]  # (B, 1, 1) broadcast over heads
        top = torch.maximum(lse, score)
        w_old, w_new = (torch.exp(t - top)[..., None] for t in (lse, score))
        out = (out * w_old + v * w_new) / (w_old + w_new)
        self.written.append(torch.stack((k, v)))
        return merge_heads(out)


def _own_code(fn: Callable) -> Callable:
    """``fn`` with a copy of its code object. Dynamo keeps its graphs on the code object: without a
    copy per compile, another model (or this one before a change) would be served the same graphs
    wherever guards do not tell them apart."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, closure=fn.__closure__)


def _signature(module: torch.nn.Module) -> list:
    """Each submodule's type and mode and the identity, dtype and shape of the tensors it holds."""
    return [
        (
            type(m),
            m.training,
            [
                (id(t), t.dtype, t.shape)
                for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))
            ],
        )
        for m in module.modules()
    ]


def _given_up(what: str, doing: str, error: Exception) -> bool:
    """Warn (once per compiled part: callers keep the True returned as their ``failed``) that
    compiling ``what`` failed and that the model goes on ``doing`` eagerly."""
    warnings.warn(
        f"Compiling {what} failed ({type(error).__name__}: {error}); {doing} eagerly instead.",
        RuntimeWarning,
        stacklevel=4,
    )
    return True


def _no_duck_shapes():
    from torch.fx.experimental import _config

    return _config.patch(use_duck_shape=False)


class CompiledStep:
    """The compiled one-token step of a decoder; ``None`` from :meth:`__call__` means "run eager"."""

    def __init__(self, decoder: torch.nn.Module) -> None:
        self.decoder = decoder
        self.failed = False

        def step(tokens, kv, cross, fused, enc, enc_mask, positions):
            cache = _StepCache(kv, cross, fused, positions.shape[0])
            logits = decoder(
                tokens,
                encoder_hidden_states=enc,
                encoder_attention_mask=enc_mask,
                cache=cache,
                last_only=True,
            ).logits[:, -1]
            cache.write()
            return logits

        self.step = step
        self.cache: weakref.ref | None = None  # the cache of the decode last checked
        self.compiled = self._compile()

    def _compile(self) -> Callable:
        """The compiled step. Dynamo would check every module attribute the graph read before each
        step (about 0.4 ms for a 6-layer decoder); those checks are skipped, and :meth:`current`
        checks what they protect once per decode instead."""
        skip = getattr(torch.compiler, "skip_guard_on_all_nn_modules_unsafe", None)
        options = None if skip is None else {"guard_filter_fn": skip}
        self.signature = _signature(self.decoder)
        cpu.chosen()  # a graph keeps the product paths of its tracing: measure them first
        return torch.compile(_own_code(self.step), dynamic=None, options=options)

    def current(self, cache: FusedDecoderCache) -> None:
        """On the first compiled step of a decode, compile again if the decoder's modules, their
        modes or the tensors they hold were replaced since the graph was made (quantising, moving,
        loading with ``assign=True``); training in place changes nothing the graph assumes."""
        if self.cache is not None and self.cache() is cache:
            return
        self.cache = weakref.ref(cache)
        if _signature(self.decoder) != self.signature:
            self.compiled = self._compile()

    def serves(self, rows: int) -> bool:
        """Whether decoding steps of ``rows`` rows run compiled (after the first two, eager)."""
        return not self.failed and rows <= SMALL_ROWS

    def usable(self, tokens: Tensor, cache: FusedDecoderCache) -> bool:
        return (
            self.serves(tokens.shape[0])
            and tokens.shape[1] == 1
            and cache.length > 1  # a length of 1 would be specialised, then compiled again
            and cache.length < cache.max_length  # the graph cannot grow the cache
            and cache.cross[0] is not None
            and not torch.is_grad_enabled()
        )

    def __call__(
        self, tokens: Tensor, cache: FusedDecoderCache, enc: Tensor, enc_mask
    ) -> Tensor | None:
        if not self.usable(tokens, cache):
            return None
        self.current(cache)
        tokens = tokens.clone(memory_format=torch.contiguous_format)  # strides guard the graph
        positions = cache.kv.new_empty(1).expand(cache.length)  # carries the length as a size
        cross = [t for pair in cache.cross for t in pair]
        sizes = ((cache.kv, 4), (enc, 1), (positions, 0), *((t, 2) for t in cross))
        if enc_mask is not None:
            sizes += ((enc_mask, 1),)
        for t, dim in sizes:
            torch._dynamo.maybe_mark_dynamic(t, dim)
        for t, dim in ((tokens, 0), (cache.kv, 2), (enc, 0), *((t, 0) for t in cross)):
            torch._dynamo.mark_static(t, dim)  # one graph per row count: products see few rows
        try:
            with _no_duck_shapes():  # equal sizes at compile time need not stay equal
                logits = self.compiled(
                    tokens, cache.kv, cache.cross, cache.fused, enc, enc_mask, positions
                )
        except Exception as error:
            self.failed = _given_up("the decoder step", "decoding", error)
            return None
        cache.length += tokens.shape[1]
        return logits


def compile_decoder(model: Any, enabled: bool = True) -> Any:
    """Make ``model.generate`` run its one-token decoder steps through ``torch.compile``.

    Opt-in and per model: the first decode with a given number of rows (batch size times beams,
    at most ``SMALL_ROWS``) compiles, later ones reuse the graph; more rows, training and the first
    (prompt) step stay eager. ``enabled=False`` goes back to eager decoding. Parameters may be
    trained between decodes (they are graph inputs, not constants).

    Args:
        model: an ``EncoderDecoderModel``.
        enabled: compile (True) or drop the compiled step (False).

    Returns:
        The model.
    """
    if not enabled:
        model.__dict__.pop("compiled_step", None)
        return model
    if not hasattr(torch, "compile"):
        warnings.warn("torch.compile is unavailable; decoding eagerly.", RuntimeWarning, 2)
        return model
    try:
        step = CompiledStep(model.decoder)
    except Exception as error:
        warnings.warn(
            f"torch.compile failed ({type(error).__name__}: {error}); decoding eagerly.",
            RuntimeWarning,
            stacklevel=2,
        )
        return model
    model.__dict__["compiled_step"] = step  # not a submodule: state_dict and .to() ignore it
    return model


class CompiledEncoder:
    """The compiled forward of an encoder at inference; ``None`` from :meth:`__call__` means "run
    eager". Graphs are specialised to the first input shape, then made dynamic in batch size and
    length on the first change."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.failed = False

        def encode(input_ids, attention_mask, token_type_ids, inputs_embeds):
            return encoder(
                input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                inputs_embeds=inputs_embeds,
            )

        cpu.chosen()
        self.compiled = torch.compile(_own_code(encode), dynamic=None)

    def __call__(self, *inputs: Tensor | None) -> Any:
        if self.failed or torch.is_grad_enabled():
            return None
        try:
            return self.compiled(*inputs)
        except Exception as error:
            self.failed = _given_up("the encoder", "encoding", error)
            return None


def compile_encoder(model: Any, enabled: bool = True) -> Any:
    """Make ``model``'s encoder run through ``torch.compile`` at inference (opt-in, per model).

    ``generate`` and ``forward`` without gradients use it; training stays eager. The first call
    compiles (seconds), and so does the first call with a new input shape; ``enabled=False`` goes
    back to eager encoding. If compiling fails, a warning is issued once and the model encodes
    eagerly.

    Args:
        model: an ``EncoderDecoderModel``.
        enabled: compile (True) or drop the compiled encoder (False).

    Returns:
        The model.
    """
    model.__dict__.pop("compiled_encoder", None)
    if enabled and hasattr(torch, "compile"):
        model.__dict__["compiled_encoder"] = CompiledEncoder(model.encoder)
    elif enabled:
        warnings.warn("torch.compile is unavailable; encoding eagerly.", RuntimeWarning, 2)
    return model
