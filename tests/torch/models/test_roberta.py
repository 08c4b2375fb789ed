"""RoBERTa and XLM-R encoder and decoder against transformers' models, live."""

import pytest
import torch
import transformers as hf
from family_parity import (
    assert_cached_equals_uncached,
    assert_decoder_matches,
    assert_encoder_matches,
    key_fixes,
    load_reference,
)
from tiny_configs import TINY

from warmstart.config import RobertaConfig, XLMRobertaConfig
from warmstart.torch.models.roberta import RobertaForCausalLM, RobertaModel

DECODER = dict(is_decoder=True, add_cross_attention=True)
CONFIGS = {
    "roberta": (hf.RobertaConfig, RobertaConfig, hf.RobertaModel, hf.RobertaForCausalLM),
    "xlm-roberta": (
        hf.XLMRobertaConfig,
        XLMRobertaConfig,
        hf.XLMRobertaModel,
        hf.XLMRobertaForCausalLM,
    ),
}

fix_keys = key_fixes("roberta")[0]


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_encoder_matches_transformers_on_padded_batch(kind):
    hf_config, config, hf_encoder, _ = CONFIGS[kind]
    theirs = hf_encoder(hf_config(**TINY)).eval()
    ours = load_reference(RobertaModel(config(**TINY)), theirs, fix_keys, as_decoder=False)
    assert_encoder_matches(theirs, ours, 99, pad=1)


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_decoder_with_cross_attention_matches_transformers(kind, tie):
    """Untied, transformers' head holds two biases and its forward adds ``lm_head.decoder.bias``."""
    hf_config, config, _, hf_decoder = CONFIGS[kind]
    theirs = hf_decoder(hf_config(**TINY, **DECODER, tie_word_embeddings=tie)).eval()
    assert (theirs.lm_head.decoder.bias is theirs.lm_head.bias) == tie
    ours = RobertaForCausalLM(config(**TINY, **DECODER, tie_word_embeddings=tie))
    load_reference(ours, theirs, fix_keys, as_decoder=True)
    assert_decoder_matches(theirs, ours, 99, pad=1, width=32)
    torch.testing.assert_close(ours.output_bias(), theirs.lm_head.decoder.bias)
    tied = ours.lm_head.decoder.weight is ours.roberta.embeddings.word_embeddings.weight
    assert tied == tie


def test_cached_decoding_equals_uncached():
    ours = RobertaForCausalLM(RobertaConfig(**TINY, **DECODER)).eval()
    assert_cached_equals_uncached(ours, 99, 32)


def test_cached_positions_follow_transformers_after_padding():
    """A pad inside the prefix: transformers counts cached positions from the cache length, pads
    included, and so do we (its padded forward counts non-pads only)."""
    theirs = hf.RobertaForCausalLM(hf.RobertaConfig(**TINY, **DECODER)).eval()
    ours = load_reference(
        RobertaForCausalLM(RobertaConfig(**TINY, **DECODER)), theirs, fix_keys, as_decoder=True
    )
    y = torch.tensor([[5, 1, 7, 8]])  # 1 is the pad id
    enc = torch.randn(1, 3, 32)
    with torch.no_grad():
        out = theirs(input_ids=y[:, :2], encoder_hidden_states=enc, use_cache=True)
        a = theirs(
            input_ids=y[:, 2:], encoder_hidden_states=enc, past_key_values=out.past_key_values
        )
        cache = ours.new_cache(1, 4)
        ours(y[:, :2], encoder_hidden_states=enc, cache=cache)
        b = ours(y[:, 2:], encoder_hidden_states=enc, cache=cache).logits
    torch.testing.assert_close(b, a.logits, atol=1e-5, rtol=1e-4)


def test_input_longer_than_positions_is_refused():
    ours = RobertaModel(RobertaConfig(**TINY))  # 64 positions, pad 1: 62 tokens fit
    ours(torch.full((1, 62), 5))
    with pytest.raises(ValueError, match=r"63 tokens.*at most 62.*truncation=True"):
        ours(torch.full((1, 63), 5))


def test_fix_keys_keeps_the_lm_head_for_the_decoder_only():
    w, used = torch.zeros(1), torch.ones(1)
    state = {
        "roberta.embeddings.position_ids": w,
        "roberta.encoder.layer.0.output.dense.weight": w,
        "lm_head.dense.weight": w,
        "lm_head.bias": w,
        "lm_head.decoder.bias": used,  # what transformers' forward adds, tied or not
        "classifier.dense.weight": w,
    }
    enc, dropped = fix_keys(state, as_decoder=False)
    assert set(enc) == {"encoder.layer.0.output.dense.weight"}
    assert {"lm_head.bias", "classifier.dense.weight"} <= set(dropped)
    dec, _ = fix_keys(state, as_decoder=True)
    assert set(dec) == {
        "roberta.encoder.layer.0.output.dense.weight",
        "lm_head.dense.weight",
        "lm_head.bias",
    }
    assert dec["lm_head.bias"] is used
