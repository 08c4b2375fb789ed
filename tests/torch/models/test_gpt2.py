"""GPT-2 with cross-attention against transformers' GPT2LMHeadModel, live; Conv1D key handling."""

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
from safetensors.torch import load_file
from tiny_configs import GPT2_TINY, TINY

from warmstart import EncoderDecoderConfig, EncoderDecoderModel
from warmstart.config import BertConfig, GPT2Config
from warmstart.torch.models.gpt2 import GPT2LMHeadModel, GPT2Model

fix_keys, to_hf_keys = key_fixes("gpt2")


def _pair(**extra):
    theirs = hf.GPT2LMHeadModel(hf.GPT2Config(**GPT2_TINY, add_cross_attention=True, **extra))
    ours = GPT2LMHeadModel(GPT2Config(**GPT2_TINY, add_cross_attention=True, **extra))
    return theirs.eval(), load_reference(ours, theirs, fix_keys, as_decoder=True)


@pytest.mark.parametrize(
    "extra", [{}, {"scale_attn_by_inverse_layer_idx": True, "activation_function": "relu"}]
)
def test_decoder_with_cross_attention_matches_transformers(extra):
    theirs, ours = _pair(**extra)
    assert_decoder_matches(theirs, ours, 99, pad=0, width=32)
    assert ours.lm_head.weight is ours.transformer.wte.weight


def test_body_as_encoder_matches_transformers():
    theirs = hf.GPT2Model(hf.GPT2Config(**GPT2_TINY)).eval()
    ours = load_reference(GPT2Model(GPT2Config(**GPT2_TINY)), theirs, fix_keys, as_decoder=False)
    assert_encoder_matches(theirs, ours, 99, pad=0)


def test_cached_decoding_equals_uncached():
    _, ours = _pair()
    assert_cached_equals_uncached(ours, 99, 32)


def test_conv1d_weights_are_transposed_both_ways():
    theirs, ours = _pair()
    state = theirs.state_dict()
    w = state["transformer.h.0.crossattention.c_attn.weight"]
    assert w.shape == (32, 64)  # Conv1D: (in, out)
    assert torch.equal(ours.transformer.h[0].crossattention.c_attn.weight, w.t())
    back = to_hf_keys(ours.state_dict(), as_decoder=True)
    for key, value in state.items():
        assert torch.equal(back[key], value), key


def test_old_mask_buffers_and_bare_checkpoints():
    w = torch.zeros(2, 3)
    state = {
        "h.0.attn.bias": w,
        "h.0.attn.masked_bias": w,
        "h.0.attn.c_attn.bias": w,
        "wte.weight": w,
    }
    dec, dropped = fix_keys(state, as_decoder=True)
    assert set(dec) == {"transformer.h.0.attn.c_attn.bias", "transformer.wte.weight"}
    assert not dropped


def test_input_longer_than_positions_is_refused():
    _, ours = _pair()
    with pytest.raises(ValueError, match=r"65 tokens.*at most 64"):
        ours(torch.ones(1, 65, dtype=torch.long))


def test_state_dict_is_transformers_layout_both_ways(tmp_path):
    """A bert2gpt2's state dict (and its GPT-2 halves') has transformers' names and shapes; it loads
    strictly into transformers' model and back into ours with equal logits, and save_pretrained
    writes the same tensors (nothing transposed twice)."""
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), GPT2Config(**GPT2_TINY), decoder_start_token_id=2, pad_token_id=0
    )
    ours = EncoderDecoderModel(config).eval()
    theirs = hf.EncoderDecoderModel(hf.EncoderDecoderConfig.from_dict(config.to_dict())).eval()
    theirs_state = theirs.state_dict()
    halves = (ours.decoder, theirs.decoder), (ours.decoder.transformer, theirs.decoder.transformer)
    for half, reference in halves:
        mine = half.state_dict()
        assert list(mine) == list(reference.state_dict())
        assert all(v.shape == reference.state_dict()[k].shape for k, v in mine.items())
    state = ours.state_dict()
    assert list(state) == list(theirs_state)
    assert state["decoder.transformer.h.0.attn.c_attn.weight"].shape == (32, 96)  # (in, out)
    theirs.load_state_dict(state)  # strictly
    x, y = torch.randint(3, 99, (2, 7)), torch.randint(3, 99, (2, 5))
    with torch.no_grad():
        expected = ours(input_ids=x, decoder_input_ids=y).logits
        torch.testing.assert_close(theirs(input_ids=x, decoder_input_ids=y).logits, expected)
    again = EncoderDecoderModel(config).eval()
    again.load_state_dict(theirs.state_dict())  # strictly, transformers' layout
    for key, value in again.state_dict().items():
        assert torch.equal(value, state[key]), key
    with torch.no_grad():
        assert torch.equal(again(input_ids=x, decoder_input_ids=y).logits, expected)
    ours.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert saved.keys() <= state.keys()
    for key, value in saved.items():
        assert torch.equal(value, state[key]), key
