"""BERT encoder and decoder against transformers' BertModel / BertLMHeadModel, live."""

import pytest
import torch
import transformers as hf
from family_parity import (
    assert_cached_equals_uncached,
    assert_decoder_matches,
    assert_encoder_matches,
    key_fixes,
    load_reference,
    padded,
)
from tiny_configs import TINY

from warmstart import BertConfig, BertLMHeadModel, BertModel

fix_keys, to_hf_keys = key_fixes("bert")


DECODER = dict(is_decoder=True, add_cross_attention=True)


def _pair(decoder: bool, tie: bool = True):
    """A transformers BERT with perturbed weights, and ours loaded from it (every tensor placed)."""
    extra = dict(DECODER, tie_word_embeddings=tie) if decoder else {}
    theirs_cls = hf.BertLMHeadModel if decoder else hf.BertModel
    theirs = theirs_cls(hf.BertConfig(**TINY, **extra)).eval()
    ours = (BertLMHeadModel if decoder else BertModel)(BertConfig(**TINY, **extra))
    return theirs, load_reference(ours, theirs, fix_keys, as_decoder=decoder)


def test_encoder_matches_transformers_on_padded_batch():
    theirs, ours = _pair(decoder=False)
    assert_encoder_matches(theirs, ours, 99, pad=0)


def test_token_types_and_pooler_match_transformers():
    theirs, ours = _pair(decoder=False)
    x, mask = padded(99, pad=0)
    types = torch.randint(0, 2, x.shape)
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask, token_type_ids=types)
        b = ours(x, attention_mask=mask, token_type_ids=types)
    keep = mask.bool()
    torch.testing.assert_close(b.last_hidden_state[keep], a.last_hidden_state[keep])
    torch.testing.assert_close(b.pooler_output, a.pooler_output)


@pytest.mark.parametrize("tie", [True, False])
def test_decoder_with_cross_attention_matches_transformers(tie):
    """Untied, transformers' head holds two biases and its forward adds ``decoder.bias``."""
    theirs, ours = _pair(decoder=True, tie=tie)
    head = theirs.cls.predictions
    assert (head.decoder.bias is head.bias) == tie
    assert_decoder_matches(theirs, ours, 99, pad=0, width=32)
    torch.testing.assert_close(ours.output_bias(), head.decoder.bias)


def test_cached_decoding_equals_uncached():
    _, ours = _pair(decoder=True)
    assert_cached_equals_uncached(ours, 99, width=32)


def test_lm_head_is_tied_to_word_embeddings():
    _, ours = _pair(decoder=True)
    assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight


def test_input_longer_than_positions_is_refused():
    ours = BertModel(BertConfig(**TINY))
    with pytest.raises(ValueError, match=r"65 tokens.*at most 64.*truncation=True"):
        ours(torch.ones(1, 65, dtype=torch.long))


def test_fix_keys_handles_old_names_and_foreign_heads():
    w, used = torch.zeros(1), torch.ones(1)
    state = {
        "bert.embeddings.LayerNorm.gamma": w,
        "bert.embeddings.LayerNorm.beta": w,
        "bert.embeddings.position_ids": w,
        "bert.pooler.dense.weight": w,
        "cls.predictions.bias": w,
        "cls.predictions.decoder.bias": used,  # what transformers' forward adds, tied or not
        "cls.seq_relationship.weight": w,
    }
    enc, dropped = fix_keys(state, as_decoder=False)
    assert set(enc) == {
        "embeddings.LayerNorm.weight",
        "embeddings.LayerNorm.bias",
        "pooler.dense.weight",
    }
    assert "cls.seq_relationship.weight" in dropped
    dec, dropped = fix_keys(state, as_decoder=True)
    assert set(dec) == {
        "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias",
        "cls.predictions.bias",
    }
    assert dec["cls.predictions.bias"] is used
    assert {"bert.pooler.dense.weight", "cls.seq_relationship.weight"} <= set(dropped)
    bare, _ = fix_keys({"encoder.layer.0.output.dense.weight": w}, as_decoder=True)
    assert list(bare) == ["bert.encoder.layer.0.output.dense.weight"]


def test_to_hf_keys_writes_an_untied_heads_bias_under_both_names():
    w, bias = torch.zeros(2), torch.ones(3)
    tied = {"bert.embeddings.word_embeddings.weight": w, "cls.predictions.bias": bias}
    assert to_hf_keys(tied, as_decoder=True) == tied  # as transformers writes a tied head: once
    untied = dict(tied, **{"cls.predictions.decoder.weight": w})
    out = to_hf_keys(untied, as_decoder=True)
    assert set(out) == set(untied) | {"cls.predictions.decoder.bias"}
    assert torch.equal(out["cls.predictions.decoder.bias"], bias)
    assert to_hf_keys(untied, as_decoder=False) == untied
