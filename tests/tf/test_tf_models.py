"""The TensorFlow models against the PyTorch side, live: logits and loss of every pairing loaded
from a PyTorch folder, folders written by the TF side loaded by PyTorch (and back), and the
accessors and errors of transformers' TF API."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch
from tf.conftest import PAIRINGS, TOKENS
from tiny_configs import padded_batch

from warmstart import EncoderDecoderModel
from warmstart.tf import TFEncoderDecoderModel, TFGPT2LMHeadModel, shift_tokens_right


def _logits(model, x, mask, y) -> tuple[np.ndarray, float]:
    if isinstance(model, EncoderDecoderModel):
        with torch.no_grad():
            out = model(input_ids=x, attention_mask=mask, labels=y)
        return out.logits.numpy(), float(out.loss)
    out = model(input_ids=x.numpy(), attention_mask=mask.numpy(), labels=y.numpy())
    return out.logits.numpy(), float(out.loss)


def _close(a, b) -> None:
    np.testing.assert_allclose(a[0], b[0], atol=1e-4, rtol=1e-4)
    assert abs(a[1] - b[1]) < 1e-4


@pytest.mark.parametrize("name", sorted(PAIRINGS))
def test_pytorch_folder_loads_with_equal_logits(name, pairing_dirs):
    folder = pairing_dirs[name]
    theirs = EncoderDecoderModel.from_pretrained(folder)
    ours = TFEncoderDecoderModel.from_pretrained(folder, from_pt=True)
    assert bool(ours.proj) == hasattr(theirs, "enc_to_dec_proj")
    batch = padded_batch(99, pad=TOKENS["pad_token_id"])
    _close(_logits(ours, *batch), _logits(theirs, *batch))


@pytest.mark.parametrize("name", ["bert2gpt2", "bart2bart"])
def test_tf_folder_round_trips_through_pytorch(name, pairing_dirs, tmp_path):
    ours = TFEncoderDecoderModel.from_pretrained(pairing_dirs[name])
    for var in ours.trainable_variables:  # weights of its own, not the PyTorch side's
        var.assign(var + tf.random.normal(var.shape, stddev=0.01))
    ours.save_pretrained(tmp_path / "tf")
    theirs = EncoderDecoderModel.from_pretrained(tmp_path / "tf")
    again = TFEncoderDecoderModel.from_pretrained(tmp_path / "tf")
    batch = padded_batch(99, pad=TOKENS["pad_token_id"])
    _close(_logits(theirs, *batch), _logits(ours, *batch))
    _close(_logits(again, *batch), _logits(ours, *batch))
    theirs.save_pretrained(tmp_path / "pt")
    _close(
        _logits(TFEncoderDecoderModel.from_pretrained(tmp_path / "pt"), *batch),
        _logits(ours, *batch),
    )


def test_halves_save_and_warm_start_as_the_seed_workaround(pairing_dirs, tmp_path):
    theirs = EncoderDecoderModel.from_pretrained(pairing_dirs["bert2gpt2"])
    theirs.encoder.save_pretrained(tmp_path / "encoder")
    theirs.decoder.save_pretrained(tmp_path / "decoder")
    ours = TFEncoderDecoderModel.from_encoder_decoder_pretrained(
        tmp_path / "encoder", tmp_path / "decoder", encoder_from_pt=True, decoder_from_pt=True
    )
    assert ours.newly_initialized == ["enc_to_dec_proj.weight", "enc_to_dec_proj.bias"]
    ours.proj["enc_to_dec_proj.weight"].assign(theirs.enc_to_dec_proj.weight.detach().numpy())
    ours.proj["enc_to_dec_proj.bias"].assign(theirs.enc_to_dec_proj.bias.detach().numpy())
    ours.config = theirs.config
    batch = padded_batch(99, pad=TOKENS["pad_token_id"])
    _close(_logits(ours, *batch), _logits(theirs, *batch))
    # a half saved by the TF side loads in both
    ours.decoder.save_pretrained(tmp_path / "tf-decoder")
    again = TFGPT2LMHeadModel.from_pretrained(tmp_path / "tf-decoder")
    assert again.p.keys() == ours.decoder.p.keys()
    assert all(np.array_equal(again.p[k], ours.decoder.p[k]) for k in again.p)


def test_accessors_outputs_and_shifted_labels(pairing_dirs):
    model = TFEncoderDecoderModel.from_pretrained(pairing_dirs["bert2bert"])
    assert model.get_encoder() is model.encoder and model.get_decoder() is model.decoder
    labels = tf.constant([[5, 6, -100], [7, -100, -100]])
    shifted = shift_tokens_right(labels, 1, 2).numpy()
    assert shifted.tolist() == [[2, 5, 6], [2, 7, 1]]
    x, mask, y = padded_batch(99, pad=1)
    y = y.clamp(min=3)  # no ignored labels: the decoder masks nothing
    out = model(x.numpy(), mask.numpy(), labels=y.numpy())
    assert out.loss.shape == () and out.logits.shape == (*y.shape, 99)
    assert out.to_tuple()[0] is out.loss
    given = model(x.numpy(), mask.numpy(), decoder_input_ids=shift_tokens_right(y, 1, 2))
    np.testing.assert_allclose(given.logits.numpy(), out.logits.numpy(), atol=1e-5)


def test_refusals_are_one_line(pairing_dirs, tmp_path):
    model = TFEncoderDecoderModel.from_pretrained(pairing_dirs["bert2bert"])
    with pytest.raises(ValueError, match="decoder_input_ids or labels"):
        model(np.ones((1, 3), np.int32))
    with pytest.raises(TypeError, match="unexpected keyword"):
        TFEncoderDecoderModel.from_pretrained(pairing_dirs["bert2bert"], decoder_strat=1)
    EncoderDecoderModel.from_pretrained(pairing_dirs["bert2bert"]).encoder.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="from_encoder_decoder_pretrained"):
        TFEncoderDecoderModel.from_pretrained(tmp_path)
