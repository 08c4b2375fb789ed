"""What transformers' EncoderDecoderModel does when it composes two halves, done alike here: the
decoder's config says it is a decoder, and each model's config names the attention it runs with
the dispatch flags transformers' models carry. Live against transformers."""

from __future__ import annotations

import torch
import transformers as hf
from tiny_configs import GPT2_TINY, TINY

import warmstart as ws


def _halves(lib):
    """A BERT encoder and a GPT-2 decoder of ``lib`` built with cross-attention but
    ``is_decoder=False`` (transformers' own BERT refuses that at build; GPT-2 takes it), from the
    same random weights."""
    torch.manual_seed(0)
    encoder = hf.BertModel(hf.BertConfig(**TINY))
    decoder = hf.GPT2LMHeadModel(hf.GPT2Config(**GPT2_TINY, add_cross_attention=True))
    assert not getattr(decoder.config, "is_decoder", False)
    if lib is hf:
        return encoder, decoder
    ours_enc, ours_dec = ws.BertModel(encoder.config), ws.GPT2LMHeadModel(decoder.config)
    ours_enc.load_state_dict(encoder.state_dict())
    ours_dec.load_state_dict(decoder.state_dict())  # transformers' Conv1D layout, as it is
    return ours_enc, ours_dec


def test_a_composed_gpt2_decoder_is_a_decoder_as_in_transformers():
    """A GPT-2 decoder built with add_cross_attention=True but is_decoder=False is accepted;
    composing sets its is_decoder, and the two libraries compute the same causal logits."""
    models = [
        lib.EncoderDecoderModel(encoder=e, decoder=d).eval()
        for lib, (e, d) in ((hf, _halves(hf)), (ws, _halves(ws)))
    ]
    for model in models:
        assert model.config.decoder.is_decoder and model.decoder.config.is_decoder
    x, y = torch.randint(3, 99, (2, 7)), torch.randint(3, 99, (2, 5))
    later = y.clone()
    later[:, -1] = torch.where(y[:, -1] == 3, 4, 3)
    with torch.no_grad():
        theirs, ours = (m(input_ids=x, decoder_input_ids=y).logits for m in models)
        again = models[1](input_ids=x, decoder_input_ids=later).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(again[:, :-1], ours[:, :-1])  # causal: later tokens unseen


def test_attention_dispatch_flags_and_resolved_implementation(tmp_path):
    """``_supports_sdpa`` on every model and ``config._attn_implementation`` as transformers
    resolves it: "sdpa" once a model is built or loaded, each side kept "eager" where asked."""
    pair = {}
    for lib in (hf, ws):
        enc, dec = lib.BertConfig(**TINY), lib.GPT2Config(**GPT2_TINY)
        config = lib.EncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
        pair[lib] = lib.EncoderDecoderModel(config)
    theirs, ours = pair[hf], pair[ws]
    for part in ("", "encoder", "decoder"):
        a, b = (m.get_submodule(part) for m in (theirs, ours))
        assert b._supports_sdpa == a._supports_sdpa is True, part
        assert b.config._attn_implementation == a.config._attn_implementation == "sdpa", part
    ours.save_pretrained(tmp_path)
    for name in ("sdpa", "eager", None):
        kw = {} if name is None else {"attn_implementation": name}
        a = hf.EncoderDecoderModel.from_pretrained(tmp_path, **kw)
        b = ws.EncoderDecoderModel.from_pretrained(tmp_path, **kw)
        for part in ("", "encoder", "decoder"):
            got = b.get_submodule(part).config._attn_implementation
            assert got == a.get_submodule(part).config._attn_implementation == (name or "sdpa")
    eager = hf.BertConfig(**TINY)
    eager._attn_implementation = "eager"
    composed = ws.EncoderDecoderModel(
        encoder=ws.BertModel(eager),
        decoder=ws.GPT2LMHeadModel(hf.GPT2Config(**GPT2_TINY, add_cross_attention=True)),
    )
    assert composed.config.encoder._attn_implementation == "eager"  # not overwritten
    assert composed.config.decoder._attn_implementation == "sdpa"
