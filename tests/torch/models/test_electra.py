"""ELECTRA encoder (discriminator body) and decoder (generator head) against transformers, live."""

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

from warmstart.config import ElectraConfig
from warmstart.torch.models.electra import ElectraForCausalLM, ElectraModel

SMALL = dict(TINY, embedding_size=16)  # narrower embeddings: embeddings_project is used
DECODER = dict(is_decoder=True, add_cross_attention=True)

fix_keys = key_fixes("electra")[0]


@pytest.mark.parametrize("embedding_size", [16, 32])
def test_encoder_matches_transformers_on_padded_batch(embedding_size):
    theirs = hf.ElectraModel(hf.ElectraConfig(**dict(SMALL, embedding_size=embedding_size))).eval()
    ours = ElectraModel(ElectraConfig(**dict(SMALL, embedding_size=embedding_size)))
    assert hasattr(ours, "embeddings_project") == (embedding_size != 32)
    load_reference(ours, theirs, fix_keys, as_decoder=False)
    assert_encoder_matches(theirs, ours, 99, pad=0)


def test_decoder_with_cross_attention_matches_transformers():
    theirs = hf.ElectraForCausalLM(hf.ElectraConfig(**SMALL, **DECODER)).eval()
    ours = ElectraForCausalLM(ElectraConfig(**SMALL, **DECODER))
    load_reference(ours, theirs, fix_keys, as_decoder=True)
    assert_decoder_matches(theirs, ours, 99, pad=0, width=32)
    assert ours.generator_lm_head.weight is ours.electra.embeddings.word_embeddings.weight


def test_cached_decoding_equals_uncached():
    ours = ElectraForCausalLM(ElectraConfig(**SMALL, **DECODER)).eval()
    assert_cached_equals_uncached(ours, 99, 32)


def test_input_longer_than_positions_is_refused():
    with pytest.raises(ValueError, match=r"65 tokens.*at most 64"):
        ElectraModel(ElectraConfig(**SMALL))(torch.ones(1, 65, dtype=torch.long))


def test_discriminator_head_is_dropped():
    w = torch.zeros(1)
    state = {
        "electra.embeddings.word_embeddings.weight": w,
        "discriminator_predictions.dense.weight": w,
    }
    enc, dropped = fix_keys(state, as_decoder=False)
    assert list(enc) == ["embeddings.word_embeddings.weight"]
    assert dropped == ["discriminator_predictions.dense.weight"]
    dec, _ = fix_keys(state, as_decoder=True)
    assert list(dec) == ["electra.embeddings.word_embeddings.weight"]
