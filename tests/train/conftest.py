"""Fixtures for training tests: a tiny sentence-fusion dataset and tiny BERT checkpoints built from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny import tiny_bert, write_data
from torch_fixtures import _default_product_paths, _seed  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and a busy 2-core machine makes two threads crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    (folder / "words.txt").write_text(
        "\n".join(write_data(folder, {"train": 48, "eval": 8})), encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory, data_dir) -> Path:
    """Tiny BERT with dropout 0.1 (resuming must restore the dropout masks' random state)."""
    words = (data_dir / "words.txt").read_text(encoding="utf-8").split("\n")
    return tiny_bert(tmp_path_factory.mktemp("bert"), words, dropout=0.1)


@pytest.fixture(scope="session")
def bert_nodrop_dir(tmp_path_factory, data_dir) -> Path:
    """Tiny BERT without dropout, for runs whose losses are compared step by step."""
    words = (data_dir / "words.txt").read_text(encoding="utf-8").split("\n")
    return tiny_bert(tmp_path_factory.mktemp("bert_nodrop"), words, dropout=0.0)
