"""Flax BertGeneration against the PyTorch side and transformers 5.x, live: halves saved by either
load with equal outputs; a bert2bert of BertGeneration halves saved by the PyTorch side loads with
equal logits and equal greedy and beam-4 tokens; what the Flax side saves loads in PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as hf
from tiny_configs import BERTGEN_IDS, TINY, bertgen_bert2bert, padded_batch, randomize_

import warmstart
from warmstart import BertGenerationConfig, EncoderDecoderModel
from warmstart.flax import (
    FlaxBertGenerationDecoder,
    FlaxBertGenerationEncoder,
    FlaxEncoderDecoderModel,
)

DECODER = dict(is_decoder=True, add_cross_attention=True)
IDS = BERTGEN_IDS
SOURCE = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])
MASK = (SOURCE != 0).astype(np.int32)


def _half(maker: str, decoder: bool, tie: bool = True) -> torch.nn.Module:
    extra = dict(DECODER, tie_word_embeddings=tie) if decoder else {}
    if maker == "transformers":
        cls = hf.BertGenerationDecoder if decoder else hf.BertGenerationEncoder
        return randomize_(cls(hf.BertGenerationConfig(**TINY, **extra))).eval()
    cls = warmstart.BertGenerationDecoder if decoder else warmstart.BertGenerationEncoder
    return randomize_(cls(BertGenerationConfig(**TINY, **extra))).eval()


def _outputs(model, x, mask, enc) -> np.ndarray:
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            x, mask = torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(mask))
            if enc is None:
                return model(x, attention_mask=mask).last_hidden_state.numpy()
            enc = torch.as_tensor(np.asarray(enc))
            return model(x, attention_mask=mask, encoder_hidden_states=enc).logits.numpy()
    if enc is None:
        return np.asarray(model(np.asarray(x), np.asarray(mask)).last_hidden_state)
    return np.asarray(model(np.asarray(x), np.asarray(mask), encoder_hidden_states=enc).logits)


@pytest.mark.parametrize(
    "maker, decoder, tie",
    [
        ("warmstart", True, True),
        ("transformers", False, True),
        ("transformers", True, False),
    ],
)
def test_half_loads_and_saves_back(maker, decoder, tie, tmp_path):
    """A half saved by PyTorch loads with equal outputs; its Flax save loads in PyTorch."""
    theirs = _half(maker, decoder, tie)
    theirs.save_pretrained(tmp_path / "theirs")
    flax_cls = FlaxBertGenerationDecoder if decoder else FlaxBertGenerationEncoder
    ours = flax_cls.from_pretrained(tmp_path / "theirs")
    assert "pooler" not in ours.params and "token_type_embeddings" not in str(ours.params.keys())
    x, mask, _ = padded_batch(99, pad=0)
    enc = np.random.default_rng(0).normal(size=(3, 4, 32)).astype(np.float32) if decoder else None
    keep = mask.bool().numpy()
    expected = _outputs(theirs, x, mask, enc)
    np.testing.assert_allclose(_outputs(ours, x, mask, enc)[keep], expected[keep], atol=1e-4)
    ours.save_pretrained(tmp_path / "ours")
    back = type(theirs).from_pretrained(tmp_path / "ours").eval()
    np.testing.assert_allclose(_outputs(back, x, mask, enc)[keep], expected[keep], atol=1e-4)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(the PyTorch side's BertGeneration bert2bert, the Flax model loaded from its folder)."""
    folder = tmp_path_factory.mktemp("bertgen2bertgen")
    return bertgen_bert2bert(folder), FlaxEncoderDecoderModel.from_pretrained(folder)


def test_composite_logits_and_tokens_equal_pytorch(pair, tmp_path):
    theirs, ours = pair
    x, mask, y = padded_batch(99, pad=0)
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask, labels=y)
    b = ours(x.numpy(), mask.numpy(), labels=y.numpy())
    np.testing.assert_allclose(np.asarray(b.logits), a.logits.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(float(b.loss), float(a.loss), atol=1e-5, rtol=1e-5)
    for beams in (1, 4):
        # tied embeddings make a tiny random decoder repeat its last token: no repeats
        options = dict(max_new_tokens=10, num_beams=beams, no_repeat_ngram_size=1)
        with torch.no_grad():
            want = theirs.generate(
                torch.tensor(SOURCE), attention_mask=torch.tensor(MASK), **options
            )
        got = np.asarray(ours.generate(SOURCE, attention_mask=MASK, **options).sequences)
        assert np.isin(got[:, want.shape[1] :], list(BERTGEN_IDS.values())[1:]).all()  # padding
        np.testing.assert_array_equal(got[:, : want.shape[1]], want.numpy())
    ours.save_pretrained(tmp_path)
    back = EncoderDecoderModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        c = back(input_ids=x, attention_mask=mask, labels=y).logits
    np.testing.assert_allclose(c.numpy(), a.logits.numpy(), atol=1e-4, rtol=1e-4)
