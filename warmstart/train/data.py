"""Source/target pairs from JSON Lines, CSV or TSV files, tokenised once and batched by length.

Batches are planned ahead of each epoch from ``(seed, epoch)`` alone: shuffle, sort the epoch by
source length (then label length), cut into one batch per optimiser step, shuffle the batches.
Every process of a distributed run plans the same batches and takes its own share of each
micro-batch, so the examples a step sees depend neither on the number of processes nor on gradient
accumulation, and a run can resume at any step of an epoch.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor


logger = logging.getLogger("warmstart")

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv"}
LABEL_BATCHES = 4  # neighbouring batches (similar sources) sorted again by label length together


class DataError(ValueError):
    """A data file that cannot be read: the message names the file and, where known, the line."""


def read_pairs(
    path: str | Path, source_field: str = "source", target_field: str = "target"
) -> list[tuple[str, str]]:
    """Read (source, target) pairs from a ``.jsonl``, ``.csv`` or ``.tsv`` file.

    Args:
        path: the file; its suffix picks the format (CSV and TSV need a header row).
        source_field: name of the source column or key.
        target_field: name of the target column or key.

    Returns:
        The pairs, in file order.

    Raises:
        DataError: unknown format, empty file, malformed record, missing or non-text field.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown format {path.suffix!r}; use .jsonl, .csv or .tsv.")
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    text = read_text(path)
    records = _jsonl_records(path, text) if kind == "jsonl" else _table_records(path, text, kind)
    pairs = [_pair(path, line, rec, source_field, target_field) for line, rec in records]
    if not pairs:
        raise DataError(f"{path}: the file holds no records.")
    _check_empty(path, pairs, target_field)
    return pairs


def read_text(path: Path) -> str:
    """A UTF-8 text file's content.

    Raises:
        DataError: the file is not UTF-8; the message names the line and the byte.
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise DataError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{data[err.start]:02x} at column "
            f"{column}); save the file as UTF-8."
        ) from None


def _check_empty(path: Path, pairs: list[tuple[str, str]], target_field: str) -> None:
    """Refuse data whose targets are all empty (nothing to learn or score); warn about some."""
    empty = sum(not target.strip() for _, target in pairs)
    if empty == len(pairs):
        raise DataError(
            f"{path}: every {target_field!r} is empty; check --target-field and the file."
        )
    if empty:
        logger.warning("%s: %d of %d targets are empty.", path, empty, len(pairs))


def _jsonl_records(path: Path, text: str) -> list[tuple[int, Any]]:
    records = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((line_no, json.loads(line)))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}, line {line_no}: not valid JSON ({err.msg}).") from err
    return records


def _table_records(path: Path, text: str, kind: str) -> list[tuple[int, Any]]:
    with io.StringIO(text, newline="") as f:
        reader = csv.reader(f, delimiter="," if kind == "csv" else "\t")
        try:
            header = next(reader)
        except StopIteration:
            return []
        records = []
        for row in reader:
            line_no = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}, line {line_no}: {len(row)} fields where the header has "
                    f"{len(header)} ({', '.join(header)})."
                )
            records.append((line_no, dict(zip(header, row))))
    return records


def _pair(path: Path, line: int, record: Any, source: str, target: str) -> tuple[str, str]:
    if not isinstance(record, dict):
        raise DataError(f"{path}, line {line}: expected an object, got {type(record).__name__}.")
    values = []
    for field in (source, target):
        if field not in record:
            raise DataError(
                f"{path}, line {line}: missing field {field!r} (fields: {', '.join(record)}). "
                "Name the fields with --source-field/--target-field."
            )
        if not isinstance(record[field], str):
            raise DataError(f"{path}, line {line}: field {field!r} is not a string.")
        values.append(record[field])
    return values[0], values[1]


@dataclass
class Example:
    """One tokenised pair: encoder ids and label ids (ending with eos, no start token)."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids) + len(self.labels)

    @property
    def size(self) -> tuple[int, int]:
        """(source length, label length): the key batches are grouped by. Sources vary most,
        so sorting by them first, then neighbouring batches by labels (:func:`plan_batches`),
        leaves the least padding (about 7% of a batch's tokens against 12% for the total length
        on documents of 20 to 150 tokens)."""
        return len(self.input_ids), len(self.labels)


