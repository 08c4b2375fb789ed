"""The framework-free generation plan: options merged once, lengths resolved to totals, processors
listed by name in transformers' order."""

import pytest

from warmstart.generation import GenerationConfig
from warmstart.generation.plan import UnsupportedOption, make_plan, processor_specs


def test_plan_resolves_lengths_and_leaves_the_base_untouched():
    base = GenerationConfig(max_new_tokens=5, min_new_tokens=2, eos_token_id=3)
    plan = make_plan(base, 4, num_beams=2)
    assert plan.config.max_length == 9 and plan.config.min_length == 6
    assert plan.search == "beam" and plan.rows_per_input == 2 and plan.prompt_length == 4
    assert (base.num_beams == 1 and base.max_length is None) or base.max_length == 20


def test_processors_in_transformers_order_with_sampling_warpers_last():
    config = GenerationConfig(
        do_sample=True,
        top_k=5,
        top_p=0.9,
        temperature=0.7,
        repetition_penalty=1.2,
        no_repeat_ngram_size=2,
        min_new_tokens=1,
        eos_token_id=2,
        forced_eos_token_id=2,
        renormalize_logits=True,
        max_new_tokens=4,
    )
    names = [name for name, _ in processor_specs(config, 1)]
    assert names == [
        "repetition_penalty",
        "no_repeat_ngram",
        "min_new_tokens",
        "forced_eos",
        "temperature",
        "top_k",
        "top_p",
        "renormalize",
    ]
    settings = dict(processor_specs(config, 1))
    assert settings["forced_eos"] == {"max_length": 5, "eos_token_id": 2}
    assert settings["min_new_tokens"]["prompt_length"] == 1


def test_min_length_controls_need_an_eos_and_bad_options_are_named():
    assert processor_specs(GenerationConfig(min_new_tokens=3), 1) == []
    with pytest.raises(ValueError, match="Unknown generation options \\['max_new_tokenz'\\]"):
        make_plan(None, 1, max_new_tokenz=3)
    with pytest.raises(ValueError, match="nothing can be generated"):
        make_plan(GenerationConfig(max_length=3), 3)


def test_each_side_refuses_what_it_lacks_with_one_error_naming_who_has_it():
    tf_lacks = r"TensorFlow generate does not implement bad_words_ids=\[\[5\]\] \(the PyTorch side"
    with pytest.raises(UnsupportedOption, match=tf_lacks):
        make_plan(None, 1, side="tf", bad_words_ids=[[5]])
    flax_lacks = (
        r"Flax generate does not implement .*beam sampling.* \(the PyTorch or TensorFlow side"
    )
    with pytest.raises(UnsupportedOption, match=flax_lacks):
        make_plan(None, 1, side="flax", do_sample=True, num_beams=2)
    assert make_plan(None, 1, bad_words_ids=[[5]]).processors[0][0] == "bad_words"
    assert make_plan(None, 1, side="tf", do_sample=True, num_beams=2).search == "beam"
    assert issubclass(UnsupportedOption, NotImplementedError)
    assert issubclass(UnsupportedOption, ValueError)
