"""What an encoder-decoder's inputs must be: token ids checked, decoder inputs from labels."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from ..generation.settings import check_shift_ids


def shift_tokens_right(
    input_ids: Tensor, pad_token_id: int | None, decoder_start_token_id: int | None
) -> Tensor:
    """Decoder inputs from labels: start token first, labels moved right by one, -100 read as pad.

    Args:
        input_ids: (B, T) labels, -100 where ignored.
        pad_token_id: id written where labels hold -100.
        decoder_start_token_id: id of the first decoder input.

    Returns:
        (B, T) decoder input ids.
    """
    labels, start_token_id = input_ids, decoder_start_token_id
    check_shift_ids(pad_token_id, start_token_id)
    shifted = labels.new_empty(labels.shape)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = start_token_id
    return shifted.masked_fill_(shifted == -100, pad_token_id)


def check_ids(name: str, ids: Any, vocab_size: int | None = None) -> Tensor | None:
    """``ids`` as given when it is a (B, L) tensor of integers (input ids: at least one per row,
    none negative or at or above ``vocab_size``); a clear error otherwise."""
    if ids is None:
        return ids
    if isinstance(ids, Tensor) and ids.dim() == 2 and not ids.is_floating_point():
        if name != "labels":  # labels out of range: the loss's own IndexError, as transformers
            check_values(name, ids)
            check_vocabulary(name, ids, vocab_size)
        return ids
    if not isinstance(ids, Tensor):
        raise TypeError(
            f"{name} must be a torch tensor of shape (batch, length), not {type(ids).__name__}: "
            'use tokenizer(texts, return_tensors="pt") or torch.tensor(ids).'
        )
    if ids.is_floating_point():
        raise TypeError(f"{name} must hold integer token ids, not {ids.dtype}.")
    raise ValueError(
        f"{name} must have shape (batch, length), not {tuple(ids.shape)}"
        + (": add the batch dimension with ids[None]." if ids.dim() == 1 else ".")
    )


def check_values(name: str, ids: Tensor) -> None:
    """Refuse a (B, L) tensor of input ids with no tokens, or with negative ids."""
    if ids.shape[1] == 0:
        raise ValueError(
            f"{name} has no tokens (shape {tuple(ids.shape)}): pass at least one token id per "
            "row (an empty text still tokenises to the start and end tokens)."
        )
    if ids.numel() and int(ids.min()) < 0:
        raise ValueError(
            f"{name} holds the negative id {int(ids.min())}: token ids run from 0 to the "
            "vocabulary size - 1."
        )


def check_vocabulary(name: str, ids: Tensor | None, vocab_size: int | None) -> None:
    """Refuse ids at or above ``vocab_size`` in one line (the embedding's own error names no id)."""
    if ids is None or vocab_size is None or ids.numel() == 0:
        return
    high = int(ids.max())
    if high >= vocab_size:
        raise ValueError(
            f"{name} holds the id {high}, beyond this model's vocabulary of {vocab_size} tokens "
            "(ids 0 to vocab_size - 1): is the tokenizer the model's?"
        )


def last_hidden_state(encoder_outputs: Any) -> Tensor:
    if isinstance(encoder_outputs, Tensor):
        return encoder_outputs
    if isinstance(encoder_outputs, (tuple, list)):
        return encoder_outputs[0]
    return encoder_outputs.last_hidden_state


def check_labels(model: nn.Module, labels: Tensor, decoder_input_ids: Tensor | None) -> None:
    """Refuse labels that cannot be right; warn once per model about labels that are likely wrong."""
    if labels.shape[0] == 0:
        raise ValueError("The batch is empty: labels have no rows.")
    if decoder_input_ids is not None and decoder_input_ids.shape != labels.shape:
        raise ValueError(
            f"labels {tuple(labels.shape)} and decoder_input_ids "
            f"{tuple(decoder_input_ids.shape)} differ in shape: there is one label per decoder "
            "position. Pass only labels to have the decoder inputs built from them."
        )
    if model._warned_labels:
        return
    pad = model.config.pad_token_id
    if decoder_input_ids is not None and decoder_input_ids.shape == labels.shape:
        if torch.equal(decoder_input_ids, labels):
            warnings.warn(
                "decoder_input_ids equal labels, so the model learns to copy its input. Pass only "
                "labels: decoder inputs are built by shifting them right.",
                stacklevel=3,
            )
            model._warned_labels = True
    elif pad is not None and bool((labels == pad).any()) and not bool((labels == -100).any()):
        warnings.warn(
            "labels contain pad_token_id and no -100, so padding counts in the loss. Replace "
            "padding in labels with -100.",
            stacklevel=3,
        )
        model._warned_labels = True
