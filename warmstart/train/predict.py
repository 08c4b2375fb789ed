"""Batched generation and evaluation of a seq2seq model, returning results in input order.

Inputs are sorted by length so each batch pads little, then put back in the order they came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .data import Example, collate
from .metrics import compute_metrics
from .sources import in_length_order, special_token_kwargs, tokenize_sources


@torch.no_grad()
def generate_ids(
    model: nn.Module,
    inputs: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int = 16,
    progress: bool = False,
    **generate_kwargs: Any,
) -> list[list[int]]:
    """Run ``model.generate`` over tokenised inputs in length-sorted batches.

    Args:
        model: an encoder-decoder model with a transformers-style ``generate``.
        inputs: source token ids, one list per input.
        pad_token_id: the id that pads sources.
        batch_size: inputs per ``generate`` call (1 with ``prompt_lookup_num_tokens``, which
            decodes one input at a time).
        progress: show a tqdm bar.
        **generate_kwargs: passed to ``generate`` (``num_beams``, ``max_new_tokens``, ...).

    Returns:
        The generated ids of each input, in input order.
    """
    model.eval()
    device = next(model.parameters()).device
    vocab = getattr(getattr(model.config, "encoder", None), "vocab_size", None)
    for row in inputs:
        if row and vocab is not None and max(row) >= vocab:
            raise ValueError(
                f"An input holds the token id {max(row)}, beyond the encoder's vocabulary of "
                f"{vocab} tokens: is the tokenizer the model's?"
            )
    kwargs = {**special_token_kwargs(model.config), **generate_kwargs}
    if kwargs.get("prompt_lookup_num_tokens") is not None:
        batch_size = 1

    def run(rows: list[Sequence[int]]) -> list[list[int]]:
        batch = collate([Example(list(row), [0]) for row in rows], pad_token_id)
        ids = model.generate(
            batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            **kwargs,
        )
        return ids.tolist()

    return in_length_order(inputs, batch_size, run, progress)


def generate_texts(
    model: nn.Module,
    tokenizer: Any,
    sources: Sequence[str],
    batch_size: int = 16,
    max_source_length: int = 512,
    progress: bool = False,
    **generate_kwargs: Any,
) -> list[str]:
    """Generate one text per source, in input order.

    Args:
        model: an encoder-decoder model.
        tokenizer: its tokenizer.
        sources: the input texts.
        batch_size: inputs per ``generate`` call.
        max_source_length: longer sources are truncated.
        progress: show a tqdm bar.
        **generate_kwargs: passed to ``generate``.

    Returns:
        The generated texts, special tokens removed.
    """
    if not sources:
        return []
    ids = tokenize_sources(list(sources), tokenizer, max_source_length, model)
    out = generate_ids(
        model, ids, tokenizer.pad_token_id, batch_size, progress=progress, **generate_kwargs
    )
    return tokenizer.batch_decode(out, skip_special_tokens=True)


@torch.no_grad()
def eval_loss(
    model: nn.Module, examples: Sequence[Example], pad_token_id: int, batch_size: int = 16
) -> float:
    """Teacher-forced cross-entropy per target token over ``examples``."""
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size], pad_token_id)
        n = int((batch["labels"] != -100).sum())
        loss = model(**{k: v.to(device) for k, v in batch.items()}, loss_only=True).loss
        total += float(loss) * n
        tokens += n
    return total / max(1, tokens)


def evaluate(
    model: nn.Module,
    tokenizer: Any,
    examples: Sequence[Example],
    references: Sequence[str],
    batch_size: int = 16,
    progress: bool = False,
    **generate_kwargs: Any,
) -> tuple[dict[str, float], list[str]]:
    """Score a model on tokenised examples: teacher-forced loss and generation metrics.

    Args:
        model: an encoder-decoder model.
        tokenizer: decodes the generated ids.
        examples: tokenised sources and labels.
        references: the target texts of ``examples``.
        batch_size: examples per batch.
        progress: show a tqdm bar during generation.
        **generate_kwargs: passed to ``generate``.

    Returns:
        ``eval_loss`` with ROUGE, BLEU and exact match, and the generated texts.
    """
    pad = tokenizer.pad_token_id
    ids = generate_ids(
        model, [e.input_ids for e in examples], pad, batch_size, progress, **generate_kwargs
    )
    predictions = tokenizer.batch_decode(ids, skip_special_tokens=True)
    metrics = {"eval_loss": eval_loss(model, examples, pad, batch_size)}
    metrics.update(compute_metrics(predictions, references))
    return metrics, predictions
