"""Batched generation and scoring with an exported model, for ``warmstart generate`` /
``warmstart evaluate`` on an ONNX folder: the PyTorch side's :mod:`warmstart.train.predict` over
numpy, without torch (no teacher-forced loss: the export has no training graph)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..train.metrics import compute_metrics
from .model import ORTEncoderDecoderModel


def special_token_kwargs(model: ORTEncoderDecoderModel) -> dict[str, Any]:
    """The token ids ``generate`` needs, read from the model's config."""
    c = model.config
    ids = {name: getattr(c, name, None) for name in ("decoder_start_token_id", "eos_token_id")}
    ids["pad_token_id"] = c.pad_token_id
    return {k: v for k, v in ids.items() if v is not None}


def pad_batch(rows: Sequence[Sequence[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token lists: ids and attention mask (B, S)."""
    S = max(len(r) for r in rows)
    ids = np.full((len(rows), S), pad, dtype=np.int64)
    mask = np.zeros((len(rows), S), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    return ids, mask


def generate_ids(
    model: ORTEncoderDecoderModel,
    inputs: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = 16,
    **generate_kwargs: Any,
) -> list[list[int]]:
    """``model.generate`` over token lists in length-sorted batches; the ids in input order."""
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    kwargs = {**special_token_kwargs(model), **generate_kwargs}
    out: list[list[int]] = [[] for _ in inputs]
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = pad_batch([inputs[i] for i in rows], pad_token_id)
        for row, seq in zip(rows, model.generate(ids, mask, **kwargs).tolist()):
            out[row] = seq
    return out


def generate_texts(
    model: ORTEncoderDecoderModel,
    tokenizer: Any,
    sources: Sequence[str],
    batch_size: int = 16,
    max_source_length: int = 512,
    **generate_kwargs: Any,
) -> list[str]:
    """One generated text per source, in input order, special tokens removed."""
    if not sources:
        return []
    ids = tokenizer(list(sources), truncation=True, max_length=max_source_length)["input_ids"]
    out = generate_ids(model, ids, tokenizer.pad_token_id, batch_size, **generate_kwargs)
    return tokenizer.batch_decode(out, skip_special_tokens=True)


def evaluate(
    model: ORTEncoderDecoderModel,
    tokenizer: Any,
    sources: Sequence[Sequence[int]],
    references: Sequence[str],
    batch_size: int = 16,
    **generate_kwargs: Any,
) -> tuple[dict[str, float], list[str]]:
    """ROUGE, BLEU and exact match of the generated texts (no ``eval_loss``), and the texts."""
    ids = generate_ids(model, sources, tokenizer.pad_token_id, batch_size, **generate_kwargs)
    predictions = tokenizer.batch_decode(ids, skip_special_tokens=True)
    return compute_metrics(predictions, list(references)), predictions
