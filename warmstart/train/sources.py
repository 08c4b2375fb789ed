"""The framework-free half of batched generation, shared by the PyTorch side
(:mod:`warmstart.train.predict`) and the ONNX room (:mod:`warmstart.onnx.predict`): the special
token ids a search needs, sources tokenized with one warning for those cut, and generation over
length-sorted batches (little padding) put back in input order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger("warmstart")


def special_token_kwargs(config: Any) -> dict[str, Any]:
    """The token ids ``generate`` needs (start, eos, pad), those ``config`` sets."""
    names = ("decoder_start_token_id", "eos_token_id", "pad_token_id")
    ids = {name: getattr(config, name, None) for name in names}
    return {k: v for k, v in ids.items() if v is not None}


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


def in_length_order(
    inputs: Sequence[Sequence[int]],
    batch_size: int,
    run: Callable[[list[Sequence[int]]], list[list[int]]],
    progress: bool = False,
) -> list[list[int]]:
    """``run`` over ``inputs`` in batches of similar length; its outputs in input order.

    Args:
        inputs: token ids, one list per input.
        batch_size: inputs per ``run`` call.
        run: one batch of inputs (unpadded) to one output list per input.
        progress: show a tqdm bar.
    """
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    out: list[list[int]] = [[] for _ in inputs]
    bar = tqdm(total=len(inputs), desc="generate", unit="ex", disable=not progress)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        for row, seq in zip(rows, run([inputs[i] for i in rows])):
            out[row] = seq
        bar.update(len(rows))
    bar.close()
    return out
