"""BART decoder (BartForCausalLM) and BART as transformers' encoder (BartModel), live."""

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
from tiny_configs import BART_TINY

from warmstart.config import BartConfig
from warmstart.torch.models.bart import BartForCausalLM, BartModel

fix_keys = key_fixes("bart")[0]


@pytest.mark.parametrize("scale_embedding", [False, True])
def test_decoder_matches_transformers(scale_embedding):
    extra = dict(scale_embedding=scale_embedding, add_cross_attention=True)
    theirs = hf.BartForCausalLM(hf.BartConfig(**BART_TINY, **extra)).eval()
    ours = BartForCausalLM(BartConfig(**BART_TINY, **extra))
    load_reference(ours, theirs, fix_keys, as_decoder=True)
    assert_decoder_matches(theirs, ours, 99, pad=1, width=32)
    assert ours.lm_head.weight is ours.model.decoder.embed_tokens.weight


def test_encoder_side_has_bart_model_layout_and_encodes_with_the_encoder_stack():
    """transformers' EncoderDecoderModel holds the whole BartModel as its encoder; ours keeps that
    layout and returns BartModel.encoder's states."""
    theirs = hf.BartModel(hf.BartConfig(**BART_TINY, scale_embedding=True)).eval()
    ours = BartModel(BartConfig(**BART_TINY, scale_embedding=True))
    load_reference(ours, theirs, fix_keys, as_decoder=False)
    assert ours.encoder.embed_tokens is ours.shared is ours.decoder.embed_tokens
    assert_encoder_matches(theirs.encoder, ours, 99, pad=1)


def test_cached_decoding_equals_uncached():
    ours = BartForCausalLM(BartConfig(**BART_TINY)).eval()
    assert_cached_equals_uncached(ours, 99, 32)


def test_decoder_from_a_whole_bart_takes_shared_embeddings():
    w, s = torch.zeros(1), torch.ones(1)
    state = {
        "model.shared.weight": s,
        "model.encoder.layers.0.fc1.weight": w,
        "model.decoder.layers.0.fc1.weight": w,
        "final_logits_bias": w,
    }
    dec, dropped = fix_keys(state, as_decoder=True)
    assert dec == {"model.decoder.layers.0.fc1.weight": w, "model.decoder.embed_tokens.weight": s}
    assert set(dropped) == {"model.encoder.layers.0.fc1.weight", "final_logits_bias"}
    enc, dropped = fix_keys(state, as_decoder=False)
    assert set(enc) == {
        "shared.weight",
        "encoder.layers.0.fc1.weight",
        "decoder.layers.0.fc1.weight",
    }
    assert dropped == ["final_logits_bias"]


def test_input_longer_than_positions_is_refused():
    ours = BartForCausalLM(BartConfig(**BART_TINY))
    with pytest.raises(ValueError, match=r"65 tokens.*at most 64"):
        ours(torch.ones(1, 65, dtype=torch.long))
