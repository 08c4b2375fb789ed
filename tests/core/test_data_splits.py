"""The generated tasks' splits: sizes as asked, no source in two splits, the same files from the
same seed, for every task of warmstart.data."""

import json

import pytest

from warmstart.data import discofuse, headlines

TASKS = [discofuse, headlines]
SIZES = {"train": 40, "eval": 10, "test": 10}


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.__name__.rsplit(".", 1)[-1])
def test_splits_are_disjoint_sized_and_seeded(task, tmp_path):
    splits = task.make_splits(3, SIZES)
    assert {k: len(v) for k, v in splits.items()} == SIZES
    sources = [row["source"] for rows in splits.values() for row in rows]
    assert len(set(sources)) == len(sources)
    assert task.make_splits(3, SIZES) == splits
    assert task.make_splits(4, SIZES) != splits
    paths = task.write_splits(tmp_path, 3, SIZES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.jsonl", "test.jsonl", "train.jsonl"]
    for name, path in paths.items():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert rows == splits[name]
