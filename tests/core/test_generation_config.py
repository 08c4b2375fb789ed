"""GenerationConfig: defaults, JSON round trips, compatibility with transformers, validation."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from transformers import BertConfig, EncoderDecoderConfig
from transformers import GenerationConfig as HFGenerationConfig

from warmstart.generation import GENERATION_CONFIG_NAME, GenerationConfig
from warmstart.generation.config import NO_EFFECT, UNIMPLEMENTED

CUSTOM = dict(
    max_new_tokens=40,
    min_new_tokens=2,
    num_beams=4,
    num_return_sequences=2,
    no_repeat_ngram_size=3,
    length_penalty=2.0,
    early_stopping="never",
    bad_words_ids=[[5], [6, 7]],
    suppress_tokens=[8],
    eos_token_id=[102, 103],
    pad_token_id=0,
    decoder_start_token_id=101,
    forced_eos_token_id=102,
)


def test_defaults_are_transformers_defaults():
    ours = GenerationConfig()
    theirs = HFGenerationConfig._get_default_generation_params()
    for name in GenerationConfig.field_names():  # settings without a global default are None
        if name != "max_length":
            assert getattr(ours, name) == theirs.get(name), name
    # An unset max_length means transformers' default of 20, counted after the prompt.
    assert ours.max_length is None and theirs["max_length"] == 20
    assert ours.max_total_length(1) == 21 and ours.max_total_length(3) == 23
    assert GenerationConfig(max_length=7).max_total_length(1) == 7
    assert GenerationConfig(max_length=7, max_new_tokens=2).max_total_length(3) == 5
    assert ours.extra == {}
    ours.validate()


def test_dict_round_trip_keeps_unknown_fields():
    values = dict(CUSTOM, guidance_scale=2.0, my_field=[1], transformers_version="5.24.0")
    config = GenerationConfig.from_dict(values)
    assert config.extra == {
        "guidance_scale": 2.0,
        "my_field": [1],
        "transformers_version": "5.24.0",
    }
    assert config.num_beams == 4 and config.eos_token_id == [102, 103]
    assert GenerationConfig.from_dict(config.to_dict()) == config
    assert set(config.to_dict()) == set(GenerationConfig.field_names()) | set(config.extra)


def test_json_round_trip(tmp_path):
    config = GenerationConfig.from_dict(dict(CUSTOM, use_cache=True, my_setting={"a": [1, 2]}))
    path = config.save_pretrained(tmp_path / "model")
    assert path.name == GENERATION_CONFIG_NAME
    assert sorted(p.name for p in path.parent.iterdir()) == [GENERATION_CONFIG_NAME]  # no temp file
    on_disk = json.loads(path.read_text())
    assert on_disk["my_setting"] == {"a": [1, 2]} and on_disk["early_stopping"] == "never"
    assert GenerationConfig.from_pretrained(path.parent) == config

    config.num_beams = 6  # overwriting replaces the file
    config.save_pretrained(path.parent)
    assert GenerationConfig.from_pretrained(path.parent).num_beams == 6


def test_transformers_reads_what_we_write(tmp_path):
    config = GenerationConfig(**CUSTOM)
    config.save_pretrained(tmp_path)
    theirs = HFGenerationConfig.from_pretrained(tmp_path)
    for name in GenerationConfig.field_names():
        assert getattr(theirs, name) == getattr(config, name), name


def test_we_read_what_transformers_writes(tmp_path):
    HFGenerationConfig(**CUSTOM, use_cache=False).save_pretrained(tmp_path)
    ours = GenerationConfig.from_pretrained(tmp_path)
    for name, value in CUSTOM.items():
        assert getattr(ours, name) == value, name
    assert ours.max_length is None and ours.top_k == 50  # absent from the file: defaults
    assert ours.use_cache is False and "transformers_version" in ours.extra
    ours.save_pretrained(tmp_path)
    assert HFGenerationConfig.from_pretrained(tmp_path).use_cache is False


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=GENERATION_CONFIG_NAME):
        GenerationConfig.from_pretrained(tmp_path)
    (tmp_path / GENERATION_CONFIG_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        GenerationConfig.from_pretrained(tmp_path)
    (tmp_path / GENERATION_CONFIG_NAME).write_text('{"num_beams": 0}')
    with pytest.raises(ValueError, match="num_beams"):
        GenerationConfig.from_pretrained(tmp_path)


def _encoder_decoder_config():
    sizes = dict(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4)
    decoder = BertConfig(**sizes, is_decoder=True, bos_token_id=5, eos_token_id=6, pad_token_id=7)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(**sizes), decoder)
    config.decoder_start_token_id = 101
    config.pad_token_id = 0  # the top level wins over the decoder's 7
    return config


TOKENS = ("decoder_start_token_id", "pad_token_id", "eos_token_id", "bos_token_id")


def test_from_model_config_matches_transformers():
    model_config = _encoder_decoder_config()
    theirs = HFGenerationConfig.from_model_config(model_config)
    for source in (model_config, model_config.to_dict()):
        ours = GenerationConfig.from_model_config(source)
        assert [getattr(ours, k) for k in TOKENS] == [getattr(theirs, k) for k in TOKENS]
        assert [getattr(ours, k) for k in TOKENS] == [101, 0, 6, 5]
        assert ours.extra == {}


def test_from_model_config_plain_dict_and_legacy_settings():
    legacy = {
        "num_beams": 4,
        "max_length": 142,
        "eos_token_id": 102,
        "decoder": {"eos_token_id": 9},
    }
    ours = GenerationConfig.from_model_config(legacy)
    assert (ours.num_beams, ours.max_length, ours.eos_token_id) == (4, 142, 102)
    theirs = HFGenerationConfig.from_model_config(dict(legacy))
    assert (theirs.num_beams, theirs.max_length, theirs.eos_token_id) == (4, 142, 102)
    assert GenerationConfig.from_model_config({"decoder": {"pad_token_id": 3}}).pad_token_id == 3


def test_update_returns_unused():
    config = GenerationConfig()
    unused = config.update(num_beams=3, max_new_tokens=5, streamer=None, foo=1)
    assert unused == {"streamer": None, "foo": 1}
    assert (config.num_beams, config.max_new_tokens) == (3, 5)


INVALID = [
    (dict(max_length=0), "max_length"),
    (dict(min_length=-1), "min_length"),
    (dict(min_new_tokens=-2), "min_new_tokens"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(do_sample="yes"), "do_sample"),
    (dict(num_beams=0), "num_beams"),
    (dict(num_return_sequences=0), "num_return_sequences"),
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(num_beams=2, num_return_sequences=3), "cannot exceed `num_beams`"),
    (dict(num_beams=2, num_return_sequences=3, do_sample=True), "cannot exceed `num_beams`"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(length_penalty="long"), "length_penalty"),
    (dict(temperature=None), "temperature"),
    (dict(do_sample=True, temperature=0.0), "temperature"),
    (dict(top_k=-1), "top_k"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(min_p=1.5), "min_p"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
    (dict(encoder_no_repeat_ngram_size=-1), "encoder_no_repeat_ngram_size"),
    (dict(bad_words_ids=[]), "bad_words_ids"),
    (dict(bad_words_ids=[[1], []]), "bad_words_ids"),
    (dict(bad_words_ids=[[1, -2]]), "bad_words_ids"),
    (dict(pad_token_id=-1), "pad_token_id"),
    (dict(decoder_start_token_id="x"), "decoder_start_token_id"),
    (dict(eos_token_id=[]), "eos_token_id"),
    (dict(eos_token_id=[3, -1]), "eos_token_id"),
    (dict(forced_eos_token_id=1.5), "forced_eos_token_id"),
    (dict(suppress_tokens=[1, "a"]), "suppress_tokens"),
    (dict(forced_bos_token_id=4, suppress_tokens=[4, 5]), "forced_bos_token_id"),
    (dict(forced_eos_token_id=[4], suppress_tokens=[4]), "forced_eos_token_id"),
    (dict(max_time=-1), "max_time"),
    (dict(use_cache="yes"), "use_cache"),
    (dict(output_logits="yes"), "output_logits"),
    (dict(renormalize_logits=1), "renormalize_logits"),
    (dict(remove_invalid_values=None), "remove_invalid_values"),
    (dict(typical_p=0.0), "typical_p"),
    (dict(typical_p=1.5), "typical_p"),
    (dict(epsilon_cutoff=1.0), "epsilon_cutoff"),
    (dict(eta_cutoff=-0.1), "eta_cutoff"),
    (dict(top_h=0.0), "top_h"),
    (dict(encoder_repetition_penalty=0.0), "encoder_repetition_penalty"),
    (dict(exponential_decay_length_penalty=(5,)), "exponential_decay_length_penalty"),
    (dict(exponential_decay_length_penalty=(-1, 1.5)), "exponential_decay_length_penalty"),
    (dict(sequence_bias=[]), "sequence_bias"),
    (dict(sequence_bias=[[[1], "x"]]), "sequence_bias"),
    (dict(sequence_bias=[[[], 1.0]]), "sequence_bias"),
    (dict(sequence_bias={(1, -2): 1.0}), "sequence_bias"),
    (dict(begin_suppress_tokens=[-1]), "begin_suppress_tokens"),
]


@pytest.mark.parametrize("values, message", INVALID)
def test_validation_errors(values, message):
    config = GenerationConfig(**values)
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_valid_edge_values():
    for values in (
        dict(do_sample=True, num_return_sequences=3),
        dict(num_beams=3, num_return_sequences=3, early_stopping=True),
        dict(temperature=0.0),  # ignored without sampling, as in transformers
        dict(top_k=0, top_p=1.0, min_p=0.0, eos_token_id=[1, 2], forced_eos_token_id=[1, 2]),
        dict(max_time=0, use_cache=False, typical_p=0.5, epsilon_cutoff=0.1, eta_cutoff=0.1),
        dict(top_h=1.0, encoder_repetition_penalty=1.2, exponential_decay_length_penalty=[2, 1]),
        dict(sequence_bias=[[[1, 2], -1.0], [[3], 2]], begin_suppress_tokens=[]),
        dict(sequence_bias={(1, 2): -1.0}, renormalize_logits=True, output_logits=False),
    ):
        GenerationConfig(**values).validate()


def test_fields_are_transformers_attributes():
    hf_attributes = set(vars(HFGenerationConfig()))
    for f in dataclasses.fields(GenerationConfig):
        assert f.name == "extra" or f.name in hf_attributes, f.name


# ------------------------------------------------------- transformers' extra fields and methods


def test_every_transformers_setting_is_a_field_or_listed():
    """A new transformers setting fails here until it is implemented or listed as refused."""
    theirs = {name for name in vars(HFGenerationConfig()) if not name.startswith("_")}
    ours = set(GenerationConfig.field_names()) | set(UNIMPLEMENTED) | set(NO_EFFECT)
    assert theirs - ours == set()
    assert ours - theirs <= {"_from_model_config"}
    for name, neutral in UNIMPLEMENTED.items():  # transformers' own default is a neutral value
        default = HFGenerationConfig._get_default_generation_params().get(name)
        assert default in neutral, name


def test_custom_fields_are_attributes_as_in_transformers(tmp_path):
    ours = GenerationConfig(some_custom_field=1, num_beams=2)
    theirs = HFGenerationConfig(some_custom_field=1, num_beams=2)
    assert ours.some_custom_field == theirs.some_custom_field == 1
    assert ours.extra == {"some_custom_field": 1}
    ours.later = [2]  # set after creation: kept and saved, as transformers does
    theirs.later = [2]
    assert ours.extra == {"some_custom_field": 1, "later": [2]}
    assert ours.guidance_scale is None and theirs.guidance_scale is None  # unset: None
    with pytest.raises(AttributeError):
        ours.no_such_setting  # noqa: B018
    ours.save_pretrained(tmp_path / "ours")
    loaded = HFGenerationConfig.from_pretrained(tmp_path / "ours")
    assert (loaded.some_custom_field, loaded.later, loaded.num_beams) == (1, [2], 2)
    theirs.save_pretrained(tmp_path / "theirs")
    back = GenerationConfig.from_pretrained(tmp_path / "theirs")
    assert (back.some_custom_field, back.later, back.num_beams) == (1, [2], 2)
    assert GenerationConfig(**vars(ours)) == ours


def test_update_sets_what_transformers_update_sets():
    options = dict(num_beams=3, guidance_scale=1.0, compile_config=None, some_custom_field=2, foo=1)
    ours, theirs = GenerationConfig(some_custom_field=1), HFGenerationConfig(some_custom_field=1)
    assert ours.update(**options) == theirs.update(**options) == {"foo": 1}
    for name in ("num_beams", "guidance_scale", "some_custom_field"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert not hasattr(ours, "foo") and not hasattr(theirs, "foo")


def test_check_implemented_refuses_only_effective_values():
    GenerationConfig(
        guidance_scale=1.0, output_attentions=False, num_beam_groups=1
    ).check_implemented()
    GenerationConfig(cache_implementation="static", compile_config=object()).check_implemented()
    for name, value in [
        ("guidance_scale", 1.5),
        ("output_attentions", True),
        ("output_hidden_states", True),
        ("num_beam_groups", 2),
        ("diversity_penalty", 0.5),
        ("stop_strings", ["end"]),
        ("watermarking_config", {"greenlist_ratio": 0.25}),
        ("force_words_ids", [[5]]),
        ("cache_implementation", "quantized"),
        ("assistant_early_exit", 2),
        ("token_healing", True),
    ]:
        with pytest.raises(ValueError, match=re.escape(f"{name}={value!r}")):
            GenerationConfig(**{name: value}).check_implemented()


NON_DEFAULT = dict(
    do_sample=True,
    prompt_lookup_num_tokens=4,
    top_k=5,
    use_cache=False,
    typical_p=0.8,
    max_time=2.5,
    num_beams=2,
    sequence_bias=[[[3, 4], -1.0]],
    exponential_decay_length_penalty=[4, 1.2],
    some_custom_field=1,
)


def test_dict_and_json_methods_match_transformers():
    ours, theirs = GenerationConfig(**NON_DEFAULT), HFGenerationConfig(**NON_DEFAULT)
    expected = {k: v for k, v in theirs.to_diff_dict().items() if k != "transformers_version"}
    assert ours.to_diff_dict() == expected
    assert ours.to_json_string(ignore_metadata=True) == theirs.to_json_string(ignore_metadata=True)
    assert json.loads(ours.to_json_string(keys_to_pop=["top_k"])) == {
        k: v for k, v in expected.items() if k != "top_k"
    }
    full = ours.to_dict()
    assert set(full) == set(GenerationConfig.field_names()) | {"some_custom_field"}
    assert all(theirs.to_dict()[k] == full[k] for k in expected)
    assert json.loads(ours.to_json_string(use_diff=False)) == full
    assert GenerationConfig().to_diff_dict() == {}
    as_dict = GenerationConfig(sequence_bias={(3, 4): -1.0})  # tuple keys: written as pairs
    assert json.loads(as_dict.to_json_string())["sequence_bias"] == [[[3, 4], -1.0]]


def test_from_pretrained_and_save_pretrained_arguments(tmp_path):
    GenerationConfig(**NON_DEFAULT).save_pretrained(tmp_path, config_file_name="gen.json")
    assert (tmp_path / "gen.json").is_file() and not (tmp_path / GENERATION_CONFIG_NAME).exists()
    assert HFGenerationConfig.from_pretrained(tmp_path, "gen.json").typical_p == 0.8
    kwargs = dict(top_k=7, bar=2, return_unused_kwargs=True)
    ours, ours_unused = GenerationConfig.from_pretrained(tmp_path, "gen.json", **kwargs)
    theirs, theirs_unused = HFGenerationConfig.from_pretrained(tmp_path, "gen.json", **kwargs)
    assert ours_unused == theirs_unused == {}  # transformers keeps every keyword as a setting
    assert (ours.top_k, ours.bar) == (theirs.top_k, theirs.bar) == (7, 2)
    ours = GenerationConfig.from_pretrained(tmp_path, config_file_name="gen.json", num_beams=3)
    assert (ours.num_beams, ours.max_time) == (3, 2.5)
    with pytest.raises(ValueError, match="num_beams"):
        GenerationConfig.from_pretrained(tmp_path, "gen.json", num_beams=0)
    (tmp_path / "sub").mkdir()
    GenerationConfig(num_beams=5).save_pretrained(tmp_path / "sub")
    assert GenerationConfig.from_pretrained(tmp_path, subfolder="sub").num_beams == 5
    with pytest.raises(FileNotFoundError, match="other.json"):
        GenerationConfig.from_pretrained(tmp_path, "other.json")
