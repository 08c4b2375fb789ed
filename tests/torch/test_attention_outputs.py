"""Attention weights and hidden states (``output_attentions`` / ``output_hidden_states``) and
``attn_implementation``, live against transformers' EncoderDecoderModel (eager attention) on tiny
random models loaded into ours through a saved folder: every encoder and decoder family, forward
and greedy ``generate``."""

from __future__ import annotations

import pytest
import torch
import transformers as hf
from tiny_configs import BART_TINY, GPT2_TINY, TINY, WIDE, padded_batch, randomize_

from warmstart import BertConfig, BertModel, EncoderDecoderModel
from warmstart.torch.speed import kernels, recording

ELECTRA = dict(TINY, embedding_size=16)
# every encoder family (BERT, RoBERTa, ELECTRA, BART) and decoder family (BERT, RoBERTa, ELECTRA,
# GPT-2, BART) at least once; bert2gpt2 has a wider encoder (enc_to_dec_proj)
PAIRINGS = {
    "bert2gpt2": (("Bert", WIDE), ("GPT2", GPT2_TINY)),
    "roberta2roberta": (("Roberta", TINY), ("Roberta", TINY)),
    "electra2bert": (("Electra", ELECTRA), ("Bert", TINY)),
    "bert2electra": (("Bert", TINY), ("Electra", ELECTRA)),
    "bart2bart": (("Bart", BART_TINY), ("Bart", BART_TINY)),
}
TOKENS = dict(decoder_start_token_id=2, pad_token_id=1)
FIELDS = (
    "encoder_attentions",
    "encoder_hidden_states",
    "decoder_attentions",
    "cross_attentions",
    "decoder_hidden_states",
)


@pytest.fixture(scope="module", params=sorted(PAIRINGS))
def pair(request, tmp_path_factory):
    """transformers' model (eager attention) and ours loaded from its saved folder."""
    (enc, enc_kw), (dec, dec_kw) = PAIRINGS[request.param]
    configs = getattr(hf, enc + "Config")(**enc_kw), getattr(hf, dec + "Config")(**dec_kw)
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(*configs, **TOKENS)
    torch.manual_seed(0)
    theirs = randomize_(hf.EncoderDecoderModel(config)).eval()
    theirs.set_attn_implementation("eager")
    folder = tmp_path_factory.mktemp(request.param)
    theirs.save_pretrained(folder)
    return theirs, EncoderDecoderModel.from_pretrained(folder)


def _their_encoder(theirs, **kw):
    """transformers' encoder output; of a BART encoder, its encoder stack's (its forward fails on
    the whole BartModel's output, and the stack is what ours encodes with)."""
    encoder = theirs.encoder.encoder if isinstance(theirs.encoder, hf.BartModel) else theirs.encoder
    return encoder(**kw, output_attentions=True, output_hidden_states=True)


def _assert_same(ours, theirs, name: str) -> None:
    """Equal nested tuples of tensors, within 1e-5."""
    assert isinstance(ours, tuple) and len(ours) == len(theirs), name
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if isinstance(b, tuple):
            _assert_same(a, b, f"{name}[{i}]")
        else:
            where = f"{name}[{i}]"
            torch.testing.assert_close(
                a, b, atol=1e-5, rtol=1e-5, msg=lambda m, w=where: f"{w}: {m}"
            )


def test_forward_outputs_equal_transformers(pair):
    theirs, ours = pair
    x, mask, y = padded_batch(99, pad=1)
    with torch.no_grad():
        enc = _their_encoder(theirs, input_ids=x, attention_mask=mask)
        a = theirs(
            encoder_outputs=enc,
            attention_mask=mask,
            labels=y,
            output_attentions=True,
            output_hidden_states=True,
        )
        b = ours(
            input_ids=x,
            attention_mask=mask,
            labels=y,
            output_attentions=True,
            output_hidden_states=True,
        )
    for name in FIELDS:
        theirs_value = enc[name.removeprefix("encoder_")] if name.startswith("encoder") else a[name]
        _assert_same(b[name], theirs_value, name)
    torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=1e-5)
    n_enc = len(b.encoder_attentions)
    assert (
        b.encoder_attentions[0].shape == (3, 4, 11, 11)
        and len(b.encoder_hidden_states) == n_enc + 1
    )
    assert b.cross_attentions[0].shape == (3, 4, 7, 11)
    # transformers' tuple order, fields present only when asked
    assert list(b.keys()) == [
        "loss",
        "logits",
        "decoder_hidden_states",
        "decoder_attentions",
        "cross_attentions",
        "encoder_last_hidden_state",
        "encoder_hidden_states",
        "encoder_attentions",
    ]
    plain = ours(input_ids=x, attention_mask=mask, labels=y)
    assert list(plain.keys()) == ["loss", "logits", "encoder_last_hidden_state"]


def test_greedy_generate_outputs_equal_transformers(pair):
    theirs, ours = pair
    x, mask, _ = padded_batch(99, pad=1)
    kw = dict(
        max_new_tokens=4,
        min_new_tokens=4,
        return_dict_in_generate=True,
        output_attentions=True,
        output_hidden_states=True,
        do_sample=False,
        num_beams=1,
    )
    with torch.no_grad():
        enc = _their_encoder(theirs, input_ids=x, attention_mask=mask)
        a = theirs.generate(encoder_outputs=enc, attention_mask=mask, **kw)
        b = ours.generate(x, attention_mask=mask, **kw)
    torch.testing.assert_close(b.sequences, a.sequences)
    for name in FIELDS:
        _assert_same(b[name], a[name], name)
    assert b.decoder_attentions[1][0].shape == (3, 4, 1, 2)  # second step: one query, two keys


