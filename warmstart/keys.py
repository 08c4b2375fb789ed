"""Checkpoint key layouts: how a family's pretrained checkpoints name tensors, and the renaming that
maps them onto this library's encoder (the bare model) or decoder (the causal-LM model).

Names only: no framework is imported. Values pass through untouched, whatever array type they are;
the one change of layout a family needs (GPT-2's Conv1D weights, stored (in, out)) is data here
(:attr:`KeyLayout.transposed`) that each framework applies with its own transpose.

transformers saves a bare model without a prefix (``encoder.layer.0...``) and a model with a head
under its ``base_model_prefix`` (``bert.encoder.layer.0...``) next to the head's own tensors
(``cls.predictions...``). An encoder takes the bare names; a decoder takes the prefixed names and its
LM head; heads for other tasks are dropped and reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Tensor = Any  # an array of any framework; only names are read here

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
        transposed: regex of weights stored transposed in checkpoints (GPT-2's Conv1D, (in, out)),
            each framework applies :func:`to_model`'s ``transpose`` to them.
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
    transposed: str = r"$^"


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
    return {**state, alias: state[kept]}  # one tensor under two names: writers copy one of them


BERT = KeyLayout(
    prefix="bert.",
    heads=("cls.",),
    # heads of other BERT checkpoints (pre-training, classification, QA) a seq2seq model has no use for
    foreign=("cls.seq_relationship.", "classifier.", "qa_outputs."),
    encoder_only=("pooler.",),
    skip=r"embeddings\.position_ids$",
    head_bias=("cls.predictions.bias", "cls.predictions.decoder.bias"),
)
BERT_GENERATION = KeyLayout(
    prefix="bert.",
    heads=("lm_head.",),
    skip=r"embeddings\.position_ids$",
    head_bias=("lm_head.bias", "lm_head.decoder.bias"),
)
ROBERTA = KeyLayout(
    prefix="roberta.",
    heads=("lm_head.",),
    foreign=("classifier.", "qa_outputs."),
    encoder_only=("pooler.",),
    skip=r"embeddings\.position_ids$",
    head_bias=("lm_head.bias", "lm_head.decoder.bias"),
)
ELECTRA = KeyLayout(
    prefix="electra.",
    heads=("generator_predictions.", "generator_lm_head."),
    foreign=("discriminator_predictions.", "classifier.", "qa_outputs.", "sequence_summary."),
    skip=r"embeddings\.(position_ids|token_type_ids)$",
)
REMBERT = KeyLayout(
    prefix="rembert.",
    heads=("cls.",),  # cls.predictions: dense, LayerNorm, decoder (its own weight and bias)
    foreign=("classifier.", "qa_outputs."),
    encoder_only=("pooler.",),
    skip=r"embeddings\.position_ids$",
)
GPT2 = KeyLayout(
    prefix="transformer.",
    heads=("lm_head.",),
    foreign=("multiple_choice_head.", "score.", "classifier.", "qa_outputs."),
    # the causal-mask buffers of old checkpoints
    skip=r"\.(attn|crossattention)\.(bias|masked_bias)$",
    transposed=r"\.(c_attn|q_attn|c_proj|c_fc)\.weight$",
)
BART = KeyLayout(
    prefix="model.",
    heads=("lm_head.", "final_logits_bias"),
    foreign=("classification_head.", "qa_outputs."),
    skip=r"(encoder|decoder)\.version$",  # fairseq leftovers
)


def to_model(
    layout: KeyLayout,
    state: dict[str, Tensor],
    as_decoder: bool,
    transpose: Callable[[Tensor], Tensor] | None = None,
) -> tuple[dict[str, Tensor], list[str]]:
    """A checkpoint's tensors under this library's encoder (bare) or decoder (prefixed) names.

    Handles old ``gamma``/``beta`` LayerNorm names, buffers written by old versions, the LM head's
    second bias name, and heads of other tasks (dropped and returned). ``transpose`` is applied to
    the weights the family stores transposed (GPT-2's Conv1D).

    Returns:
        The renamed state and the keys dropped as belonging to heads or parts this model has not.
    """
    if layout is BART and as_decoder:
        out, dropped = _bart_decoder(state)
    else:
        out, dropped = rename(state, as_decoder, layout)
    return _transposed(out, layout, transpose), dropped


def to_checkpoint(
    layout: KeyLayout,
    state: dict[str, Tensor],
    as_decoder: bool,
    transpose: Callable[[Tensor], Tensor] | None = None,
) -> dict[str, Tensor]:
    """The inverse of :func:`to_model`: this library's state under transformers' names and layout."""
    return _transposed(export(state, as_decoder, layout), layout, transpose)


def _transposed(state: dict, layout: KeyLayout, transpose: Callable | None) -> dict:
    if layout.transposed == r"$^":
        return state
    if transpose is None:
        raise ValueError("this family stores some weights transposed: pass transpose=")
    rule = re.compile(layout.transposed)
    return {k: transpose(v) if rule.search(k) else v for k, v in state.items()}


def _bart_decoder(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """A decoder taken from a whole BART (``BartForConditionalGeneration``, ``BartModel``) or a
    ``BartForCausalLM``: its decoder stack and LM head; the word embeddings come from ``shared``
    when the checkpoint does not repeat them under the decoder."""
    out: dict[str, Tensor] = {}
    dropped: list[str] = []
    shared = None
    for key, value in state.items():
        body = key.removeprefix("model.")
        if key.startswith("lm_head."):
            out[key] = value
        elif body.startswith("decoder.") and not body.endswith(".version"):
            out["model." + body] = value
        elif body == "shared.weight":
            shared = value
        else:
            dropped.append(key)
    if shared is not None:
        out.setdefault("model.decoder.embed_tokens.weight", shared)
    return out, dropped
