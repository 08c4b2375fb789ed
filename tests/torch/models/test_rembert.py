"""RemBERT as an encoder and as a decoder with cross-attention against transformers' classes, live:
logits of the halves, hidden states and attention weights, state-dict keys both ways, saved folders
both ways, and composed models (rembert2rembert, bert2rembert) with their generated tokens."""

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
from tiny_configs import TINY, randomize_

import warmstart
from warmstart import AutoModel, AutoModelForCausalLM, EncoderDecoderModel, RemBertConfig
from warmstart.config import as_config
from warmstart.torch.models.rembert import RemBertForCausalLM, RemBertModel

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(TINY, input_embedding_size=16, output_embedding_size=24)  # 16 -> 32 -> 24 -> V
DECODER = dict(is_decoder=True, add_cross_attention=True)
IDS = dict(decoder_start_token_id=2, pad_token_id=0, eos_token_id=3)
fix_keys, to_hf_keys = key_fixes("rembert")


def test_config_reads_and_writes_transformers_fields():
    theirs = hf.RemBertConfig(**SMALL)
    ours = as_config(theirs)
    assert type(ours) is RemBertConfig and ours.output_embedding_size == 24
    assert (
        not ours.tie_word_embeddings
        and RemBertConfig().to_dict().keys() <= hf.RemBertConfig().to_dict().keys()
    )
    written, read = ours.to_dict(), theirs.to_dict()
    assert {k: v for k, v in written.items() if k in read} == {
        k: read[k] for k in written if k in read
    }


def test_encoder_matches_transformers_with_pooler():
    theirs = hf.RemBertModel(hf.RemBertConfig(**SMALL)).eval()
    ours = load_reference(RemBertModel(RemBertConfig(**SMALL)), theirs, fix_keys, False)
    assert tuple(ours.embeddings.word_embeddings.weight.shape) == (99, 16)
    assert_encoder_matches(theirs, ours, 99, pad=0)
    x, mask = padded(99, 0)
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask).pooler_output
        b = ours(x, attention_mask=mask).pooler_output
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_decoder_matches_transformers_and_keeps_its_keys():
    """Same logits; the same state_dict keys in both directions; the head is never tied."""
    theirs = hf.RemBertForCausalLM(hf.RemBertConfig(**SMALL, **DECODER)).eval()
    ours = RemBertForCausalLM(RemBertConfig(**SMALL, **DECODER))
    load_reference(ours, theirs, fix_keys, as_decoder=True)
    assert_decoder_matches(theirs, ours, 99, pad=0, width=32)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())  # transformers' keys load as they are, strictly
    back = hf.RemBertForCausalLM(theirs.config).eval()
    back.load_state_dict(to_hf_keys(ours.state_dict(), True))
    assert_decoder_matches(back, ours, 99, pad=0, width=32)
    tied = RemBertForCausalLM(RemBertConfig(**SMALL, **DECODER, tie_word_embeddings=True))
    assert tied.get_output_embeddings().weight.shape == (99, 24)  # its own rows, not tied


def test_hidden_states_and_attentions_match_transformers():
    """Asked for, the decoder returns transformers' hidden states (the first one projected to
    ``hidden_size``), self- and cross-attention weights."""
    theirs = hf.RemBertForCausalLM(
        hf.RemBertConfig(**SMALL, **DECODER, attn_implementation="eager")
    ).eval()
    ours = load_reference(
        RemBertForCausalLM(RemBertConfig(**SMALL, **DECODER)), theirs, fix_keys, True
    )
    y, ymask = padded(99, 0, B=2, T=6)
    enc = torch.randn(2, 5, 32)
    kw = dict(output_attentions=True, output_hidden_states=True)
    with torch.no_grad():
        a = theirs(input_ids=y, attention_mask=ymask, encoder_hidden_states=enc, **kw)
        b = ours(y, ymask, enc, **kw)
    for name in ("hidden_states", "attentions", "cross_attentions"):
        got, want = getattr(b, name), getattr(a, name)
        assert len(got) == len(want), name
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)
    assert b.hidden_states[0].shape[-1] == 32


def test_cached_decoding_equals_uncached():
    ours = RemBertForCausalLM(RemBertConfig(**SMALL, **DECODER)).eval()
    assert_cached_equals_uncached(ours, 99, 32)


def test_input_longer_than_positions_is_refused():
    with pytest.raises(ValueError, match=r"65 tokens.*at most 64"):
        RemBertModel(RemBertConfig(**SMALL))(torch.ones(1, 65, dtype=torch.long))


def test_other_heads_are_dropped():
    w = torch.zeros(1)
    state = {
        "rembert.embeddings.word_embeddings.weight": w,
        "rembert.encoder.embedding_hidden_mapping_in.weight": w,
        "cls.predictions.decoder.weight": w,
        "classifier.weight": w,
    }
    enc, dropped = fix_keys(state, as_decoder=False)
    assert list(enc) == [
        "embeddings.word_embeddings.weight",
        "encoder.embedding_hidden_mapping_in.weight",
    ]
    assert sorted(dropped) == ["classifier.weight", "cls.predictions.decoder.weight"]
    dec, _ = fix_keys(state, as_decoder=True)
    assert "cls.predictions.decoder.weight" in dec and "classifier.weight" not in dec


