"""Batched generation and evaluation of a seq2seq model, returning results in input order.

Inputs are sorted by length so each batch pads little, then put back in the order they came in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import Example, collate
from .metrics import compute_metrics

logger = logging.getLogger("warmstart")


def special_token_kwargs(model: nn.Module) -> dict[str, Any]:
    """The token ids ``generate`` needs, read from the model's config."""
    c = model.config
    ids = {
        "decoder_start_token_id": c.decoder_start_token_id,
        "eos_token_id": c.eos_token_id,
        "pad_token_id": c.pad_token_id,
    }
    return {k: v for k, v in ids.items() if v is not None}


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
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    kwargs = {**special_token_kwargs(model), **generate_kwargs}
    if kwargs.get("prompt_lookup_num_tokens") is not None:
        batch_size = 1
    out: list[list[int]] = [[] for _ in inputs]
    bar = tqdm(total=len(inputs), desc="generate", unit="ex", disable=not progress)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = collate([Example(list(inputs[i]), [0]) for i in rows], pad_token_id)
        ids = model.generate(
            batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            **kwargs,
        )
        for row, seq in zip(rows, ids.tolist()):
            out[row] = seq
        bar.update(len(rows))
    bar.close()
    return out


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


def tokenize_sources(
    sources: list[str], tokenizer: Any, max_source_length: int, model: Any = None
) -> list[list[int]]:
    """Token ids of each source, those over ``max_source_length`` truncated (special tokens kept)
    with one warning saying how many and what to pass."""
    ids = tokenizer(sources, truncation=False, verbose=False)["input_ids"]
    long_rows = [i for i, row in enumerate(ids) if len(row) > max_source_length]
    if long_rows:
        longest = max(len(ids[i]) for i in long_rows)
        cut = tokenizer([sources[i] for i in long_rows], max_length=max_source_length)
        for i, row in zip(long_rows, cut["input_ids"]):
            ids[i] = row
        limit = getattr(
            getattr(getattr(model, "config", None), "encoder", None),
            "max_position_embeddings",
            None,
        )
        most = f" (the encoder takes at most {limit})" if limit else ""
        logger.warning(
            "%d of %d inputs are longer than --max-source-length %d tokens (the longest has %d) "
            "and were truncated; pass a larger --max-source-length to keep more of them%s.",
            len(long_rows), len(sources), max_source_length, longest, most,
        )  # fmt: skip
    return ids


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
        loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
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
