"""Batched generation and scoring with an exported model, for ``warmstart generate`` /
``warmstart evaluate`` on an ONNX folder: the PyTorch side's :mod:`warmstart.train.predict` over
numpy, without torch (no teacher-forced loss: the export has no training graph)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..train.metrics import compute_metrics
from ..train.sources import in_length_order, special_token_kwargs, tokenize_sources
from .model import ORTEncoderDecoderModel


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
    kwargs = {**special_token_kwargs(model.config), **generate_kwargs}

    def run(rows: list[Sequence[int]]) -> list[list[int]]:
        return model.generate(*pad_batch(rows, pad_token_id), **kwargs).tolist()

    return in_length_order(inputs, batch_size, run)


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
    ids = tokenize_sources(list(sources), tokenizer, max_source_length, model)
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
