"""from_pretrained / save_pretrained on the encoders and decoders themselves: checkpoints of
transformers' classes of the same name load with equal outputs, ours load in transformers, and the
halves compose as transformers' documentation composes them."""

from __future__ import annotations

import json
import logging

import pytest
import torch
import transformers as hf
from tiny_configs import BART_TINY, GPT2_TINY, TINY, randomize_

import warmstart as ws

FAMILIES = {
    "Bert": ("BertModel", "BertLMHeadModel", TINY),
    "Roberta": ("RobertaModel", "RobertaForCausalLM", TINY),
    "Electra": ("ElectraModel", "ElectraForCausalLM", dict(TINY, embedding_size=16)),
    "GPT2": ("GPT2Model", "GPT2LMHeadModel", GPT2_TINY),
    "Bart": ("BartModel", "BartForCausalLM", BART_TINY),
}
CASES = [(f, i) for f in FAMILIES for i in (0, 1)]  # (family, 0: encoder class / 1: decoder class)
DECODER = dict(is_decoder=True, add_cross_attention=True)


def _transformers(family: str, which: int):
    name, kw = FAMILIES[family][which], FAMILIES[family][2]
    config = getattr(hf, family + "Config")(**kw, **(DECODER if which else {}))
    return name, randomize_(getattr(hf, name)(config)).eval()


def _outputs(model, which: int, x: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if not which:
            if isinstance(model, hf.BartModel):  # transformers' BartModel is the whole seq2seq
                return model.get_encoder()(input_ids=x).last_hidden_state
            return model(input_ids=x).last_hidden_state
        return model(input_ids=x, encoder_hidden_states=enc).logits


@pytest.mark.parametrize("family, which", CASES)
def test_transformers_checkpoint_of_a_half_loads_with_equal_outputs(family, which, tmp_path):
    name, theirs = _transformers(family, which)
    theirs.save_pretrained(tmp_path)
    ours = getattr(ws, name).from_pretrained(tmp_path)
    assert type(ours).__name__ == name and not ours.training
    x, enc = torch.randint(3, 99, (2, 9)), torch.randn(2, 5, 32)
    torch.testing.assert_close(
        _outputs(ours, which, x, enc), _outputs(theirs, which, x, enc), atol=1e-5, rtol=1e-4
    )


@pytest.mark.parametrize("family, which", CASES)
def test_our_half_loads_in_transformers_class_of_the_same_name(family, which, tmp_path):
    name, theirs = _transformers(family, which)
    theirs.save_pretrained(tmp_path / "theirs")
    ours = getattr(ws, name).from_pretrained(tmp_path / "theirs")
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.01)  # the saved weights are ours, not the ones loaded
    ours.save_pretrained(tmp_path / "ours")
    saved = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert saved["architectures"] == [name]
    back, info = getattr(hf, name).from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    x, enc = torch.randint(3, 99, (2, 9)), torch.randn(2, 5, 32)
    torch.testing.assert_close(
        _outputs(back.eval(), which, x, enc), _outputs(ours, which, x, enc), atol=1e-5, rtol=1e-4
    )


def test_halves_compose_as_transformers_documents(minilm_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        encoder = ws.BertModel.from_pretrained(minilm_dir)
        decoder = ws.BertLMHeadModel.from_pretrained(minilm_dir, **DECODER)
    assert "crossattention" in caplog.text  # the new weights are named
    model = ws.EncoderDecoderModel(encoder=encoder, decoder=decoder)
    torch.manual_seed(0)
    warm = ws.EncoderDecoderModel.from_encoder_decoder_pretrained(minilm_dir, minilm_dir)
    new = set(warm.newly_initialized)
    ours, theirs = model.state_dict(), warm.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours if k not in new)
    assert model.config.decoder.is_decoder and model.config.decoder.add_cross_attention


