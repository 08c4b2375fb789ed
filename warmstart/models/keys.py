"""Checkpoint key layouts: how a family's pretrained checkpoints name tensors, and the renaming that
maps them onto this library's encoder (the bare model) or decoder (the causal-LM model).

transformers saves a bare model without a prefix (``encoder.layer.0...``) and a model with a head
under its ``base_model_prefix`` (``bert.encoder.layer.0...``) next to the head's own tensors
(``cls.predictions...``). An encoder takes the bare names; a decoder takes the prefixed names and its
LM head; heads for other tasks are dropped and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import Tensor

_OLD_LAYER_NORM = (
    (re.compile(r"LayerNorm\.gamma$"), "LayerNorm.weight"),
    (re.compile(r"LayerNorm\.beta$"), "LayerNorm.bias"),
)


@dataclass(frozen=True)
class KeyLayout:
    """How one family names its checkpoint tensors.

    Attributes:
        prefix: the body's prefix in a model with a head, e.g. ``"bert."``.
        heads: key prefixes of the causal-LM head (kept for a decoder, dropped for an encoder).
        foreign: key prefixes of heads for other tasks (always dropped).
        encoder_only: body key prefixes the decoder's body lacks (BERT's pooler).
        skip: regex of keys to ignore silently (buffers, tied aliases written by old versions).
        head_bias: the LM head's bias and the second name transformers gives it on the output
            projection: ``("cls.predictions.bias", "cls.predictions.decoder.bias")``. Tied, the two
            are one tensor and transformers writes only the first; untied
            (``tie_word_embeddings=False``) they are two and its forward adds the second. This
            library keeps one bias, the one forward adds.
    """

    prefix: str
    heads: tuple[str, ...]
    foreign: tuple[str, ...] = ()
    encoder_only: tuple[str, ...] = ()
    skip: str = r"$^"
    head_bias: tuple[str, str] | None = None


def rename(
    state: dict[str, Tensor], as_decoder: bool, layout: KeyLayout
) -> tuple[dict[str, Tensor], list[str]]:
    """Rename a checkpoint's keys to the encoder's (bare) or the decoder's (prefixed) names.

    Returns:
        The renamed state and the keys dropped as belonging to heads or parts this model has not.
    """
    out: dict[str, Tensor] = {}
    dropped: list[str] = []
    skip = re.compile(layout.skip)
    prefixed = any(k.startswith(layout.prefix) for k in state)
    for key, value in state.items():
        new = key
        for pattern, replacement in _OLD_LAYER_NORM:
            new = pattern.sub(replacement, new)
        if skip.search(new):
            continue
        is_head = new.startswith(layout.heads)
        if prefixed and not (is_head or new.startswith(layout.prefix)):
            dropped.append(key)
            continue
        body = new.removeprefix(layout.prefix)
        unused = new.startswith(layout.foreign) or body.startswith(layout.foreign)
        if as_decoder:
            unused = unused or (not is_head and body.startswith(layout.encoder_only))
            new = new if is_head else layout.prefix + body
        else:
            unused, new = unused or is_head, body
        if unused:
            dropped.append(key)
        else:
            out[new] = value
    if as_decoder and layout.head_bias is not None:
        kept, alias = layout.head_bias
        if alias in out:  # the bias transformers' forward adds, tied or not
            out[kept] = out.pop(alias)
    return out, dropped


def export(state: dict[str, Tensor], as_decoder: bool, layout: KeyLayout) -> dict[str, Tensor]:
    """This library's decoder state in transformers' layout: an untied LM head (its projection's
    weight written, not tied to the word embeddings) also gets its bias under the projection's name,
    where transformers' forward reads it. A tied head is written as transformers writes it: once."""
    if not as_decoder or layout.head_bias is None:
        return state
    kept, alias = layout.head_bias
    weight = alias.removesuffix("bias") + "weight"
    if weight not in state or kept not in state:
        return state
    return {**state, alias: state[kept].clone()}  # safetensors refuses two names for one tensor
