"""warmstart.config's composite config, as every framework's EncoderDecoderModel takes it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from warmstart.config import (
    BertConfig,
    EncoderDecoderConfig,
    composite_config,
    read_config,
    side_options,
)

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)


def test_a_composite_config_is_given_or_made_from_both_halves():
    enc, dec = BertConfig(**TINY), BertConfig(**TINY, is_decoder=True, add_cross_attention=True)
    made = composite_config(None, SimpleNamespace(config=enc), SimpleNamespace(config=dec))
    assert isinstance(made, EncoderDecoderConfig) and made.decoder.add_cross_attention
    assert composite_config(made) is made


def test_a_missing_half_or_a_wrong_config_is_refused():
    with pytest.raises(ValueError, match="both an encoder and a decoder"):
        composite_config(None, SimpleNamespace(config=BertConfig(**TINY)))
    with pytest.raises(TypeError, match="must be an EncoderDecoderConfig, not BertConfig"):
        composite_config(BertConfig(**TINY))


def test_loaders_take_transformers_common_fields_and_refuse_typos():
    from warmstart.config import set_fields

    config = BertConfig(**TINY)
    set_fields(config, {"return_dict": False, "output_attentions": True}, "from_pretrained()")
    assert config.return_dict is False and config.output_attentions is True
    assert config.to_dict()["output_attentions"] is True
    with pytest.raises(
        TypeError, match="from_pretrained\\(\\) got unexpected keyword arguments: retrun_dict"
    ):
        set_fields(config, {"retrun_dict": False}, "from_pretrained()")


def test_every_side_reads_a_model_folder_s_config_through_the_core(tmp_path):
    with pytest.raises(FileNotFoundError, match="is this a saved model folder"):
        read_config(tmp_path)
    BertConfig(**TINY).save_pretrained(tmp_path)
    read = read_config(tmp_path)
    assert isinstance(read, BertConfig) and read.hidden_size == 32


def test_side_options_take_each_sides_keywords_and_leave_the_composites():
    kwargs = dict(
        encoder_hidden_dropout_prob=0.0,
        decoder_model="a model",
        decoder_start_token_id=2,
        pad_token_id=0,
        encoder=1,
    )
    sides = side_options(kwargs)
    assert sides == {"encoder": {"hidden_dropout_prob": 0.0}, "decoder": {"model": "a model"}}
    assert kwargs == dict(decoder_start_token_id=2, pad_token_id=0, encoder=1)
