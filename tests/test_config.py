import json

import pytest
import transformers as hf

from warmstart import AutoConfig, BertConfig, EncoderDecoderConfig
from warmstart.config import config_from_dict


def test_bert_defaults_match_transformers():
    ours, theirs = BertConfig().to_dict(), hf.BertConfig().to_dict()
    for key, value in ours.items():
        if key in theirs and key != "extra":
            assert theirs[key] == value, key


def test_from_encoder_decoder_configs_sets_decoder_flags_and_copies():
    enc = BertConfig(hidden_size=64, num_attention_heads=4)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(enc, enc, decoder_start_token_id=101)
    assert config.decoder.is_decoder and config.decoder.add_cross_attention
    assert not config.encoder.is_decoder and not config.encoder.add_cross_attention
    assert not enc.is_decoder  # the caller's object is not changed
    assert config.decoder_start_token_id == 101


def test_transformers_config_round_trip_keeps_every_field(tmp_path):
    enc = hf.BertConfig(hidden_size=48, num_attention_heads=4, some_custom_field=[1, 2])
    theirs = hf.EncoderDecoderConfig.from_encoder_decoder_configs(enc, hf.BertConfig())
    theirs.decoder_start_token_id = 101
    theirs.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    ours = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(ours, EncoderDecoderConfig)
    assert_keeps(written, ours.to_dict())
    assert ours.encoder.some_custom_field == [1, 2]


def test_our_config_loads_in_transformers(tmp_path):
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(hidden_size=48, num_attention_heads=4), BertConfig(vocab_size=500)
    )
    config.pad_token_id = 0
    config.max_length = 42  # an unknown field is kept and written
    config.save_pretrained(tmp_path)
    theirs = hf.AutoConfig.from_pretrained(tmp_path)
    assert theirs.encoder.hidden_size == 48 and theirs.decoder.vocab_size == 500
    assert theirs.decoder.add_cross_attention and theirs.decoder.is_decoder
    assert json.loads((tmp_path / "config.json").read_text())["max_length"] == 42


def test_unknown_model_type_names_the_supported_ones():
    with pytest.raises(ValueError, match=r"Unknown model_type 'llama'.*bert"):
        config_from_dict({"model_type": "llama"})
    with pytest.raises(ValueError, match="'encoder' dict"):
        EncoderDecoderConfig.from_dict({"model_type": "encoder-decoder"})


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        BertConfig(hidden_size=30, num_attention_heads=4)


def assert_keeps(written: dict, ours: dict, path: str = "") -> None:
    """Every field of ``written`` is in ``ours`` with the same value (ours may add defaults)."""
    for key, value in written.items():
        assert key in ours, f"{path}{key} was dropped"
        if isinstance(value, dict):
            assert_keeps(value, ours[key], f"{path}{key}.")
        else:
            assert ours[key] == value, f"{path}{key}: {ours[key]!r} != {value!r}"
