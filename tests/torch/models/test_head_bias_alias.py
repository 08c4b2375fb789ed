"""The LM head's bias under both of transformers' names (``cls.predictions.bias`` and
``cls.predictions.decoder.bias``; RoBERTa's ``lm_head.*``): state dicts round-trip key for key with
transformers' models, tied and untied (issue 15, point 7)."""

import pytest
import torch
import transformers as hf
from family_parity import assert_decoder_matches
from tiny_configs import TINY, randomize_

from warmstart import BertConfig, EncoderDecoderConfig, EncoderDecoderModel, RobertaConfig
from warmstart.torch.models.bert import BertLMHeadModel
from warmstart.torch.models.roberta import RobertaForCausalLM

pytestmark = pytest.mark.usefixtures("one_thread")

DECODER = dict(is_decoder=True, add_cross_attention=True)
FAMILIES = {
    "bert": (hf.BertConfig, hf.BertLMHeadModel, BertConfig, BertLMHeadModel, 0),
    "roberta": (hf.RobertaConfig, hf.RobertaForCausalLM, RobertaConfig, RobertaForCausalLM, 1),
}


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_decoder_state_dict_round_trips_key_for_key(family, tie):
    hf_config, hf_cls, config, cls, pad = FAMILIES[family]
    theirs = randomize_(hf_cls(hf_config(**TINY, **DECODER, tie_word_embeddings=tie))).eval()
    ours = cls(config(**TINY, **DECODER, tie_word_embeddings=tie)).eval()
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())  # strict: every key has its place
    assert_decoder_matches(theirs, ours, 99, pad=pad, width=32)
    fresh = hf_cls(theirs.config).eval()
    fresh.load_state_dict(ours.state_dict())
    assert_decoder_matches(fresh, ours, 99, pad=pad, width=32)


def test_composite_state_dict_has_transformers_keys():
    """The count the issue measured: the composite's state dict had one key fewer."""
    hf_config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.BertConfig(**TINY)
    )
    theirs = hf.EncoderDecoderModel(hf_config)
    ours = EncoderDecoderModel(EncoderDecoderConfig(**hf_config.to_dict()))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "decoder.cls.predictions.decoder.bias" in ours.state_dict()
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(
        ours.decoder.cls.predictions.bias, theirs.decoder.cls.predictions.bias
    )
