"""Disjoint train/eval/test splits of a generated task, and their JSON Lines files: one version for
every task in :mod:`warmstart.data` (each task brings its ``make_example(rng)`` and its split
sizes, and exposes a :class:`GeneratedTask`'s ``make_splits`` and ``write_splits``)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from ..hub import write_text_atomic

Example = dict[str, str]


class GeneratedTask:
    """The splits of a task drawn by ``make_example(rng)``, ``sizes`` examples per split unless
    the caller gives others."""

    def __init__(self, make_example: Callable[[random.Random], Example], sizes: dict[str, int]):
        self.make_example = make_example
        self.sizes = sizes

    def make_splits(
        self, seed: int = 0, sizes: dict[str, int] | None = None
    ) -> dict[str, list[Example]]:
        """Draw disjoint train/eval/test splits (no source appears in two splits).

        Args:
            seed: the random seed.
            sizes: examples per split (default: the task's own, named in its module).

        Returns:
            The examples of each split.
        """
        rng = random.Random(seed)
        seen: set[str] = set()
        splits: dict[str, list[Example]] = {}
        for name, size in (sizes or self.sizes).items():
            rows: list[Example] = []
            while len(rows) < size:
                example = self.make_example(rng)
                if example["source"] not in seen:
                    seen.add(example["source"])
                    rows.append(example)
            splits[name] = rows
        return splits

    def write_splits(
        self, folder: str | Path, seed: int = 0, sizes: dict[str, int] | None = None
    ) -> dict[str, Path]:
        """Write ``train.jsonl``, ``eval.jsonl`` and ``test.jsonl`` (or ``sizes``' names) into
        ``folder`` (created if missing; each file swapped in whole).

        Args:
            folder: where to write.
            seed: the random seed.
            sizes: examples per split, as in :meth:`make_splits`.

        Returns:
            The path of each split's file.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, rows in self.make_splits(seed, sizes).items():
            path = folder / f"{name}.jsonl"
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            write_text_atomic(path, text)
            paths[name] = path
        return paths
