"""The real MiniLM bert2bert (the embedded checkpoint, warm-started) exported to ONNX: greedy and
beam-4 tokens equal the PyTorch side's on a padded batch of real sentences."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import numpy as np
import torch

from warmstart import AutoTokenizer, EncoderDecoderModel
from warmstart.onnx import ORTEncoderDecoderModel
from warmstart.torch.export import export_onnx

SENTENCES = [
    "The cat sat on the mat. It was warm.",
    "Warm-starting reuses pretrained checkpoints for generation.",
]


@pytest.fixture(scope="module")
def minilm_pair(minilm_dir, tmp_path_factory):
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(minilm_dir, minilm_dir).eval()
    model.config.decoder_start_token_id = tok.cls_token_id
    model.config.pad_token_id = tok.pad_token_id
    model.config.eos_token_id = tok.sep_token_id
    folder = export_onnx(model, tmp_path_factory.mktemp("minilm_onnx"), source=minilm_dir)
    batch = tok(SENTENCES, padding=True, return_tensors="np")
    return model, ORTEncoderDecoderModel.from_pretrained(folder), batch


@pytest.mark.parametrize("num_beams", [1, 4])
def test_minilm_tokens_equal_pytorch(minilm_pair, num_beams):
    model, ort_model, batch = minilm_pair
    ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
    kw = dict(max_new_tokens=10, num_beams=num_beams)
    a = model.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), **kw)
    b = ort_model.generate(ids, mask, **kw)
    assert np.array_equal(a.numpy(), b), f"\n{a.tolist()}\n{b.tolist()}"
