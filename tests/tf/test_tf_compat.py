"""transformers 4.x TF user code against the TF side: the call's keywords and Keras-style inputs,
attention weights and hidden states (equal to the PyTorch side's, which its own tests hold equal to
transformers'), the decoder halves called alone, transformers' configs and output objects, the
loading keywords of 4.x and the TFAuto classes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from tf.conftest import TOKENS
from tiny_configs import GPT2_TINY, TINY, padded_batch

import warmstart
from warmstart import EncoderDecoderModel
from warmstart.tf import (
    TFAutoModel,
    TFAutoModelForCausalLM,
    TFAutoModelForSeq2SeqLM,
    TFBertLMHeadModel,
    TFBertModel,
    TFEncoderDecoderModel,
    TFGPT2LMHeadModel,
)

FIELDS = (
    "encoder_attentions",
    "decoder_attentions",
    "cross_attentions",
    "encoder_hidden_states",
    "decoder_hidden_states",
)


def _batch():
    """Source ids (B, S) and mask, decoder ids (B, T) (padded labels' -100 read as pad)."""
    x, mask, y = padded_batch(99, pad=TOKENS["pad_token_id"])
    return x.numpy(), mask.numpy(), np.where(y.numpy() < 0, TOKENS["pad_token_id"], y.numpy())


@pytest.fixture(scope="module")
def bert2bert(pairing_dirs) -> TFEncoderDecoderModel:
    return TFEncoderDecoderModel.from_pretrained(pairing_dirs["bert2bert"])


@pytest.mark.parametrize("name", ["bert2gpt2", "bart2bart", "roberta2roberta", "electra2bert"])
def test_attentions_and_hidden_states_equal_the_pytorch_sides(name, pairing_dirs):
    folder = pairing_dirs[name]
    x, mask, y = _batch()
    ours = TFEncoderDecoderModel.from_pretrained(folder)(
        input_ids=x,
        attention_mask=mask,
        decoder_input_ids=y,
        output_attentions=True,
        output_hidden_states=True,
    )
    with torch.no_grad():
        theirs = EncoderDecoderModel.from_pretrained(folder)(
            input_ids=torch.tensor(x),
            attention_mask=torch.tensor(mask),
            decoder_input_ids=torch.tensor(y),
            output_attentions=True,
            output_hidden_states=True,
        )
    for field in FIELDS:
        mine, reference = getattr(ours, field), getattr(theirs, field)
        assert len(mine) == len(reference), field
        for a, b in zip(mine, reference, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4, rtol=1e-4, err_msg=field)
    np.testing.assert_allclose(ours.logits.numpy(), theirs.logits.numpy(), atol=1e-4, rtol=1e-4)


def test_recorded_only_when_asked_by_keyword_or_the_halves_configs(bert2bert):
    x, mask, y = _batch()
    plain = bert2bert(input_ids=x, attention_mask=mask, decoder_input_ids=y)
    assert list(plain.keys()) == ["logits", "encoder_last_hidden_state"]
    bert2bert.config.output_attentions = True  # the composite's field: 4.x's TF model ignores it
    assert "encoder_attentions" not in bert2bert(input_ids=x, decoder_input_ids=y)
    del bert2bert.config.extra["output_attentions"]
    bert2bert.config.encoder.output_hidden_states = True  # a half's field: read, as in 4.x
    try:
        out = bert2bert(input_ids=x, decoder_input_ids=y)
    finally:
        bert2bert.config.encoder.output_hidden_states = False
    assert "encoder_hidden_states" in out and "decoder_hidden_states" not in out
    assert len(out.encoder_hidden_states) == bert2bert.config.encoder.num_hidden_layers + 1
    out = bert2bert(input_ids=x, decoder_input_ids=y, output_attentions=True)
    assert list(out.keys()) == [
        "logits",
        "decoder_attentions",
        "cross_attentions",
        "encoder_last_hidden_state",
        "encoder_attentions",
    ]
    B, S, T = x.shape[0], x.shape[1], y.shape[1]
    assert out.cross_attentions[0].shape == (B, TINY["num_attention_heads"], T, S)


def test_keras_style_inputs_and_4x_keywords(bert2bert):
    x, mask, y = _batch()
    expected = bert2bert(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits.numpy()
    as_dict = bert2bert({"input_ids": x, "attention_mask": mask, "decoder_input_ids": y})
    as_list = bert2bert([tf.constant(x), tf.constant(mask), tf.constant(y)])
    absorbed = bert2bert(
        input_ids=x, attention_mask=mask, decoder_input_ids=y, kwargs={"labels": y}, use_cache=False
    )
    for out in (as_dict, as_list, absorbed):
        np.testing.assert_allclose(out.logits.numpy(), expected, atol=1e-6)
    assert "loss" not in absorbed  # 4.x leaves the content of kwargs= unused
    as_tuple = bert2bert(input_ids=x, decoder_input_ids=y, labels=y, return_dict=False)
    assert isinstance(as_tuple, tuple) and as_tuple[0].shape == ()
    with pytest.raises(TypeError, match="unexpected input 'decoder_foo'; it takes input_ids, "):
        bert2bert(input_ids=x, decoder_input_ids=y, decoder_foo=1)  # Keras adds its context
    dropped = bert2bert(input_ids=x, decoder_input_ids=y, training=True).logits.numpy()
    assert not np.allclose(dropped, bert2bert(input_ids=x, decoder_input_ids=y).logits.numpy())


def test_encoder_outputs_read_by_field_name(bert2bert):
    x, mask, y = _batch()
    expected = bert2bert(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits.numpy()
    states = bert2bert.get_encoder()(x, attention_mask=mask).last_hidden_state
    given = [
        transformers.modeling_outputs.BaseModelOutput(last_hidden_state=states),
        type("Out", (), {"last_hidden_state": states})(),
        (states,),
        states,
    ]
    for encoder_outputs in given:
        out = bert2bert(
            input_ids=None,
            attention_mask=mask,
            decoder_input_ids=y,
            encoder_outputs=encoder_outputs,
        )
        np.testing.assert_allclose(out.logits.numpy(), expected, atol=1e-5)


def test_decoder_half_alone_equals_the_composites_decoder(bert2bert):
    x, mask, y = _batch()
    states = bert2bert.encoder(x, attention_mask=mask).last_hidden_state
    full = bert2bert(input_ids=x, attention_mask=mask, decoder_input_ids=y)
    out = bert2bert.decoder(
        {"input_ids": y, "encoder_hidden_states": states, "encoder_attention_mask": mask},
        labels=y,
        output_attentions=True,
    )
    np.testing.assert_allclose(out.logits.numpy(), full.logits.numpy(), atol=1e-5)
    logits, labels = out.logits.numpy()[:, :-1], y[:, 1:]  # 4.x's TF causal LMs shift inside
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, labels[..., None], -1).mean()
    assert abs(float(out.loss) - nll) < 1e-4
    assert len(out.cross_attentions) == len(out.attentions) == TINY["num_hidden_layers"]
    alone = bert2bert.decoder(y)  # no encoder states: the cross-attention is skipped
    assert alone.logits.shape == full.logits.shape and alone.cross_attentions is None


def test_transformers_configs_and_a_gpt2_decoder_without_is_decoder():
    enc = transformers.BertConfig(**TINY)
    dec = transformers.GPT2Config(**GPT2_TINY, add_cross_attention=True)  # is_decoder=False
    model = TFEncoderDecoderModel(
        encoder=TFBertModel(enc, name="encoder"), decoder=TFGPT2LMHeadModel(dec, name="decoder")
    )
    assert model.config.decoder.is_decoder and model.config.decoder.add_cross_attention
    composite = transformers.EncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    built = TFEncoderDecoderModel(composite)
    assert type(built.decoder) is TFGPT2LMHeadModel and built.config.is_encoder_decoder
    with pytest.raises(TypeError) as err:
        TFEncoderDecoderModel(enc)
    assert str(err.value).count("EncoderDecoderConfig") == 1 and "BertConfig" in str(err.value)
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        TFEncoderDecoderModel(encoder=TFBertModel(enc), decoder=TFBertLMHeadModel(enc))


def test_from_encoder_decoder_pretrained_takes_models_and_4x_keywords(pairing_dirs, tmp_path):
    x, _, y = _batch()
    enc = TFBertModel(transformers.BertConfig(**TINY), name="encoder")
    dec_config = transformers.BertConfig(**TINY, is_decoder=True, add_cross_attention=True)
    dec = TFBertLMHeadModel(dec_config, name="decoder")
    model = TFEncoderDecoderModel.from_encoder_decoder_pretrained(
        encoder_model=enc, decoder_model=dec, return_dict=False
    )
    assert model.encoder is enc and model.decoder is dec
    assert isinstance(model(input_ids=x, decoder_input_ids=y), tuple)  # config.return_dict
    assert isinstance(
        model(input_ids=x, decoder_input_ids=y, return_dict=True), warmstart.outputs.ModelOutput
    )
    enc.save_pretrained(tmp_path / "e")
    dec.save_pretrained(tmp_path / "d")
    again = TFEncoderDecoderModel.from_encoder_decoder_pretrained(
        tmp_path / "e", tmp_path / "d", encoder_from_pt=True, decoder_from_pt=True
    )
    np.testing.assert_allclose(
        again(input_ids=x, decoder_input_ids=y).logits.numpy(),
        model(input_ids=x, decoder_input_ids=y, return_dict=True).logits.numpy(),
        atol=1e-5,
    )


def test_4x_loading_keywords_and_tf_auto_classes(pairing_dirs, tmp_path):
    folder = pairing_dirs["bert2gpt2"]
    model, info = TFEncoderDecoderModel.from_pretrained(
        folder,
        name="seq2seq",
        output_loading_info=True,
        load_weight_prefix="x",
        from_pt=True,
        resume_download=True,
    )
    assert model.name == "seq2seq" and info["missing_keys"] == []
    assert type(TFAutoModelForSeq2SeqLM.from_pretrained(folder)) is TFEncoderDecoderModel
    model.encoder.save_pretrained(tmp_path / "enc")
    model.decoder.save_pretrained(tmp_path / "dec")
    assert type(TFAutoModel.from_pretrained(tmp_path / "enc", name="encoder")) is TFBertModel
    dec = TFAutoModelForCausalLM.from_pretrained(tmp_path / "dec", output_attentions=True)
    assert type(dec) is TFGPT2LMHeadModel and dec.config.output_attentions
    assert type(TFAutoModel.from_config(transformers.BertConfig(**TINY))) is TFBertModel
    with pytest.raises(ValueError, match="TFEncoderDecoderModel.from_pretrained"):
        TFAutoModel.from_pretrained(folder)


def test_4x_generate_and_save_keywords(bert2bert, tmp_path):
    x, _, _ = _batch()
    by_name = bert2bert.generate(inputs=x, max_new_tokens=4, decoder_start_token_id=2)
    np.testing.assert_array_equal(
        by_name.numpy(), bert2bert.generate(x, max_new_tokens=4, decoder_start_token_id=2).numpy()
    )
    with pytest.raises(NotImplementedError, match="no logits_processor list"):
        bert2bert.generate(x, logits_processor=[lambda ids, scores: scores])
    with pytest.raises(ValueError, match="output_attentions"):
        bert2bert.generate(x, output_attentions=True, return_dict_in_generate=True)
    bert2bert.save_pretrained(tmp_path, safe_serialization=False, max_shard_size="1GB")
    assert (tmp_path / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="upload_folder"):
        bert2bert.save_pretrained(tmp_path, push_to_hub=True)
    with pytest.raises(ValueError, match="save_for_serving"):
        bert2bert.decoder.save_pretrained(tmp_path / "d", saved_model=True)


REFERENCE = Path(__file__).resolve().parents[2] / ".venv-ref-tf" / "bin" / "python"

SCRIPT = """
import sys
import numpy as np
from transformers import TFEncoderDecoderModel
folder, out = sys.argv[1], sys.argv[2]
x, mask, y = (np.load(sys.argv[3])[k] for k in ("x", "mask", "y"))
model = TFEncoderDecoderModel.from_pretrained(folder)
got = model({"input_ids": x, "attention_mask": mask, "decoder_input_ids": y},
            output_attentions=True, output_hidden_states=True, use_cache=False)
arrays = {"keys": np.array(list(got.keys()))}
for key, value in got.items():
    for i, a in enumerate(value if isinstance(value, tuple) else (value,)):
        arrays[f"{key}.{i}"] = a.numpy()
np.savez(out, **arrays)
"""


@pytest.mark.skipif(not REFERENCE.is_file(), reason="transformers 4.46's TF environment is absent")
@pytest.mark.parametrize("name", ["bert2gpt2", "roberta2roberta"])
def test_outputs_equal_transformers_446_tf(name, pairing_dirs, tmp_path):
    folder = pairing_dirs[name]
    x, mask, y = _batch()
    np.savez(tmp_path / "in.npz", x=x, mask=mask, y=y)
    out = tmp_path / "theirs.npz"
    command = [str(REFERENCE), "-c", SCRIPT, str(folder), str(out), str(tmp_path / "in.npz")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = np.load(out)
    ours = TFEncoderDecoderModel.from_pretrained(folder)(
        {"input_ids": x, "attention_mask": mask, "decoder_input_ids": y},
        output_attentions=True,
        output_hidden_states=True,
    )
    assert list(ours.keys()) == list(theirs["keys"])
    for key, value in ours.items():
        for i, a in enumerate(value if isinstance(value, tuple) else (value,)):
            np.testing.assert_allclose(
                a.numpy(), theirs[f"{key}.{i}"], atol=1e-4, rtol=1e-4, err_msg=key
            )


def test_bert_body_as_a_decoder_reads_encoder_states(bert2bert):
    x, mask, y = _batch()
    states = bert2bert.encoder(x, attention_mask=mask).last_hidden_state
    dec = bert2bert.decoder
    body = TFBertModel(dec.config, add_pooling_layer=False)  # is_decoder, add_cross_attention
    state = {k.removeprefix("bert."): v for k, v in dec.state().items() if k.startswith("bert.")}
    assert body.assign_state(state, strict=True) == []
    out = body(y, encoder_hidden_states=states, encoder_attention_mask=mask, output_attentions=True)
    full = dec(
        y, encoder_hidden_states=states, encoder_attention_mask=mask, output_hidden_states=True
    )
    np.testing.assert_allclose(
        out.last_hidden_state.numpy(), full.hidden_states[-1].numpy(), atol=1e-5
    )
    assert len(out.cross_attentions) == dec.config.num_hidden_layers
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        bert2bert.encoder(x, encoder_hidden_states=states)
