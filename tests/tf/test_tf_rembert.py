"""TensorFlow RemBERT against the PyTorch side (itself tested against transformers' PyTorch RemBERT),
live: the halves' outputs; folders saved by either side load in the other with equal logits;
rembert2rembert and bert2rembert composites with equal logits and equal greedy and beam tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_configs import TINY, padded_batch, randomize_

import warmstart
from warmstart import BertConfig, EncoderDecoderConfig, EncoderDecoderModel, RemBertConfig
from warmstart.tf import TFEncoderDecoderModel, TFRemBertForCausalLM, TFRemBertModel

SMALL = dict(TINY, input_embedding_size=16, output_embedding_size=24)
DECODER = dict(is_decoder=True, add_cross_attention=True)
IDS = dict(decoder_start_token_id=2, pad_token_id=0, eos_token_id=3)
SOURCE = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])


def _logits(model, x, mask, y) -> np.ndarray:
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits.numpy()
    return model(
        input_ids=x.numpy(), attention_mask=mask.numpy(), decoder_input_ids=y.numpy()
    ).logits.numpy()


def test_encoder_states_and_pooler_equal_pytorch(tmp_path):
    theirs = randomize_(warmstart.RemBertModel(RemBertConfig(**SMALL))).eval()
    theirs.save_pretrained(tmp_path)
    ours = TFRemBertModel.from_pretrained(tmp_path)
    assert ours.newly_initialized == []
    x, mask, _ = padded_batch(99, pad=0)
    with torch.no_grad():
        want = theirs(x, attention_mask=mask)
    got = ours(x.numpy(), attention_mask=mask.numpy())
    keep = mask.numpy().astype(bool)
    np.testing.assert_allclose(
        got.last_hidden_state.numpy()[keep], want.last_hidden_state.numpy()[keep], atol=1e-5
    )
    np.testing.assert_allclose(got.pooler_output.numpy(), want.pooler_output.numpy(), atol=1e-5)


def test_halves_load_compose_and_save_back(tmp_path):
    """Halves saved by PyTorch load and compose with equal logits; the TF halves' folders load in
    PyTorch with equal logits; the decoder's head is its own (never tied)."""
    enc = randomize_(warmstart.RemBertModel(RemBertConfig(**SMALL)))
    dec = randomize_(warmstart.RemBertForCausalLM(RemBertConfig(**SMALL, **DECODER)))
    enc.save_pretrained(tmp_path / "enc")
    dec.save_pretrained(tmp_path / "dec")
    theirs = EncoderDecoderModel(encoder=enc, decoder=dec).eval()
    ours = TFEncoderDecoderModel(
        encoder=TFRemBertModel.from_pretrained(tmp_path / "enc"),
        decoder=TFRemBertForCausalLM.from_pretrained(tmp_path / "dec"),
    )
    assert ours.encoder.newly_initialized == [] and ours.decoder.newly_initialized == []
    assert ours.decoder.p["cls.predictions.decoder.weight"].shape == (99, 24)
    x, mask, y = padded_batch(99, pad=0)
    y = y.clamp(min=0)
    expected = _logits(theirs, x, mask, y)
    np.testing.assert_allclose(_logits(ours, x, mask, y), expected, atol=1e-4, rtol=1e-4)
    ours.encoder.save_pretrained(tmp_path / "tf-enc")
    ours.decoder.save_pretrained(tmp_path / "tf-dec")
    back = EncoderDecoderModel(
        encoder=warmstart.RemBertModel.from_pretrained(tmp_path / "tf-enc"),
        decoder=warmstart.RemBertForCausalLM.from_pretrained(tmp_path / "tf-dec"),
    ).eval()
    np.testing.assert_allclose(_logits(back, x, mask, y), expected, atol=1e-4, rtol=1e-4)


def _pytorch_composite(folder, encoder_config) -> EncoderDecoderModel:
    """The PyTorch side's model of ``encoder_config`` and a RemBERT decoder, made to read its input
    and end rows at different steps, saved to ``folder``."""
    torch.manual_seed(0)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        encoder_config, RemBertConfig(**SMALL), **IDS
    )
    model = randomize_(EncoderDecoderModel(config)).eval()
    with torch.no_grad():
        for layer in model.decoder.rembert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
        model.decoder.cls.predictions.decoder.bias[IDS["eos_token_id"]] += 0.5
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize(
    "encoder_config",
    [RemBertConfig(**SMALL), BertConfig(**TINY)],
    ids=["rembert2rembert", "bert2rembert"],
)
def test_composite_logits_and_tokens_equal_pytorch(encoder_config, tmp_path):
    theirs = _pytorch_composite(tmp_path / "pt", encoder_config)
    ours = TFEncoderDecoderModel.from_pretrained(tmp_path / "pt")
    assert type(ours.decoder) is TFRemBertForCausalLM
    x, mask, y = padded_batch(99, pad=0)
    y = y.clamp(min=0)
    expected = _logits(theirs, x, mask, y)
    np.testing.assert_allclose(_logits(ours, x, mask, y), expected, atol=1e-4, rtol=1e-4)
    for beams in (1, 4):
        # a tiny random decoder repeats its last token: no repeats, so that the tokens vary
        options = dict(max_new_tokens=10, num_beams=beams, no_repeat_ngram_size=1)
        with torch.no_grad():
            want = theirs.generate(
                torch.tensor(SOURCE), attention_mask=torch.tensor(SOURCE != 0), **options
            )
        got = ours.generate(SOURCE, attention_mask=(SOURCE != 0).astype(np.int32), **options)
        np.testing.assert_array_equal(np.asarray(got), want.numpy())
    ours.save_pretrained(tmp_path / "tf")
    back = EncoderDecoderModel.from_pretrained(tmp_path / "tf").eval()
    np.testing.assert_allclose(_logits(back, x, mask, y), expected, atol=1e-4, rtol=1e-4)


def test_warm_start_from_one_checkpoint_as_pytorch(tmp_path):
    """One RemBERT encoder checkpoint warm-starts both halves: the same tensors load and the same
    ones are new as on the PyTorch side."""
    randomize_(warmstart.RemBertModel(RemBertConfig(**SMALL))).save_pretrained(tmp_path)
    theirs = EncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    ours = TFEncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    new = set(theirs.newly_initialized)
    assert set(ours.newly_initialized) == new
    state = theirs.state_dict()
    loaded = {k: v for k, v in ours.state().items() if k not in new}
    assert "decoder.rembert.encoder.embedding_hidden_mapping_in.weight" in loaded
    for key, value in loaded.items():
        np.testing.assert_array_equal(value, state[key].numpy())
