"""Heterogeneous encoder-decoder pairings against transformers' EncoderDecoderModel, live: logits
and loss, checkpoints written by either library loaded by the other, and warm starts from
checkpoints transformers saved."""

from __future__ import annotations

import pytest
import torch
import transformers as hf
from safetensors.torch import load_file
from tiny_configs import BART_TINY, GPT2_TINY, TINY, WIDE, padded_batch, randomize_

import warmstart.config as ws
from warmstart import EncoderDecoderConfig, EncoderDecoderModel

ELECTRA = dict(TINY, embedding_size=16)
UNTIED = dict(TINY, tie_word_embeddings=False)  # the LM head's weight and bias its own

# name -> (encoder family, its kwargs), (decoder family, its kwargs)
PAIRINGS = {
    "bert2gpt2": (("Bert", WIDE), ("GPT2", GPT2_TINY)),
    "roberta2roberta": (("Roberta", TINY), ("Roberta", TINY)),
    "roberta2gpt2": (("Roberta", TINY), ("GPT2", GPT2_TINY)),
    "electra2bert": (("Electra", ELECTRA), ("Bert", TINY)),
    "electra2electra": (("Electra", ELECTRA), ("Electra", ELECTRA)),
    "bert2bert_untied": (("Bert", TINY), ("Bert", UNTIED)),
    "roberta2xlmroberta_untied": (("Roberta", TINY), ("XLMRoberta", UNTIED)),
    "bert2bart": (("Bert", TINY), ("Bart", BART_TINY)),
    "bart2bart": (("Bart", BART_TINY), ("Bart", BART_TINY)),
}
TOKENS = dict(decoder_start_token_id=2, pad_token_id=1)


def _configs(name: str, lib):
    (enc, enc_kw), (dec, dec_kw) = PAIRINGS[name]
    return getattr(lib, enc + "Config")(**enc_kw), getattr(lib, dec + "Config")(**dec_kw)


def _theirs(name: str) -> hf.EncoderDecoderModel:
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(*_configs(name, hf))
    for key, value in TOKENS.items():
        setattr(config, key, value)
    return randomize_(hf.EncoderDecoderModel(config)).eval()


def _ours(name: str) -> EncoderDecoderModel:
    config = EncoderDecoderConfig.from_encoder_decoder_configs(*_configs(name, ws), **TOKENS)
    return randomize_(EncoderDecoderModel(config)).eval()


def _compare(theirs, ours) -> float:
    x, mask, y = padded_batch(99, pad=1)
    with torch.no_grad():
        if isinstance(theirs.encoder, hf.BartModel):
            # transformers' forward fails on BartModel's output; fed the BART encoder's states
            # (what ours encodes with) it runs
            enc = theirs.encoder.encoder(input_ids=x, attention_mask=mask).last_hidden_state
            a = theirs(encoder_outputs=(enc,), attention_mask=mask, labels=y)
        else:
            a = theirs(input_ids=x, attention_mask=mask, labels=y)
        b = ours(input_ids=x, attention_mask=mask, labels=y)
    torch.testing.assert_close(b.logits, a.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(b.loss, a.loss, atol=1e-4, rtol=1e-4)
    return (b.logits - a.logits).abs().max().item()


@pytest.mark.parametrize("name", sorted(PAIRINGS))
def test_transformers_checkpoint_loads_with_equal_logits(name, tmp_path):
    theirs = _theirs(name)
    theirs.save_pretrained(tmp_path)
    ours = EncoderDecoderModel.from_pretrained(tmp_path)
    assert hasattr(ours, "enc_to_dec_proj") == hasattr(theirs, "enc_to_dec_proj")
    print(f"{name}: max logit diff {_compare(theirs, ours):.2e}")


@pytest.mark.parametrize("name", sorted(PAIRINGS))
def test_our_checkpoint_loads_in_transformers_with_equal_logits(name, tmp_path):
    ours = _ours(name)
    ours.save_pretrained(tmp_path)
    theirs, info = hf.EncoderDecoderModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched tensors
    _compare(theirs.eval(), ours)
    again = EncoderDecoderModel.from_pretrained(tmp_path)
    for (key, p), q in zip(ours.state_dict().items(), again.state_dict().values()):
        assert torch.equal(p, q), key


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("family", ["Bert", "Roberta"])
def test_transformers_state_dict_loads_in_memory(family, tie):
    """``load_state_dict(theirs.state_dict())``: their LM head's ``decoder.bias`` (an alias of the
    head's bias when tied, the bias their forward adds when untied) loads as our one bias."""
    kw = dict(TINY, tie_word_embeddings=tie)
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        getattr(hf, family + "Config")(**TINY), getattr(hf, family + "Config")(**kw)
    )
    for key, value in TOKENS.items():
        setattr(config, key, value)
    theirs = randomize_(hf.EncoderDecoderModel(config)).eval()
    ours = EncoderDecoderModel(
        EncoderDecoderConfig.from_encoder_decoder_configs(
            getattr(ws, family + "Config")(**TINY), getattr(ws, family + "Config")(**kw), **TOKENS
        )
    ).eval()
    ours.load_state_dict(theirs.state_dict())
    _compare(theirs, ours)


