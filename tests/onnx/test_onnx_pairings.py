"""Every family pairing of the PyTorch side, exported to ONNX and run by onnxruntime: greedy and
beam-4 tokens equal the PyTorch side's on a padded batch where some rows finish early."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx_models import PAIRINGS, export, pick_eos, source, torch_pairing

from warmstart.onnx import ORTEncoderDecoderModel

MAX_NEW = 12

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=sorted(PAIRINGS))
def pair(request, tmp_path_factory):
    torch.manual_seed(0)
    ours = torch_pairing(request.param)
    folder = export(ours, tmp_path_factory.mktemp("onnx") / request.param)
    ort_model = ORTEncoderDecoderModel.from_pretrained(folder, threads=1)
    pad = ours.config.pad_token_id
    x, mask = source(pad)
    free = ours.generate(
        torch.from_numpy(x), attention_mask=torch.from_numpy(mask), max_new_tokens=MAX_NEW
    )
    special = {pad, ours.config.decoder_start_token_id}
    return ours, ort_model, pick_eos(free.numpy(), special), x, mask


@pytest.mark.parametrize("num_beams", [1, 4])
def test_tokens_equal_pytorch(pair, num_beams):
    ours, ort_model, eos, x, mask = pair
    kw = dict(max_new_tokens=MAX_NEW, num_beams=num_beams, eos_token_id=eos)
    a = ours.generate(torch.from_numpy(x), attention_mask=torch.from_numpy(mask), **kw).numpy()
    b = ort_model.generate(x, mask, **kw)
    assert b.dtype == np.int64
    assert np.array_equal(a, b), f"\n{a.tolist()}\n{b.tolist()}"
    if num_beams == 1:  # some rows end early: the padding after eos is checked too
        finished = (a[:, 1:] == eos).any(1)
        assert finished.any() and not finished.all(), a.tolist()
