import json

import pytest
import transformers as hf
from tiny_configs import TINY

import warmstart.config as ws
from warmstart import AutoConfig, BertConfig, EncoderDecoderConfig
from warmstart.config import config_from_dict

FAMILIES = [
    "BertConfig",
    "RobertaConfig",
    "XLMRobertaConfig",
    "ElectraConfig",
    "GPT2Config",
    "BartConfig",
]
# a valid value for each name that some transformers attribute_map aliases
ALIAS_VALUES = dict(
    hidden_size=32, num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=64
)


def test_bert_defaults_match_transformers():
    ours, theirs = BertConfig().to_dict(), hf.BertConfig().to_dict()
    for key, value in ours.items():
        if key in theirs and key != "extra":
            assert theirs[key] == value, key


def test_from_encoder_decoder_configs_changes_the_decoder_passed_in_as_transformers_does():
    made = {}
    for lib in (ws, hf):
        enc, dec = lib.BertConfig(**TINY), lib.BertConfig(**TINY)
        config = lib.EncoderDecoderConfig.from_encoder_decoder_configs(
            enc, dec, decoder_start_token_id=101
        )
        made[lib] = dict(
            dec_flags=(dec.is_decoder, dec.add_cross_attention),
            enc_flags=(enc.is_decoder, enc.add_cross_attention),
            held=(config.encoder is enc, config.decoder is dec),
            composite=(config.decoder.is_decoder, config.decoder.add_cross_attention),
            start=config.decoder_start_token_id,
        )
        same = lib.BertConfig(**TINY)  # one object as both halves: the encoder sees the flags too
        config = lib.EncoderDecoderConfig.from_encoder_decoder_configs(same, same)
        made[lib]["same"] = (config.encoder.is_decoder, config.encoder is config.decoder)
    assert made[ws] == made[hf]
    assert made[ws]["dec_flags"] == (True, True)  # the parity above is not vacuous


@pytest.mark.parametrize("name", FAMILIES)
def test_constructor_keeps_unknown_keywords_like_transformers(name, tmp_path):
    ours, theirs = getattr(ws, name)(foo=[1, 2]), getattr(hf, name)(foo=[1, 2])
    assert ours.foo == theirs.foo == [1, 2]
    assert ours.to_dict()["foo"] == theirs.to_dict()["foo"]
    ours.save_pretrained(tmp_path)
    assert hf.AutoConfig.from_pretrained(tmp_path).foo == [1, 2]
    assert getattr(ws, name).from_dict(ours.to_dict()).foo == [1, 2]


@pytest.mark.parametrize("name", FAMILIES)
def test_attribute_map_aliases_match_transformers(name, tmp_path):
    ours_cls, theirs_cls = getattr(ws, name), getattr(hf, name)
    assert theirs_cls.attribute_map == ours_cls.attribute_map
    kwargs = {alias: ALIAS_VALUES[alias] for alias in theirs_cls.attribute_map}
    ours, theirs = ours_cls(**kwargs), theirs_cls(**kwargs)
    assert_same_fields(ours, theirs)
    for alias in kwargs:  # reads and writes go to the field the alias names
        assert getattr(ours, alias) == getattr(theirs, alias)
        setattr(ours, alias, 8)
        setattr(theirs, alias, 8)
    assert_same_fields(ours, theirs)
    ours.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert not set(written) & set(ours_cls.attribute_map)  # alias names are never written
    assert not set(ours.to_dict()) & set(ours_cls.attribute_map)


def test_bart_initializer_range_is_its_own_field_as_in_transformers():
    """BART's std is init_std; an initializer_range given to it is kept apart (and written)."""
    ours, theirs = ws.BartConfig(initializer_range=0.5), hf.BartConfig(initializer_range=0.5)
    assert (ours.init_std, ours.initializer_range) == (theirs.init_std, theirs.initializer_range)
    assert ours.to_dict()["initializer_range"] == theirs.to_dict()["initializer_range"] == 0.5


def test_alias_keyword_wins_over_the_field_keyword_as_in_transformers():
    kwargs = dict(n_embd=64, hidden_size=32, n_head=4)
    assert ws.GPT2Config(**kwargs).n_embd == hf.GPT2Config(**kwargs).n_embd == 32


def test_update_sets_fields_aliases_and_unknown_names_like_transformers():
    for name in ("BertConfig", "GPT2Config"):
        ours, theirs = getattr(ws, name)(), getattr(hf, name)()
        changes = {"hidden_size": 64, "num_attention_heads": 8, "bar": 3}
        ours.update(changes)
        theirs.update(changes)
        assert_same_fields(ours, theirs)
        assert ours.bar == theirs.bar == 3


def test_base_defaults_are_transformers_pretrained_config_defaults():
    theirs = hf.PreTrainedConfig().to_dict()
    for key in ("transformers_version", "_name_or_path", "model_type"):
        theirs.pop(key)
    assert theirs == ws.BASE_DEFAULTS


