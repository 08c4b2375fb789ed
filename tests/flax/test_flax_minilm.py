"""The seed document's examples written for Flax (warm start, the loss from labels, generate, the
from_pt workaround), run on the real MiniLM checkpoint standing in for the hub ids, and the MiniLM
bert2bert against the PyTorch side: logits, greedy and beam-search tokens; and the optax train step
lowering its loss. One architecture for the module, so the compiled calls are shared."""

from __future__ import annotations

import logging

import jax
import numpy as np
import pytest
import torch
from hub_cache import add_to_hf_cache

import warmstart
from warmstart import BertTokenizer, EncoderDecoderModel
from warmstart.flax import FlaxEncoderDecoderModel
from warmstart.flax import train as flax_train

ARTICLE = (
    "PG&E stated it scheduled the blackouts in response to forecasts for high winds "
    "amid dry conditions. The aim is to reduce the risk of wildfires. Nearly 800 thousand customers "
    "were scheduled to be affected by the shutoffs which were expected to last through at least "
    "midday tomorrow."
)
SUMMARY = "nearly 800 thousand customers were affected by the shutoffs. the aim is to reduce risk."
FINE_TUNED = "patrickvonplaten/bert2bert_cnn_daily_mail"


@pytest.fixture(scope="module")
def hub(tmp_path_factory, minilm_dir):
    """A local Hugging Face cache: MiniLM as bert-base-uncased, and a MiniLM bert2bert saved by
    the PyTorch side (start, pad and eos set) as the fine-tuned checkpoint; returns that model."""
    cache = tmp_path_factory.mktemp("hf-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_CACHE", str(cache))
        add_to_hf_cache(cache, "google-bert/bert-base-uncased", minilm_dir)
        tokenizer = BertTokenizer.from_pretrained(minilm_dir)
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(minilm_dir, minilm_dir)
        model.config.decoder_start_token_id = tokenizer.cls_token_id
        model.config.pad_token_id = tokenizer.pad_token_id
        model.config.eos_token_id = tokenizer.sep_token_id
        folder = tmp_path_factory.mktemp("bert2bert")
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        add_to_hf_cache(cache, FINE_TUNED, folder)
    return cache, model.eval()


@pytest.fixture
def cached(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub[0]))
    return hub[1]


def test_warm_start_and_loss_from_labels(cached, caplog):
    from warmstart import BertTokenizer, FlaxEncoderDecoderModel

    tokenizer = BertTokenizer.from_pretrained("google-bert/bert-base-uncased")
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        model = FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(
            "google-bert/bert-base-uncased", "google-bert/bert-base-uncased"
        )
    assert "crossattention" in caplog.text
    model.config.decoder_start_token_id = tokenizer.cls_token_id
    model.config.pad_token_id = tokenizer.pad_token_id

    input_ids = tokenizer(ARTICLE, return_tensors="jax").input_ids
    labels = tokenizer(SUMMARY, return_tensors="jax").input_ids
    # the call creates the decoder inputs from the labels
    loss = model(input_ids=input_ids, labels=labels).loss
    assert loss.ndim == 0 and bool(jax.numpy.isfinite(loss)) and float(loss) > 0
    # the encoder and the decoder's body are MiniLM's, as the PyTorch side loads them
    theirs = cached.decoder.bert.embeddings.word_embeddings.weight.detach().numpy()
    ours = model.params["decoder"]["bert"]["embeddings"]["word_embeddings"]["embedding"]
    np.testing.assert_array_equal(np.asarray(ours), theirs)


def test_generate(cached):
    from warmstart import AutoTokenizer, FlaxEncoderDecoderModel

    model = FlaxEncoderDecoderModel.from_pretrained(FINE_TUNED)
    tokenizer = AutoTokenizer.from_pretrained(FINE_TUNED)
    input_ids = tokenizer(ARTICLE, return_tensors="jax").input_ids
    generated_ids = model.generate(input_ids).sequences
    generated_text = tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]
    assert isinstance(generated_text, str)
    with torch.no_grad():
        expected = cached.generate(torch.tensor(np.asarray(input_ids)))
    n = expected.shape[1]  # ours are padded to the full length, as transformers 4.x's Flax
    assert (np.asarray(generated_ids)[:, n:] == model._generation_config(None).pad_token_id).all()
    np.testing.assert_array_equal(np.asarray(generated_ids)[:, :n], expected.numpy())


def test_beam_search_and_logits_match_pytorch(cached):
    model = FlaxEncoderDecoderModel.from_pretrained(FINE_TUNED)
    tokenizer = BertTokenizer.from_pretrained(FINE_TUNED)
    x = tokenizer(ARTICLE, return_tensors="np").input_ids
    y = tokenizer(SUMMARY, return_tensors="np").input_ids
    with torch.no_grad():
        expected = cached(input_ids=torch.tensor(x), labels=torch.tensor(y))
        beams = cached.generate(torch.tensor(x), num_beams=4)
    got = model(input_ids=x, labels=y)
    np.testing.assert_allclose(
        np.asarray(got.logits), expected.logits.numpy(), atol=1e-4, rtol=1e-4
    )
    np.testing.assert_allclose(float(got.loss), float(expected.loss), rtol=1e-5)
    got = np.asarray(model.generate(x, num_beams=4).sequences)
    gen = model._generation_config(None)
    assert np.isin(got[:, beams.shape[1] :], [gen.pad_token_id, *gen.eos_ids()]).all()
    np.testing.assert_array_equal(got[:, : beams.shape[1]], beams.numpy())


def test_from_pt_workaround(cached, tmp_path):
    from warmstart import EncoderDecoderModel, FlaxEncoderDecoderModel

    _model = EncoderDecoderModel.from_pretrained(FINE_TUNED)
    _model.encoder.save_pretrained(tmp_path / "encoder")
    _model.decoder.save_pretrained(tmp_path / "decoder")
    model = FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(
        tmp_path / "encoder", tmp_path / "decoder", encoder_from_pt=True, decoder_from_pt=True
    )
    model.config = _model.config
    assert model.config.decoder_start_token_id == cached.config.decoder_start_token_id
    same = FlaxEncoderDecoderModel.from_pretrained(FINE_TUNED)
    equal = jax.tree.map(lambda a, b: bool((a == b).all()), model.params, same.params)
    assert all(jax.tree.leaves(equal))


def test_train_lowers_the_loss(cached, tmp_path):
    model = FlaxEncoderDecoderModel.from_pretrained(FINE_TUNED)
    tokenizer = BertTokenizer.from_pretrained(FINE_TUNED)
    pairs = [
        ("the cat sat on the mat . it was warm .", "the cat sat on the warm mat ."),
        ("the dog ran in the park . it was fast .", "the fast dog ran in the park ."),
    ]
    losses = flax_train.train(
        model, tokenizer, pairs, tmp_path, steps=4, lr=1e-4, batch_size=2, log_every=2
    )
    assert losses[-1] < losses[0] * 0.8, losses
    records = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(records) == 2 and '"split": "train"' in records[0]
    saved = warmstart.EncoderDecoderModel.from_pretrained(tmp_path / "model")  # PyTorch reads it
    layer = saved.decoder.bert.encoder.layer[0].crossattention.self.query.weight.detach().numpy()
    trained = model.params["decoder"]["bert"]["encoder"]["layer"]["0"]["crossattention"]["self"]
    np.testing.assert_array_equal(np.asarray(trained["query"]["kernel"]).T, layer)
