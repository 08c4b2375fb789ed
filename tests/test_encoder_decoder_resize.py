"""EncoderDecoderModel.resize_token_embeddings (transformers refuses it on the composite): shapes,
ties, old rows, LM-head biases, config sizes, and resized checkpoints in both libraries."""

from __future__ import annotations

import pytest
import torch
import transformers as hf
from conftest import padded_batch
from test_pairings import _compare, _ours
from tiny_configs import TINY

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