@pytest.mark.parametrize("name", [*FAMILIES, "EncoderDecoderConfig"])
def test_is_encoder_decoder_and_architectures_match_transformers(name):
    ours, theirs = getattr(ws, name)(), getattr(hf, name)()
    assert ours.is_encoder_decoder == theirs.is_encoder_decoder
    assert ours.architectures == theirs.architectures
    if name == "EncoderDecoderConfig":
        for side in ("encoder", "decoder"):
            assert (
                getattr(ours, side).is_encoder_decoder == getattr(theirs, side).is_encoder_decoder
            )


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("BertConfig", {}),
        ("BertConfig", dict(architectures=["BertModel"], is_encoder_decoder=True, foo=1)),
        ("GPT2Config", dict(return_dict=False, output_hidden_states=False)),
        ("RobertaConfig", dict(return_dict=True, chunk_size_feed_forward=0, dtype="bfloat16")),
        ("BartConfig", dict(is_encoder_decoder=False)),
        ("BartConfig", {}),
    ],
)
def test_to_diff_dict_leaves_out_what_transformers_leaves_out(name, kwargs):
    ours, theirs = getattr(ws, name)(**kwargs), getattr(hf, name)(**kwargs)
    # transformers' BART defaults to three labels for its classification head, which we do not have
    skip = ("id2label", "label2id") if name == "BartConfig" else ()
    assert_same_diff(ours.to_diff_dict(), theirs.to_diff_dict(), skip)


def test_to_diff_dict_of_sub_configs_matches_transformers():
    made = {}
    for lib in (ws, hf):
        made[lib] = lib.EncoderDecoderConfig.from_encoder_decoder_configs(
            lib.BertConfig(hidden_size=48, num_attention_heads=4),
            lib.BartConfig(is_encoder_decoder=False, architectures=["BartForCausalLM"]),
        ).to_diff_dict()
    for side in ("encoder", "decoder"):
        assert_same_diff(made[ws][side], made[hf][side], skip=("id2label", "label2id"))


def test_json_file_round_trips_with_transformers(tmp_path):
    ours = ws.GPT2Config(hidden_size=64, num_attention_heads=4, foo="bar")
    ours.to_json_file(tmp_path / "ours.json")
    theirs = hf.GPT2Config.from_json_file(tmp_path / "ours.json")
    assert_same_fields(ours, theirs)
    assert theirs.foo == "bar"
    theirs.to_json_file(tmp_path / "theirs.json", use_diff=False)
    back = ws.Config.from_json_file(tmp_path / "theirs.json")  # dispatches on model_type
    assert isinstance(back, ws.GPT2Config)
    assert_same_fields(back, theirs)
    assert back.foo == "bar"
    assert_same_diff(back.to_diff_dict(), theirs.to_diff_dict())  # the full file's defaults go
    full = json.loads(ours.to_json_string(use_diff=False))
    assert full == ours.to_dict() and "architectures" in full
    assert json.loads(ours.to_json_string()) == ours.to_diff_dict()
    assert "architectures" not in ours.to_diff_dict()


@pytest.mark.parametrize("loader", ["AutoConfig", "BertConfig"])
def test_from_pretrained_return_unused_kwargs_as_transformers(loader, tmp_path):
    hf.BertConfig(hidden_size=48, num_attention_heads=4).save_pretrained(tmp_path)
    kwargs = dict(foo=1, hidden_size=96, is_decoder=True)
    ours = getattr(ws, loader).from_pretrained(tmp_path, return_unused_kwargs=True, **kwargs)
    theirs = getattr(hf, loader).from_pretrained(tmp_path, return_unused_kwargs=True, **kwargs)
    assert isinstance(ours, tuple) and ours[1] == theirs[1] == {"foo": 1}
    assert_same_fields(ours[0], theirs[0])
    assert not hasattr(ours[0], "foo") and not hasattr(ours[0], "return_unused_kwargs")
    plain = AutoConfig.from_pretrained(tmp_path, hidden_size=96)
    assert isinstance(plain, BertConfig) and plain.hidden_size == 96


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


def assert_same_fields(ours, theirs) -> None:
    """Every field of ``ours`` that transformers also has holds the same value."""
    ours, theirs = as_json(ours.to_dict()), as_json(theirs.to_dict())
    shared = [k for k in ours if k in theirs]
    assert len(shared) > 10
    assert {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}


def assert_same_diff(ours: dict, theirs: dict, skip: tuple[str, ...] = ()) -> None:
    """transformers' common fields are in both diffs or in neither, with the same values."""
    for key in {*ws.BASE_DEFAULTS, "_name_or_path"} - set(skip):
        assert (key in ours) == (key in theirs), key
    ours, theirs = as_json(ours), as_json(theirs)
    shared = [k for k in theirs if k in ours and k not in skip]
    assert {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}


def as_json(values: dict) -> dict:
    """``values`` as written to config.json (integer keys become strings)."""
    return json.loads(json.dumps(values, default=str))


def test_loading_options_locate_the_config_and_are_not_fields(tmp_path):
    from hub_cache import add_to_hf_cache

    ws.BertConfig(**TINY).save_pretrained(tmp_path / "bert")
    cache = tmp_path / "cache"
    add_to_hf_cache(cache, "someone/bert", tmp_path / "bert", commit="c" * 40)
    config = ws.AutoConfig.from_pretrained(
        "someone/bert", cache_dir=cache, revision="c" * 40, local_files_only=True, token=None
    )
    assert config.hidden_size == TINY["hidden_size"]
    assert not {"cache_dir", "revision", "local_files_only", "token"} & set(config.to_dict())


def test_init_std_reads_each_familys_own_field():
    from warmstart.config import BartConfig, BertConfig, init_std

    assert init_std(BartConfig(init_std=0.03, initializer_range=0.5)) == 0.03
    # a stray init_std kept from a BERT config.json is not what BERT initialises with
    assert init_std(BertConfig(initializer_range=0.04, init_std=0.5)) == 0.04
