"""What one forward was asked to keep beyond its output: attention weights and hidden states
(transformers' ``output_attentions`` / ``output_hidden_states``), or only eager attention
(``attn_implementation="eager"``).

A model's forward opens :func:`observe`; while a :class:`Recorder` is open, in the thread that
opened it, :func:`attention` (what :func:`..attention.attend` calls) runs an eager attention that
keeps its softmax weights and :func:`run_layers` keeps every layer's input and the last output.
``current`` is a plain module global, so the default path pays one check per attention call and
compiled graphs guard on it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ...outputs import wanted
from .kernels import attention_weights, sdpa


class Recorder:
    """The attention weights (self- and cross-attention, one (B, H, T, S) tensor per layer) and
    hidden states (each layer's input, then the last output, (B, T, C)) of one forward."""

    def __init__(self, attentions: bool, hidden_states: bool) -> None:
        self.keep_attentions, self.keep_hidden = attentions, hidden_states
        self.thread = threading.get_ident()
        self.attentions: list[Tensor] = []
        self.cross_attentions: list[Tensor] = []
        self.hidden_states: list[Tensor] = []

    def outputs(self) -> dict[str, tuple[Tensor, ...] | None]:
        """transformers' output fields: ``hidden_states``, ``attentions``, ``cross_attentions``."""
        kept = self.keep_attentions
        cross = tuple(self.cross_attentions) if kept and self.cross_attentions else None
        return {
            "hidden_states": tuple(self.hidden_states) if self.keep_hidden else None,
            "attentions": tuple(self.attentions) if kept else None,
            "cross_attentions": cross,
        }


current: Recorder | None = None  # set only inside observe()
_NOTHING = nullcontext(None)  # reusable: what observe() gives when nothing is asked


def active() -> Recorder | None:
    """The open recorder, if the calling thread opened it."""
    rec = current
    return rec if rec is not None and rec.thread == threading.get_ident() else None


def observe(config: Any, output_attentions: bool | None, output_hidden_states: bool | None) -> Any:
    """A context for one forward of a model with ``config``: yields a :class:`Recorder` when
    attention weights or hidden states are asked (by keyword, else by the config's field of that
    name) or the config asks for eager attention (``_attn_implementation="eager"``); else None,
    and nothing changes."""
    if not observed(config, output_attentions, output_hidden_states):
        return _NOTHING
    attentions = wanted(output_attentions, config, "output_attentions")
    hidden = wanted(output_hidden_states, config, "output_hidden_states")
    return _recording(Recorder(attentions, hidden))


def observed(
    config: Any, output_attentions: bool | None = None, output_hidden_states: bool | None = None
) -> bool:
    """Whether :func:`observe` would record (or run attention eagerly) for these arguments."""
    return (
        wanted(output_attentions, config, "output_attentions")
        or wanted(output_hidden_states, config, "output_hidden_states")
        or config._attn_implementation == "eager"
    )


@contextmanager
def _recording(rec: Recorder) -> Iterator[Recorder]:
    global current
    outer, current = current, rec
    try:
        yield rec
    finally:
        current = outer


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    p: float,
    causal: bool,
    scale: float,
    cross: bool = False,
) -> Tensor:
    """Attention (B, H, T, D) by :func:`.kernels.sdpa`; while a recorder is open, eager attention
    whose weights (B, H, T, S) it keeps when asked (as cross-attention when ``cross``)."""
    if current is not None and (rec := active()) is not None:
        weights = attention_weights(q, k, mask, p, causal, scale)  # (B, H, T, S)
        if rec.keep_attentions:
            (rec.cross_attentions if cross else rec.attentions).append(weights)
        return weights @ v
    return sdpa(q, k, v, mask, p, causal, scale)


def run_layers(layers: Iterable[nn.Module], x: Tensor, *args: Any, checkpointing: bool) -> Tensor:
    """Apply ``layers`` in turn; with ``checkpointing``, recompute activations in the backward.
    While a recorder is open, each layer's input and the last output are kept."""
    if current is not None and (rec := active()) is not None:
        return _run_recorded(rec, layers, x, *args, checkpointing=checkpointing)
    for layer in layers:
        x = checkpoint(layer, x, *args, use_reentrant=False) if checkpointing else layer(x, *args)
    return x


def _run_recorded(
    rec: Recorder, layers: Iterable[nn.Module], x: Tensor, *args: Any, checkpointing: bool
) -> Tensor:
    """:func:`run_layers` under ``rec``: each layer's input and the last output kept.
    Gradient checkpointing stays only for eager attention alone (its recomputation runs eagerly
    too); states or weights asked for are kept from a plain forward."""
    if checkpointing and not (rec.keep_hidden or rec.keep_attentions):
        for layer in layers:
            x = checkpoint(_eager, layer, x, *args, use_reentrant=False)
        return x
    for layer in layers:
        if rec.keep_hidden:
            rec.hidden_states.append(x)
        x = layer(x, *args)
    if rec.keep_hidden:
        rec.hidden_states.append(x)
    return x


def _eager(layer: nn.Module, *args: Any) -> Tensor:
    with _recording(Recorder(False, False)):
        return layer(*args)


def last_hidden_state_is(x: Tensor) -> None:
    """Replace the recorded last hidden state with ``x`` (GPT-2's, after its final LayerNorm)."""
    rec = active() if current is not None else None
    if rec is not None and rec.keep_hidden and rec.hidden_states:
        rec.hidden_states[-1] = x
