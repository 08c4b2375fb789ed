"""TensorFlow BertGeneration against the PyTorch side and transformers 5.x, live: halves saved by
either load and compose with equal logits, and save back; a bert2bert of BertGeneration halves
saved by the PyTorch side loads with equal logits and equal greedy and beam-4 tokens, and what the
TF side saves loads in PyTorch with equal logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as hf
from tiny_configs import BERTGEN_IDS, TINY, bertgen_bert2bert, padded_batch, randomize_

import warmstart
from warmstart import BertGenerationConfig, EncoderDecoderModel
from warmstart.tf import TFBertGenerationDecoder, TFBertGenerationEncoder, TFEncoderDecoderModel

DECODER = dict(is_decoder=True, add_cross_attention=True)
IDS = BERTGEN_IDS
SOURCE = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])


def _logits(model, x, mask, y) -> np.ndarray:
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits.numpy()
    return model(
        input_ids=x.numpy(), attention_mask=mask.numpy(), decoder_input_ids=y.numpy()
    ).logits.numpy()


@pytest.mark.parametrize("maker, tie", [("warmstart", True), ("transformers", False)])
def test_halves_load_compose_and_save_back(maker, tie, tmp_path):
    """Halves saved by PyTorch load, compose with equal logits; the TF halves' folders load in
    PyTorch with equal logits."""
    if maker == "transformers":
        make_config, enc_cls, dec_cls = (
            hf.BertGenerationConfig,
            hf.BertGenerationEncoder,
            hf.BertGenerationDecoder,
        )
    else:
        make_config = BertGenerationConfig
        enc_cls, dec_cls = warmstart.BertGenerationEncoder, warmstart.BertGenerationDecoder
    enc = randomize_(enc_cls(make_config(**TINY)))
    dec = randomize_(dec_cls(make_config(**TINY, **DECODER, tie_word_embeddings=tie)))
    enc.save_pretrained(tmp_path / "enc")
    dec.save_pretrained(tmp_path / "dec")
    theirs = warmstart.EncoderDecoderModel(encoder=enc, decoder=dec).eval()
    ours = TFEncoderDecoderModel(
        encoder=TFBertGenerationEncoder.from_pretrained(tmp_path / "enc"),
        decoder=TFBertGenerationDecoder.from_pretrained(tmp_path / "dec"),
    )
    assert ours.encoder.newly_initialized == [] and ours.decoder.newly_initialized == []
    x, mask, y = padded_batch(99, pad=0)
    y = y.clamp(min=0)
    expected = _logits(theirs, x, mask, y)
    np.testing.assert_allclose(_logits(ours, x, mask, y), expected, atol=1e-4, rtol=1e-4)
    ours.encoder.save_pretrained(tmp_path / "tf-enc")
    ours.decoder.save_pretrained(tmp_path / "tf-dec")
    back = warmstart.EncoderDecoderModel(
        encoder=enc_cls.from_pretrained(tmp_path / "tf-enc"),
        decoder=dec_cls.from_pretrained(tmp_path / "tf-dec"),
    ).eval()
    np.testing.assert_allclose(_logits(back, x, mask, y), expected, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(the PyTorch side's BertGeneration bert2bert, the TF model loaded from its folder)."""
    folder = tmp_path_factory.mktemp("bertgen2bertgen")
    return bertgen_bert2bert(folder), TFEncoderDecoderModel.from_pretrained(folder)


def test_composite_logits_and_tokens_equal_pytorch(pair, tmp_path):
    theirs, ours = pair
    x, mask, y = padded_batch(99, pad=0)
    y = y.clamp(min=0)
    expected = _logits(theirs, x, mask, y)
    np.testing.assert_allclose(_logits(ours, x, mask, y), expected, atol=1e-4, rtol=1e-4)
    for beams in (1, 4):
        # tied embeddings make a tiny random decoder repeat its last token: no repeats
        options = dict(max_new_tokens=10, num_beams=beams, no_repeat_ngram_size=1)
        with torch.no_grad():
            want = theirs.generate(
                torch.tensor(SOURCE), attention_mask=torch.tensor(SOURCE != 0), **options
            )
        got = ours.generate(SOURCE, attention_mask=(SOURCE != 0).astype(np.int32), **options)
        np.testing.assert_array_equal(np.asarray(got), want.numpy())
    ours.save_pretrained(tmp_path)
    back = EncoderDecoderModel.from_pretrained(tmp_path).eval()
    np.testing.assert_allclose(_logits(back, x, mask, y), expected, atol=1e-4, rtol=1e-4)


def test_warm_start_from_one_encoder_checkpoint_as_pytorch(tmp_path):
    """The bbc_encoder recipe: one BertGeneration encoder checkpoint warm-starts both halves; the
    same tensors load and the same ones are new as on the PyTorch side."""
    randomize_(warmstart.BertGenerationEncoder(BertGenerationConfig(**TINY))).save_pretrained(
        tmp_path
    )
    theirs = EncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    ours = TFEncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    new = set(theirs.newly_initialized)
    assert set(ours.newly_initialized) == new
    state = theirs.state_dict()
    loaded = {k: v for k, v in ours.state().items() if k not in new}
    assert len(loaded) > 20
    for key, value in loaded.items():
        np.testing.assert_array_equal(value, state[key].numpy())