# ----------------------------------------------------------------- warm starts
def _save(model, folder):
    model.save_pretrained(folder)
    return str(folder)


# name -> (encoder checkpoint, decoder checkpoint, decoder tensors transformers fails to load)
WARM = {
    "bert2gpt2": (
        lambda: hf.BertModel(hf.BertConfig(**WIDE)),
        lambda: hf.GPT2LMHeadModel(hf.GPT2Config(**GPT2_TINY)),
        set(),
    ),
    "roberta2roberta": (
        lambda: hf.RobertaForMaskedLM(hf.RobertaConfig(**TINY)),
        lambda: hf.RobertaForMaskedLM(hf.RobertaConfig(**TINY)),
        set(),
    ),
    "electra2bart": (
        lambda: hf.ElectraForPreTraining(hf.ElectraConfig(**ELECTRA)),
        lambda: hf.BartForConditionalGeneration(hf.BartConfig(**BART_TINY)),
        # transformers 5 loads BartForCausalLM from a whole BART without its word embeddings
        # (they are saved once, as model.shared); we take them from model.shared
        {"decoder.model.decoder.embed_tokens.weight", "decoder.lm_head.weight"},
    ),
    "electra2electra": (
        lambda: hf.ElectraForPreTraining(hf.ElectraConfig(**ELECTRA)),
        # the generator; perturbed, so that a reset generator_lm_head.bias shows
        lambda: randomize_(hf.ElectraForMaskedLM(hf.ElectraConfig(**ELECTRA))),
        set(),
    ),
    "bart2gpt2": (
        lambda: hf.BartForConditionalGeneration(hf.BartConfig(**BART_TINY)),
        lambda: hf.GPT2LMHeadModel(hf.GPT2Config(**GPT2_TINY)),
        set(),
    ),
}


def _transformers_new_keys(enc_dir: str, dec_dir: str) -> set[str]:
    _, info = hf.AutoModel.from_pretrained(enc_dir, output_loading_info=True)
    new = {"encoder." + k for k in info["missing_keys"]}
    config = hf.AutoConfig.from_pretrained(dec_dir)
    config.is_decoder = config.add_cross_attention = True
    _, info = hf.AutoModelForCausalLM.from_pretrained(
        dec_dir, config=config, output_loading_info=True
    )
    return new | {"decoder." + k for k in info["missing_keys"]}


@pytest.mark.parametrize("name", sorted(WARM))
def test_warm_start_reports_what_transformers_initialises(name, tmp_path):
    make_encoder, make_decoder, theirs_misses = WARM[name]
    enc_dir = _save(make_encoder(), tmp_path / "enc")
    dec_dir = _save(make_decoder(), tmp_path / "dec")
    ours = EncoderDecoderModel.from_encoder_decoder_pretrained(enc_dir, dec_dir, **TOKENS)
    theirs_new = _transformers_new_keys(enc_dir, dec_dir)
    theirs = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(enc_dir, dec_dir)
    if hasattr(theirs, "enc_to_dec_proj"):
        theirs_new |= {"enc_to_dec_proj.weight", "enc_to_dec_proj.bias"}
    assert theirs_misses <= theirs_new
    assert set(ours.newly_initialized) == theirs_new - theirs_misses
    assert any("cross" in k or "encoder_attn" in k for k in theirs_new) or "bart" in name[-4:]
    # every tensor not newly initialised holds the checkpoint's value, under transformers' name
    saved = load_file(_save(ours, tmp_path / "ours") + "/model.safetensors")
    reference = theirs.state_dict()
    assert set(saved) <= set(reference)
    for key, value in saved.items():
        if key not in theirs_new:
            assert torch.equal(value, reference[key]), key


def test_decoder_without_cross_attention_names_the_supported_decoders(tmp_path):
    enc_dir = _save(hf.BertModel(hf.BertConfig(**TINY)), tmp_path / "enc")
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text('{"model_type": "llama", "hidden_size": 32}')
    with pytest.raises(
        ValueError, match=r"'llama'.*decoders.*bart.*gpt2.*roberta.*cross-attention"
    ):
        EncoderDecoderModel.from_encoder_decoder_pretrained(enc_dir, str(llama))