@pytest.mark.parametrize("pair", ["bert2gpt2"], indirect=True)
def test_config_fields_ask_as_transformers_reads_them(pair):
    """``output_attentions`` / ``output_hidden_states`` as config fields, as transformers reads
    them: a side's config asks for that side's; the composite config's field is not read."""
    theirs, ours = pair
    x, mask, y = padded_batch(99, pad=1)

    def keys(model):
        with torch.no_grad():
            out = model(input_ids=x, attention_mask=mask, labels=y, use_cache=False)
            return list(out.keys())

    plain = ["loss", "logits", "encoder_last_hidden_state"]
    for model in pair:
        model.config.output_attentions = True
    try:
        assert keys(ours) == keys(theirs) == plain
        for model in pair:
            model.config.output_attentions = False
            model.config.decoder.output_hidden_states = True
            model.config.encoder.output_attentions = True
        assert keys(ours) == keys(theirs)
        assert "decoder_hidden_states" in keys(ours) and "encoder_attentions" in keys(ours)
        assert "encoder_hidden_states" not in keys(ours) and "cross_attentions" not in keys(ours)
    finally:
        for model in pair:
            model.config.decoder.output_hidden_states = False
            model.config.encoder.output_attentions = False


@pytest.mark.parametrize("pair", ["bert2gpt2", "bart2bart"], indirect=True)  # every attention
def test_eager_and_sdpa_give_the_same_outputs(pair, tmp_path):
    theirs, ours = pair
    x, mask, y = padded_batch(99, pad=1)
    theirs.save_pretrained(tmp_path)
    eager = EncoderDecoderModel.from_pretrained(tmp_path, attn_implementation="eager")
    assert eager.config.encoder._attn_implementation == "eager"
    assert eager.config.decoder._attn_implementation == "eager"
    with torch.no_grad():
        a, b = (m(input_ids=x, attention_mask=mask, labels=y) for m in (ours, eager))
    torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.loss, a.loss, atol=1e-5, rtol=1e-5)
    greedy = dict(max_new_tokens=5, do_sample=False)
    torch.testing.assert_close(eager.generate(x, **greedy), ours.generate(x, **greedy))


def test_attn_implementation_options(tmp_path):
    """Accepted by every loader and on the config; anything else is one clear error."""
    torch.manual_seed(0)
    bert = hf.BertModel(hf.BertConfig(**TINY)).eval()
    bert.set_attn_implementation("eager")
    bert.save_pretrained(tmp_path)
    x = torch.randint(3, 99, (2, 9))
    sdpa = BertModel.from_pretrained(tmp_path, attn_implementation="sdpa")
    eager = BertModel.from_pretrained(tmp_path, attn_implementation="eager")
    assert eager.config._attn_implementation == "eager"
    with torch.no_grad():
        torch.testing.assert_close(
            eager(x).last_hidden_state, sdpa(x).last_hidden_state, atol=1e-5, rtol=1e-5
        )
        out = sdpa(x, output_attentions=True, output_hidden_states=True)
        ref = bert(x, output_attentions=True, output_hidden_states=True)
    _assert_same(out.attentions, ref.attentions, "attentions")
    _assert_same(out.hidden_states, ref.hidden_states, "hidden_states")
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        tmp_path, tmp_path, attn_implementation="eager"
    )
    assert model.config.encoder._attn_implementation == "eager"
    assert model.config.decoder._attn_implementation == "eager"
    model.config._attn_implementation = "sdpa"  # the sides follow, as in transformers
    assert model.config.decoder._attn_implementation == "sdpa"
    for load in (
        lambda: BertModel.from_pretrained(tmp_path, attn_implementation="flash_attention_2"),
        lambda: EncoderDecoderModel.from_encoder_decoder_pretrained(
            tmp_path, tmp_path, attn_implementation="flex_attention"
        ),
    ):
        with pytest.raises(ValueError, match="'eager'.*'sdpa'"):
            load()
    with pytest.raises(ValueError, match="attn_implementation='flash_attention_2'"):
        model.config._attn_implementation = "flash_attention_2"
    config = BertConfig(**TINY, attn_implementation="eager")  # transformers' keyword
    assert config._attn_implementation == "eager" and "attn_implementation" not in config.to_dict()


@pytest.mark.parametrize("pair", ["bert2gpt2"], indirect=True)
def test_default_path_records_nothing(pair, monkeypatch):
    """Without the options, no eager attention runs (the fused SDPA path is kept)."""
    _, ours = pair
    calls = []
    original = kernels.attention_weights
    for module in (kernels, recording):  # the dropout path's, the recording path's
        monkeypatch.setattr(module, "attention_weights", lambda *a: calls.append(1) or original(*a))
    x, mask, y = padded_batch(99, pad=1)
    with torch.no_grad():
        ours(input_ids=x, attention_mask=mask, labels=y)
        ours.generate(x, max_new_tokens=3)
        assert calls == []
        ours(input_ids=x, attention_mask=mask, labels=y, output_attentions=True)
    assert calls
