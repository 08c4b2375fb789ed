"""The Flax side against the PyTorch side (the first reference), live: every encoder and decoder
family alone, and pairings of tests/torch/test_pairings.py composed, with padding and labels; each
model is saved by the PyTorch side and loaded by the Flax side."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_pairings import PAIRINGS, TOKENS, _ours
from tiny_configs import BART_TINY, GPT2_TINY, TINY, padded_batch, randomize_

import warmstart.config as ws
import warmstart.flax as fx
import warmstart.torch as pt
from warmstart.flax import FlaxEncoderDecoderModel

ELECTRA = dict(TINY, embedding_size=16)
DECODER = dict(is_decoder=True, add_cross_attention=True)
HALVES = {  # name -> (PyTorch class, Flax class, config)
    "bert": (pt.BertModel, fx.FlaxBertModel, ws.BertConfig(**TINY)),
    "roberta": (pt.RobertaModel, fx.FlaxRobertaModel, ws.RobertaConfig(**TINY)),
    "electra": (pt.ElectraModel, fx.FlaxElectraModel, ws.ElectraConfig(**ELECTRA)),
    "bart": (pt.BartModel, fx.FlaxBartModel, ws.BartConfig(**BART_TINY)),
    "bert-lm": (pt.BertLMHeadModel, fx.FlaxBertForCausalLM, ws.BertConfig(**TINY, **DECODER)),
    "roberta-lm": (
        pt.RobertaForCausalLM,
        fx.FlaxRobertaForCausalLM,
        ws.RobertaConfig(**TINY, **DECODER),
    ),
    "electra-lm": (
        pt.ElectraForCausalLM,
        fx.FlaxElectraForCausalLM,
        ws.ElectraConfig(**ELECTRA, **DECODER),
    ),
    "gpt2-lm": (
        pt.GPT2LMHeadModel,
        fx.FlaxGPT2LMHeadModel,
        ws.GPT2Config(**GPT2_TINY, add_cross_attention=True),
    ),
    "bart-lm": (pt.BartForCausalLM, fx.FlaxBartForCausalLM, ws.BartConfig(**BART_TINY, **DECODER)),
}


@pytest.mark.parametrize("name", list(HALVES))
def test_half_matches_pytorch(name, tmp_path):
    torch_cls, flax_cls, config = HALVES[name]
    theirs = randomize_(torch_cls(config).eval())
    theirs.save_pretrained(tmp_path)
    ours = flax_cls.from_pretrained(tmp_path)
    x, mask, _ = padded_batch(99, pad=1)
    with torch.no_grad():
        if name.endswith("-lm"):
            enc = torch.randn(3, 4, 32)
            a = theirs(x, attention_mask=mask, encoder_hidden_states=enc).logits
            b = ours(x.numpy(), mask.numpy(), encoder_hidden_states=enc.numpy()).logits
        else:
            a = theirs(x, attention_mask=mask).last_hidden_state
            b = ours(x.numpy(), mask.numpy()).last_hidden_state
    keep = mask.bool().numpy()
    np.testing.assert_allclose(np.asarray(b)[keep], a.numpy()[keep], atol=1e-4, rtol=1e-4)


# the halves above cover every family; these compose them: every pairing the PyTorch side tests
# against transformers (the width projection, BART's whole-model layout, ELECTRA's embedding
# projection, untied LM heads, GPT-2 and BART decoders under other encoders), and bert2bert
COMPOSED = ["bert2bert", *PAIRINGS]


@pytest.mark.parametrize("name", COMPOSED)
def test_pairing_matches_pytorch(name, tmp_path):
    if name == "bert2bert":
        config = ws.EncoderDecoderConfig.from_encoder_decoder_configs(
            ws.BertConfig(**TINY), ws.BertConfig(**TINY), **TOKENS
        )
        theirs = randomize_(pt.EncoderDecoderModel(config)).eval()
    else:
        theirs = _ours(name)
    theirs.save_pretrained(tmp_path)
    ours = FlaxEncoderDecoderModel.from_pretrained(tmp_path)
    x, mask, y = padded_batch(99, pad=1)
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask, labels=y)
    b = ours(x.numpy(), mask.numpy(), labels=y.numpy())
    np.testing.assert_allclose(np.asarray(b.logits), a.logits.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(float(b.loss), float(a.loss), atol=1e-5, rtol=1e-5)