def test_saved_halves_load_both_ways(tmp_path):
    theirs = randomize_(hf.RemBertForCausalLM(hf.RemBertConfig(**SMALL, **DECODER))).eval()
    theirs.save_pretrained(tmp_path / "theirs")
    ours = AutoModelForCausalLM.from_pretrained(tmp_path / "theirs")
    assert type(ours) is warmstart.RemBertForCausalLM
    assert_decoder_matches(theirs, ours, 99, pad=0, width=32)
    ours.save_pretrained(tmp_path / "ours")
    again = hf.RemBertForCausalLM.from_pretrained(tmp_path / "ours").eval()
    assert_decoder_matches(again, ours, 99, pad=0, width=32)
    encoder = randomize_(hf.RemBertModel(hf.RemBertConfig(**SMALL))).eval()
    encoder.save_pretrained(tmp_path / "encoder")
    loaded = AutoModel.from_pretrained(tmp_path / "encoder")
    assert type(loaded) is warmstart.RemBertModel
    assert_encoder_matches(encoder, loaded, 99, pad=0)


def _composite(folder, encoder_config):
    """transformers' model of ``encoder_config`` and a RemBERT decoder, made to read its input and
    end rows at different steps, saved to ``folder``."""
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        encoder_config, hf.RemBertConfig(**SMALL)
    )
    for key, value in IDS.items():
        setattr(config, key, value)
    theirs = randomize_(hf.EncoderDecoderModel(config)).eval()
    with torch.no_grad():
        for layer in theirs.decoder.rembert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
        theirs.decoder.cls.predictions.decoder.bias[IDS["eos_token_id"]] += 0.5
    theirs.save_pretrained(folder)
    return theirs


@pytest.mark.parametrize(
    "encoder_config",
    [hf.RemBertConfig(**SMALL), hf.BertConfig(**TINY)],
    ids=["rembert2rembert", "bert2rembert"],
)
def test_composite_logits_generate_and_save_equal_transformers(encoder_config, tmp_path):
    theirs = _composite(tmp_path / "theirs", encoder_config)
    ours = EncoderDecoderModel.from_pretrained(tmp_path / "theirs")
    assert type(ours.decoder) is RemBertForCausalLM
    x, mask = padded(99, 0, B=2, T=7)
    y = torch.randint(4, 99, (2, 5))
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
        b = ours(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    for beams in (1, 3):  # no repeats: a tiny random decoder would repeat one token
        kw = dict(attention_mask=mask, max_new_tokens=8, num_beams=beams, no_repeat_ngram_size=1)
        assert ours.generate(x, **kw).tolist() == theirs.generate(x, **kw).tolist()
    ours.save_pretrained(tmp_path / "ours")
    again = hf.EncoderDecoderModel.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        c = again(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
    torch.testing.assert_close(c, b, atol=1e-5, rtol=1e-4)


def test_warm_start_from_a_rembert_checkpoint_as_transformers_does(tmp_path):
    """One RemBERT encoder checkpoint warm-starts both halves: the same tensors load, the same
    ones (cross-attention, LM head) are new; with transformers' new weights, equal logits."""
    randomize_(hf.RemBertModel(hf.RemBertConfig(**SMALL))).save_pretrained(tmp_path)
    theirs = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path).eval()
    ours = EncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    assert type(ours.encoder) is RemBertModel and type(ours.decoder) is RemBertForCausalLM
    state = theirs.state_dict()
    assert sorted(ours.state_dict()) == sorted(state)
    new = {k.removeprefix("decoder.") for k in ours.newly_initialized}
    assert new and all("crossattention" in k or k.startswith("cls.") for k in new)
    for key, value in ours.decoder.state_dict().items():
        if key not in new:
            torch.testing.assert_close(value, state["decoder." + key])
    ours.load_state_dict(state)
    x, y = torch.randint(4, 99, (2, 6)), torch.randint(4, 99, (2, 4))
    with torch.no_grad():
        a = theirs(input_ids=x, decoder_input_ids=y).logits
        b = ours(input_ids=x, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_resized_decoder_keeps_its_logits_for_the_old_tokens():
    """``resize_token_embeddings`` on the untied head: input embeddings, projection and its bias
    all get the new rows; the old tokens' logits do not change."""
    ours = randomize_(RemBertForCausalLM(RemBertConfig(**SMALL, **DECODER))).eval()
    y, enc = torch.randint(4, 99, (2, 5)), torch.randn(2, 3, 32)
    with torch.no_grad():
        before = ours(y, None, enc).logits
        ours.resize_token_embeddings(120)
        after = ours(y, None, enc).logits
    assert after.shape == (2, 5, 120) and ours.config.vocab_size == 120
    assert ours.rembert.embeddings.word_embeddings.weight.shape == (120, 16)
    torch.testing.assert_close(after[..., :99], before)
