"""transformers' own config objects given to warmstart: converted through ``to_dict()`` and
``model_type`` wherever a config is taken (issue 15, point 6); anything else is a clear TypeError."""

import pytest
import torch
import transformers as hf
from tiny_configs import GPT2_TINY, TINY

import warmstart
from warmstart import (
    AutoModel,
    BertConfig,
    BertLMHeadModel,
    BertModel,
    EncoderDecoderConfig,
    EncoderDecoderModel,
    GPT2Config,
)
from warmstart.config import as_config

pytestmark = pytest.mark.usefixtures("one_thread")


def test_conversion_keeps_every_field():
    theirs = hf.BertConfig(**TINY, hidden_dropout_prob=0.0, my_field=3)
    ours = as_config(theirs)
    assert type(ours) is BertConfig and ours.my_field == 3
    assert ours.to_dict() == {**theirs.to_dict(), "model_type": "bert"}
    gpt2 = as_config(hf.GPT2Config(**GPT2_TINY))
    assert type(gpt2) is GPT2Config and gpt2.hidden_size == 32


def test_from_encoder_decoder_configs_and_constructor():
    decoder = hf.GPT2Config(**GPT2_TINY)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(hf.BertConfig(**TINY), decoder)
    assert decoder.is_decoder and decoder.add_cross_attention  # set on the given object, as there
    assert type(config.encoder) is BertConfig and type(config.decoder) is GPT2Config
    assert config.decoder.add_cross_attention
    again = EncoderDecoderConfig(encoder=hf.BertConfig(**TINY), decoder=decoder)
    assert again.to_dict() == config.to_dict()


def test_models_take_transformers_configs_and_match_transformers(tmp_path):
    """``BertModel(hf_config)``, ``EncoderDecoderModel(config=hf_config)`` build the same model:
    transformers' state dict loads strictly and gives the same logits."""
    hf_config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.BertConfig(**TINY)
    )
    hf_config.decoder_start_token_id, hf_config.pad_token_id = 2, 0
    theirs = hf.EncoderDecoderModel(hf_config).eval()
    ours = EncoderDecoderModel(config=hf_config).eval()
    ours.load_state_dict(theirs.state_dict())
    x, y = torch.randint(3, 99, (2, 6)), torch.randint(3, 99, (2, 4))
    with torch.no_grad():
        a = theirs(input_ids=x, decoder_input_ids=y).logits
        b = ours(input_ids=x, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    encoder = warmstart.BertModel(hf.BertConfig(**TINY))
    assert type(encoder.config) is BertConfig
    assert type(AutoModel.from_config(hf.BertConfig(**TINY))) is warmstart.BertModel


def test_from_encoder_decoder_pretrained_with_a_transformers_decoder_config(tmp_path):
    hf.BertModel(hf.BertConfig(**TINY)).save_pretrained(tmp_path / "bert")
    hf.GPT2LMHeadModel(hf.GPT2Config(**GPT2_TINY)).save_pretrained(tmp_path / "gpt2")
    decoder_config = hf.GPT2Config(**GPT2_TINY, resid_pdrop=0.0)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        tmp_path / "bert", tmp_path / "gpt2", decoder_config=decoder_config
    )
    assert type(model.config.decoder) is GPT2Config
    assert model.config.decoder.resid_pdrop == 0.0 and model.config.decoder.add_cross_attention
    encoder = warmstart.BertModel.from_pretrained(tmp_path / "bert", config=hf.BertConfig(**TINY))
    assert type(encoder.config) is BertConfig


@pytest.mark.parametrize(
    "bad, says",
    [(object(), "has no to_dict() and model_type"), (hf.LlamaConfig(), "'llama', not supported")],
)
def test_other_objects_are_a_clear_type_error(bad, says):
    with pytest.raises(TypeError, match="must be a warmstart config") as err:
        warmstart.BertModel(bad)
    assert says in str(err.value)
    with pytest.raises(TypeError, match="decoder_config"):
        EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(**TINY), bad)


def test_from_encoder_decoder_configs_recipe_builds_a_model_from_the_configs_passed_in():
    enc, dec = BertConfig(**TINY), BertConfig(**TINY)
    EncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    model = EncoderDecoderModel(encoder=BertModel(enc), decoder=BertLMHeadModel(dec))
    assert model.config.decoder.add_cross_attention
