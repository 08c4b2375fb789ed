"""BertGeneration (Rothe et al.'s released checkpoints) against transformers' classes, live: the
encoder and the decoder, their key layout both ways, saved folders both ways (composites
included), ``from_encoder_decoder_pretrained`` and the Auto classes."""

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
from tiny_configs import TINY, randomize_

import warmstart
from warmstart import AutoModel, AutoModelForCausalLM, BertGenerationConfig, EncoderDecoderModel
from warmstart.torch.models.bert_generation import BertGenerationDecoder, BertGenerationEncoder

pytestmark = pytest.mark.usefixtures("one_thread")

DECODER = dict(is_decoder=True, add_cross_attention=True)
IDS = dict(decoder_start_token_id=2, pad_token_id=0, eos_token_id=1)
fix_keys, to_hf_keys = key_fixes("bert-generation")


def test_encoder_matches_transformers_on_padded_batch():
    theirs = hf.BertGenerationEncoder(hf.BertGenerationConfig(**TINY)).eval()
    ours = load_reference(
        BertGenerationEncoder(BertGenerationConfig(**TINY)), theirs, fix_keys, False
    )
    assert not hasattr(ours.embeddings, "token_type_embeddings") and ours.pooler is None
    assert_encoder_matches(theirs, ours, 99, pad=0)


@pytest.mark.parametrize("tie", [True, False])
def test_decoder_matches_transformers_and_keeps_its_keys(tie):
    """Same logits; the same state_dict keys in both directions, the bias's alias included."""
    theirs = hf.BertGenerationDecoder(
        hf.BertGenerationConfig(**TINY, **DECODER, tie_word_embeddings=tie)
    )
    ours = BertGenerationDecoder(BertGenerationConfig(**TINY, **DECODER, tie_word_embeddings=tie))
    load_reference(ours, theirs.eval(), fix_keys, as_decoder=True)
    assert_decoder_matches(theirs, ours, 99, pad=0, width=32)
    torch.testing.assert_close(ours.output_bias(), theirs.lm_head.decoder.bias)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())  # transformers' keys load as they are, strictly
    back = hf.BertGenerationDecoder(theirs.config).eval()
    back.load_state_dict(to_hf_keys(ours.state_dict(), True))
    assert_decoder_matches(back, ours, 99, pad=0, width=32)


def test_cached_decoding_equals_uncached():
    ours = BertGenerationDecoder(BertGenerationConfig(**TINY, **DECODER)).eval()
    assert_cached_equals_uncached(ours, 99, 32)


def test_saved_halves_load_both_ways(tmp_path):
    theirs = randomize_(hf.BertGenerationDecoder(hf.BertGenerationConfig(**TINY, **DECODER))).eval()
    theirs.save_pretrained(tmp_path / "theirs")
    ours = AutoModelForCausalLM.from_pretrained(tmp_path / "theirs")
    assert type(ours) is warmstart.BertGenerationDecoder
    assert_decoder_matches(theirs, ours, 99, pad=0, width=32)
    ours.save_pretrained(tmp_path / "ours")
    again = hf.BertGenerationDecoder.from_pretrained(tmp_path / "ours").eval()
    assert_decoder_matches(again, ours, 99, pad=0, width=32)
    encoder = hf.BertGenerationEncoder(hf.BertGenerationConfig(**TINY))
    encoder.save_pretrained(tmp_path / "encoder")
    assert type(AutoModel.from_pretrained(tmp_path / "encoder")) is warmstart.BertGenerationEncoder


def _composite(folder):
    """transformers' bert2bert of BertGeneration halves (the paper's released layout), saved."""
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertGenerationConfig(**TINY), hf.BertGenerationConfig(**TINY)
    )
    for key, value in IDS.items():
        setattr(config, key, value)
    theirs = randomize_(hf.EncoderDecoderModel(config)).eval()
    with torch.no_grad():  # let a tiny random model read its input and end
        for layer in theirs.decoder.bert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
    theirs.save_pretrained(folder)
    return theirs


@pytest.fixture(scope="module")
def composite(tmp_path_factory):
    torch.manual_seed(0)  # a module fixture runs before the per-test seed
    folder = tmp_path_factory.mktemp("bert2bert")
    return _composite(folder), folder


def test_composite_logits_and_generate_equal_transformers(composite, tmp_path):
    theirs, folder = composite
    ours = EncoderDecoderModel.from_pretrained(folder)
    assert type(ours.encoder) is BertGenerationEncoder
    x = torch.randint(3, 99, (2, 7))
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    y = torch.randint(3, 99, (2, 5))
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
        b = ours(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    for beams in (1, 3):
        kw = dict(attention_mask=mask, max_new_tokens=8, num_beams=beams, do_sample=False)
        assert ours.generate(x, **kw).tolist() == theirs.generate(x, **kw).tolist()
    ours.save_pretrained(tmp_path / "ours")
    again = hf.EncoderDecoderModel.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        c = again(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
    torch.testing.assert_close(c, b, atol=1e-5, rtol=1e-4)


def test_warm_start_from_an_encoder_checkpoint_as_transformers_does(tmp_path):
    """The bbc_encoder recipe: one BertGenerationEncoder checkpoint warm-starts both sides."""
    source = randomize_(hf.BertGenerationEncoder(hf.BertGenerationConfig(**TINY)))
    source.save_pretrained(tmp_path)
    theirs = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    ours = EncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    assert type(ours.decoder) is BertGenerationDecoder
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    new = {k.removeprefix("decoder.") for k in ours.newly_initialized}
    for key, value in ours.decoder.state_dict().items():
        if key not in new and "crossattention" not in key:
            torch.testing.assert_close(value, state["decoder." + key])
    assert all("crossattention" in k or k == "lm_head.bias" for k in new)
    ours.load_state_dict(state)  # the cross-attention as transformers drew it: the same model
    x, y = torch.randint(3, 99, (2, 6)), torch.randint(3, 99, (2, 4))
    with torch.no_grad():
        a = theirs.eval()(input_ids=x, decoder_input_ids=y).logits
        b = ours(input_ids=x, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_bbc_encoder_recipe_composes_by_hand_as_transformers(tmp_path):
    """transformers' documented recipe: both halves from one encoder checkpoint, then composed."""
    randomize_(hf.BertGenerationEncoder(hf.BertGenerationConfig(**TINY))).save_pretrained(tmp_path)
    ids = dict(bos_token_id=2, eos_token_id=1)
    halves = []
    for lib in (hf, warmstart):
        encoder = lib.BertGenerationEncoder.from_pretrained(tmp_path, **ids)
        decoder = lib.BertGenerationDecoder.from_pretrained(tmp_path, **DECODER, **ids)
        halves.append(lib.EncoderDecoderModel(encoder=encoder, decoder=decoder).eval())
    theirs, ours = halves
    assert ours.config.decoder.eos_token_id == 1 and ours.decoder.config.add_cross_attention
    state = theirs.state_dict()
    for key, value in ours.state_dict().items():  # loaded alike; the LM head's bias zero in both
        if "crossattention" not in key:
            torch.testing.assert_close(value, state[key])
    ours.load_state_dict(state)  # the new cross-attention as transformers drew it
    x, y = torch.randint(3, 99, (2, 6)), torch.randint(3, 99, (2, 4))
    with torch.no_grad():
        a = theirs(input_ids=x, decoder_input_ids=y).logits
        b = ours(input_ids=x, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
