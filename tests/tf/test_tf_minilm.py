"""The seed document's TensorFlow example, run with only the import changed, on a MiniLM bert2bert
standing in for ``patrickvonplaten/bert2bert-cnn_dailymail-fp16`` in a test hub cache; the model it
builds against the PyTorch side (logits, greedy and beam-4 tokens); and the composite folder loaded
directly, with or without ``from_pt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hub_cache import add_to_hf_cache

from warmstart import AutoTokenizer, EncoderDecoderModel

REPO = "patrickvonplaten/bert2bert-cnn_dailymail-fp16"
ARTICLE = [
    "the tower is 324 metres tall, about the same height as an 81-storey building.",
    "nearly 800 thousand customers were affected by the shutoffs.",
]


@pytest.fixture(scope="module")
def bert2bert_dir(minilm_dir, tmp_path_factory) -> Path:
    """A MiniLM bert2bert with its tokens set, saved by the PyTorch side."""
    torch.manual_seed(0)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        minilm_dir, minilm_dir, decoder_start_token_id=101, pad_token_id=0, eos_token_id=102
    )
    folder = tmp_path_factory.mktemp("bert2bert")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return folder


def test_seed_tf_example(bert2bert_dir, hf_cache, tmp_path, monkeypatch):
    add_to_hf_cache(hf_cache, REPO, bert2bert_dir)
    monkeypatch.chdir(tmp_path)
    # --- the seed's example, import changed ---
    from warmstart import EncoderDecoderModel, TFEncoderDecoderModel

    _model = EncoderDecoderModel.from_pretrained("patrickvonplaten/bert2bert-cnn_dailymail-fp16")

    _model.encoder.save_pretrained("./encoder")
    _model.decoder.save_pretrained("./decoder")

    model = TFEncoderDecoderModel.from_encoder_decoder_pretrained(
        "./encoder", "./decoder", encoder_from_pt=True, decoder_from_pt=True
    )
    # 이 부분은 특정 모델의 구체적인 세부사항을 복사할 때에만 사용합니다.
    model.config = _model.config
    # --- end of the example ---
    tokenizer = AutoTokenizer.from_pretrained(bert2bert_dir)
    batch = tokenizer(ARTICLE, padding=True, return_tensors="tf")
    pt_batch = {k: torch.tensor(v.numpy()) for k, v in batch.items()}
    with torch.no_grad():
        expected = _model(**pt_batch, labels=pt_batch["input_ids"]).logits.numpy()
    got = model(**batch, labels=batch["input_ids"]).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    for options in (dict(max_new_tokens=12), dict(max_new_tokens=12, num_beams=4)):
        theirs = _model.generate(**pt_batch, **options).numpy()
        ours = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"], **options)
        np.testing.assert_array_equal(ours.numpy(), theirs)


def test_composite_folder_loads_directly(bert2bert_dir):
    from warmstart import TFEncoderDecoderModel

    theirs = EncoderDecoderModel.from_pretrained(bert2bert_dir)
    ids = np.array([[101, 1996, 4937, 2938, 102]])
    with torch.no_grad():
        expected = theirs(input_ids=torch.tensor(ids), labels=torch.tensor(ids)).logits.numpy()
    model = TFEncoderDecoderModel.from_pretrained(bert2bert_dir, from_pt=True)
    np.testing.assert_allclose(model(input_ids=ids, labels=ids).logits.numpy(), expected, atol=1e-4)
    model = TFEncoderDecoderModel.from_pretrained(bert2bert_dir)  # without from_pt
    np.testing.assert_allclose(model(input_ids=ids, labels=ids).logits.numpy(), expected, atol=1e-4)
