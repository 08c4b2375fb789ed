"""EncoderDecoderModel.resize_token_embeddings (transformers refuses it on the composite): shapes,
ties, old rows, LM-head biases, config sizes, and resized checkpoints in both libraries."""

from __future__ import annotations

import pytest
import torch
import transformers as hf
from test_pairings import _compare, _ours, _theirs
from tiny_configs import TINY, padded_batch

from warmstart import BertConfig, EncoderDecoderConfig, EncoderDecoderModel

pytestmark = pytest.mark.usefixtures("one_thread")

NEW = 110  # from 99


def _vocab_tensors(model: EncoderDecoderModel) -> dict[str, torch.Tensor]:
    """Clones of every parameter with a row per token, by name."""
    V = model.config.decoder.vocab_size
    return {
        name: p.detach().clone()
        for name, p in model.named_parameters(remove_duplicate=False)
        if p.shape[0] == V and "position" not in name
    }


@pytest.mark.parametrize("name", ["bert2gpt2", "roberta2roberta", "bart2bart", "electra2bert"])
def test_resize_keeps_old_rows_ties_and_loads_in_transformers(name, tmp_path):
    ours = _ours(name)
    before = _vocab_tensors(ours)
    tied_head = (
        ours.decoder.get_output_embeddings().weight is ours.decoder.get_input_embeddings().weight
    )
    embedding = ours.resize_token_embeddings(NEW)
    assert embedding is ours.get_input_embeddings()
    assert ours.config.encoder.vocab_size == ours.config.decoder.vocab_size == NEW
    after = dict(ours.named_parameters(remove_duplicate=False))
    for key, old in before.items():
        assert after[key].shape == (NEW, *old.shape[1:]), key
        assert torch.equal(after[key][:99], old), key
        # new rows drawn around the old rows' mean (transformers' mean_resizing)
        torch.testing.assert_close(
            after[key][99:], old.mean(0).expand_as(after[key][99:]), atol=1e-3, rtol=0
        )
    head = ours.decoder.get_output_embeddings()
    assert (head.weight is ours.decoder.get_input_embeddings().weight) == tied_head
    assert ours.decoder.get_input_embeddings().num_embeddings == NEW
    x, mask, y = padded_batch(NEW, pad=1)
    assert ours(input_ids=x, attention_mask=mask, labels=y).logits.shape[-1] == NEW
    out = ours.eval().generate(x, attention_mask=mask, max_new_tokens=3)
    assert out.shape[0] == 3 and 2 <= out.shape[1] <= 4 and int(out.max()) < NEW
    ours.save_pretrained(tmp_path)
    again = EncoderDecoderModel.from_pretrained(tmp_path)
    for (key, p), q in zip(ours.state_dict().items(), again.state_dict().values()):
        assert torch.equal(p, q), key
    theirs, info = hf.EncoderDecoderModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    _compare(theirs.eval(), ours)


def test_bert_head_bias_and_shrinking():
    ours = _ours("electra2bert")
    bias = ours.decoder.cls.predictions.bias
    old = bias.detach().clone()
    ours.resize_token_embeddings(NEW)
    assert ours.decoder.cls.predictions.bias is bias and bias.shape == (NEW,)
    torch.testing.assert_close(bias[99:], old.mean().expand(NEW - 99), atol=1e-6, rtol=0)
    ours.resize_token_embeddings(50)
    assert torch.equal(bias.detach(), old[:50])
    assert ours.encoder.embeddings.word_embeddings.weight.shape[0] == 50


def test_sides_with_different_vocabularies():
    ours = _ours("bert2gpt2")
    ours.resize_token_embeddings(120, side="decoder")
    with pytest.raises(ValueError, match=r"99 tokens and the decoder 120.*side='encoder'"):
        ours.resize_token_embeddings(130)
    assert ours.config.encoder.vocab_size == 99
    assert ours.decoder.lm_head.weight.shape == (120, 32)
    assert ours.decoder.lm_head.weight is ours.decoder.transformer.wte.weight
    assert ours.resize_token_embeddings(105, side="encoder").weight.shape == (105, 48)
    with pytest.raises(ValueError, match="side must be"):
        ours.resize_token_embeddings(105, side="both")


def test_tied_encoder_and_decoder_resize_together():
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY), tie_encoder_decoder=True
    )
    model = EncoderDecoderModel(config)
    with pytest.raises(ValueError, match="without side"):
        model.resize_token_embeddings(NEW, side="decoder")
    model.resize_token_embeddings(NEW)
    word = model.encoder.embeddings.word_embeddings.weight
    assert word.shape[0] == NEW
    assert word is model.decoder.bert.embeddings.word_embeddings.weight
    assert word is model.decoder.cls.predictions.decoder.weight


@pytest.mark.parametrize("name", ["bert2gpt2", "roberta2roberta", "bert2bert_untied", "bert2bart"])
def test_each_side_resizes_as_in_transformers(name, tmp_path):
    """transformers refuses the composite's resize and points to model.encoder / model.decoder."""
    theirs = _theirs(name)
    theirs.save_pretrained(tmp_path)
    ours = EncoderDecoderModel.from_pretrained(tmp_path)
    for model in (theirs, ours):
        assert model.encoder.resize_token_embeddings(NEW).num_embeddings == NEW
        assert model.decoder.resize_token_embeddings(NEW + 1).num_embeddings == NEW + 1
    shapes = {n: p.shape for n, p in ours.state_dict().items()}
    resized = [k for k, v in theirs.state_dict().items() if v.shape[0] in (NEW, NEW + 1)]
    assert resized
    for key in resized:
        if key in shapes:  # (transformers also lists tied aliases)
            assert shapes[key][0] == theirs.state_dict()[key].shape[0], key
    for side in ("encoder", "decoder"):
        assert getattr(ours.config, side).vocab_size == getattr(theirs.config, side).vocab_size
    x, mask, y = padded_batch(99, pad=1)
    with torch.no_grad():
        if isinstance(theirs.encoder, hf.BartModel):
            enc = theirs.encoder.encoder(input_ids=x, attention_mask=mask).last_hidden_state
            a = theirs(
                encoder_outputs=(enc,), attention_mask=mask, decoder_input_ids=y.clamp(min=1)
            )
        else:
            a = theirs(input_ids=x, attention_mask=mask, decoder_input_ids=y.clamp(min=1))
        b = ours(input_ids=x, attention_mask=mask, decoder_input_ids=y.clamp(min=1))
    # the new rows are random in each library; the old tokens' logits are not
    torch.testing.assert_close(b.logits[..., :99], a.logits[..., :99], atol=1e-4, rtol=1e-4)


def test_one_side_of_a_tied_model_is_refused():
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY), tie_encoder_decoder=True
    )
    model = EncoderDecoderModel(config)
    with pytest.raises(ValueError, match=r"model.resize_token_embeddings\(n\)"):
        model.decoder.resize_token_embeddings(NEW)
    model.resize_token_embeddings(NEW)  # the whole model still resizes
    assert model.config.encoder.vocab_size == model.config.decoder.vocab_size == NEW