def test_dtype_auto_keeps_the_stored_dtype(tmp_path):
    _, theirs = _transformers("Bert", 0)
    theirs.to(torch.bfloat16).save_pretrained(tmp_path)
    assert (
        ws.BertModel.from_pretrained(tmp_path, dtype="auto").embeddings.word_embeddings.weight.dtype
        == torch.bfloat16
    )
    assert (
        ws.BertModel.from_pretrained(tmp_path).embeddings.word_embeddings.weight.dtype
        == torch.float32
    )


def test_loading_options_are_taken_and_typos_refused(tmp_path):
    _, theirs = _transformers("Bert", 0)
    theirs.save_pretrained(tmp_path)
    model = ws.BertModel.from_pretrained(
        tmp_path, revision=None, local_files_only=True, token=None, low_cpu_mem_usage=True
    )
    assert model.config.hidden_dropout_prob == 0.1
    assert (
        ws.BertModel.from_pretrained(tmp_path, hidden_dropout_prob=0.3).config.hidden_dropout_prob
        == 0.3
    )
    with pytest.raises(TypeError, match="is_decodr"):
        ws.BertLMHeadModel.from_pretrained(tmp_path, is_decodr=True)


def test_a_checkpoint_of_another_family_or_a_composite_is_refused(tmp_path):
    _, gpt2 = _transformers("GPT2", 1)
    gpt2.save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ValueError, match="'gpt2'.*BertModel cannot load; use AutoModel"):
        ws.BertModel.from_pretrained(tmp_path / "gpt2")
    config = ws.EncoderDecoderConfig.from_encoder_decoder_configs(
        ws.BertConfig(**TINY), ws.BertConfig(**TINY)
    )
    ws.EncoderDecoderModel(config).save_pretrained(tmp_path / "composite")
    with pytest.raises(ValueError, match="EncoderDecoderModel.from_pretrained"):
        ws.BertModel.from_pretrained(tmp_path / "composite")


def test_save_keeps_other_files_and_replaces_the_weights(tmp_path):
    _, theirs = _transformers("Bert", 0)
    theirs.save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    model = ws.BertModel.from_pretrained(tmp_path)
    model.save_pretrained(tmp_path, safe_serialization=False)
    assert (tmp_path / "vocab.txt").read_text() == "[PAD]\n"
    assert (tmp_path / "pytorch_model.bin").is_file()
    assert not (tmp_path / "model.safetensors").exists()
    again = ws.BertModel.from_pretrained(tmp_path)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())
    )


def test_a_quantised_half_is_not_saved(tmp_path):
    config = ws.EncoderDecoderConfig.from_encoder_decoder_configs(
        ws.BertConfig(**TINY), ws.BertConfig(**TINY)
    )
    model = ws.EncoderDecoderModel(config).quantize("int8")
    with pytest.raises(ValueError, match="quantised"):
        model.decoder.save_pretrained(tmp_path / "decoder")
    assert not (tmp_path / "decoder").exists()
    model.encoder.save_pretrained(tmp_path / "encoder")  # the encoder keeps full precision
    assert (tmp_path / "encoder" / "model.safetensors").is_file()


def test_loading_draws_only_the_weights_the_checkpoint_lacks(tmp_path, monkeypatch):
    """Built on the meta device to be loaded, a model draws no initial weights for what the
    checkpoint holds; the new cross-attention is still drawn (not left as garbage)."""
    hf.BertModel(hf.BertConfig(**TINY)).save_pretrained(tmp_path)
    drawn = []
    real = torch.nn.init.normal_
    monkeypatch.setattr(
        torch.nn.init, "normal_", lambda t, *a, **k: drawn.append(t.is_meta) or real(t, *a, **k)
    )
    decoder = ws.BertLMHeadModel.from_pretrained(
        tmp_path, is_decoder=True, add_cross_attention=True
    )
    assert drawn and not any(drawn)  # only real tensors: the cross-attention and the LM head
    query = decoder.bert.encoder.layer[0].crossattention.self.query.weight
    assert 0.0 < float(query.std()) < 0.1
