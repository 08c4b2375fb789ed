"""Disjoint train/eval/test splits of a generated task, and their JSON Lines files: one version for
every task in :mod:`warmstart.data` (each task brings its ``make_example(rng)``)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

Example = dict[str, str]


def draw_splits(
    make_example: Callable[[random.Random], Example], seed: int, sizes: dict[str, int]
) -> dict[str, list[Example]]:
    """``sizes[name]`` examples per split from ``make_example``, no source in two splits."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[Example]] = {}
    for name, size in sizes.items():
        rows: list[Example] = []
        while len(rows) < size:
            example = make_example(rng)
            if example["source"] not in seen:
                seen.add(example["source"])
                rows.append(example)
        splits[name] = rows
    return splits


def write_jsonl(folder: str | Path, splits: dict[str, list[Example]]) -> dict[str, Path]:
    """Write each split to ``folder/<name>.jsonl`` (created if missing; each file swapped in
    whole); the path of each split's file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in splits.items():
        path = folder / f"{name}.jsonl"
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths[name] = path
    return paths