def tokenize_pairs(
    pairs: Sequence[tuple[str, str]],
    tokenizer: Any,
    max_source_length: int,
    max_target_length: int,
    eos_token_id: int,
    name: str = "data",
) -> list[Example]:
    """Tokenise every pair once; truncate over-long sources and targets with one warning each.

    Targets are tokenised without special tokens and end with ``eos_token_id``: the decoder's start
    token comes from ``decoder_start_token_id`` when labels are shifted right.

    Args:
        pairs: (source, target) texts.
        tokenizer: a warmstart (or transformers) tokenizer.
        max_source_length: most source tokens, special tokens included.
        max_target_length: most label tokens, eos included.
        eos_token_id: the id that ends every label sequence.
        name: what to call the data in warnings (usually its file name).

    Returns:
        The examples, in order.
    """
    # verbose=False: the "longer than this model's maximum" warning is false here, as long rows
    # are truncated below (and counted in one warning of this function's own).
    sources = tokenizer([s for s, _ in pairs], truncation=False, verbose=False)["input_ids"]
    targets = tokenizer([t for _, t in pairs], add_special_tokens=False, verbose=False)
    targets = targets["input_ids"]
    long_rows = [i for i, ids in enumerate(sources) if len(ids) > max_source_length]
    longest = max((len(sources[i]) for i in long_rows), default=0)
    if long_rows:  # only these are tokenised again, so that truncation keeps the special tokens
        cut = tokenizer([pairs[i][0] for i in long_rows], max_length=max_source_length)
        for i, ids in zip(long_rows, cut["input_ids"]):
            sources[i] = ids
        logger.warning(
            "%s: %d of %d sources are longer than --max-source-length %d tokens (the longest "
            "has %d) and were truncated; pass a larger --max-source-length to keep more of them.",
            name,
            len(long_rows),
            len(pairs),
            max_source_length,
            longest,
        )
    long_targets = sum(len(t) + 1 > max_target_length for t in targets)
    if long_targets:
        logger.warning(
            "%s: %d of %d targets are longer than --max-target-length %d tokens and were truncated.",
            name,
            long_targets,
            len(pairs),
            max_target_length,
        )
    return [
        Example(list(ids), [*t[: max_target_length - 1], eos_token_id])
        for ids, t in zip(sources, targets)
    ]


def plan_batches(
    sizes: Sequence[Any], batch_size: int, seed: int, epoch: int, drop_below: int = 1
) -> list[list[int]]:
    """Group example indices into batches of similar size, in a shuffled order.

    Args:
        sizes: the size of each example, sortable (:attr:`Example.size`, or a length).
        batch_size: examples per batch (one optimiser step of the whole run).
        seed, epoch: together they fix the order.
        drop_below: leave out a final batch smaller than this (every micro-batch of every process
            needs at least one example).

    Returns:
        The batches, each a list of example indices.
    """
    rng = random.Random(f"{seed}-{epoch}")
    order = list(range(len(sizes)))
    rng.shuffle(order)  # examples of one size meet in a new order each epoch
    part = _by_labels(sorted(order, key=lambda i: sizes[i]), sizes, batch_size)
    batches = [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return [b for b in batches if len(b) >= drop_below]


def _by_labels(part: list[int], sizes: Sequence[Any], batch_size: int) -> list[int]:
    """``part`` (sorted by source length) with each run of :data:`LABEL_BATCHES` batches' worth
    sorted by label length: labels vary more than sources within a run, and padding them costs a
    decoder token each. Sizes that are plain lengths are left as they are."""
    if not part or not isinstance(sizes[part[0]], tuple):
        return part
    run = batch_size * LABEL_BATCHES
    return [
        i
        for start in range(0, len(part), run)
        for i in sorted(part[start : start + run], key=lambda i: sizes[i][::-1])
    ]


def micro_batches(batch: list[int], grad_accum: int, rank: int, world: int) -> list[list[int]]:
    """This process's micro-batches of one step's batch: ``grad_accum`` strided slices, each shared
    among ``world`` processes, so that together they hold every example exactly once."""
    return [batch[i::grad_accum][rank::world] for i in range(grad_accum)]


def collate(examples: Sequence[Example], pad_token_id: int) -> dict[str, Tensor]:
    """Pad a batch to its longest row: inputs with ``pad_token_id``, labels with -100.

    Args:
        examples: the batch.
        pad_token_id: the tokenizer's pad id.

    Returns:
        ``input_ids`` and ``attention_mask`` (B, S), ``labels`` (B, T).
    """
    import torch

    S = max(len(e.input_ids) for e in examples)
    T = max(len(e.labels) for e in examples)
    input_ids = torch.full((len(examples), S), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(examples), S), dtype=torch.long)
    labels = torch.full((len(examples), T), -100, dtype=torch.long)
    for row, e in enumerate(examples):
        input_ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        mask[row, : len(e.input_ids)] = 1
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def pad_arrays(
    examples: Sequence[Example],
    pad_token_id: int,
    source_length: int | None = None,
    target_length: int | None = None,
) -> dict[str, Any]:
    """:func:`collate` in numpy (for the TensorFlow and Flax loops): pad to the given lengths (the
    batch's longest by default), inputs with ``pad_token_id``, labels with -100.

    Returns:
        int32 ``input_ids`` and ``attention_mask`` (B, S), ``labels`` (B, T).
    """
    import numpy as np

    S = source_length or max(len(e.input_ids) for e in examples)
    T = target_length or max(len(e.labels) for e in examples)
    input_ids = np.full((len(examples), S), pad_token_id, dtype=np.int32)
    mask = np.zeros((len(examples), S), dtype=np.int32)
    labels = np.full((len(examples), T), -100, dtype=np.int32)
    for row, e in enumerate(examples):
        input_ids[row, : len(e.input_ids)] = e.input_ids
        mask[row, : len(e.input_ids)] = 1
        labels[row, : len(e.labels)] = e.labels
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
