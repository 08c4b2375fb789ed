"""AutoModel, AutoModelForCausalLM and AutoModelForSeq2SeqLM pick the class transformers' do."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as hf
from test_pretrained import FAMILIES, _outputs, _transformers
from tiny_configs import TINY

import warmstart as ws


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("auto", ["AutoModel", "AutoModelForCausalLM"])
def test_auto_classes_pick_transformers_class_and_load_it(family, auto, tmp_path):
    which = int(auto == "AutoModelForCausalLM")
    _, theirs = _transformers(family, which)
    theirs.save_pretrained(tmp_path)
    ours = getattr(ws, auto).from_pretrained(tmp_path, local_files_only=True)
    assert type(ours).__name__ == type(getattr(hf, auto).from_pretrained(tmp_path)).__name__
    x, enc = torch.randint(3, 99, (2, 9)), torch.randn(2, 5, 32)
    torch.testing.assert_close(
        _outputs(ours, which, x, enc), _outputs(theirs, which, x, enc), atol=1e-5, rtol=1e-4
    )
    assert type(getattr(ws, auto).from_config(ours.config)) is type(ours)


def test_seq2seq_auto_class_loads_an_encoder_decoder(tmp_path):
    config = ws.EncoderDecoderConfig.from_encoder_decoder_configs(
        ws.BertConfig(**TINY), ws.BertConfig(**TINY)
    )
    model = ws.EncoderDecoderModel(config)
    model.save_pretrained(tmp_path)
    loaded = ws.AutoModelForSeq2SeqLM.from_pretrained(tmp_path, decoder_start_token_id=2)
    assert isinstance(loaded, ws.EncoderDecoderModel)
    assert loaded.config.decoder_start_token_id == 2
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), loaded.parameters()))
    assert isinstance(ws.AutoModelForSeq2SeqLM.from_config(config), ws.EncoderDecoderModel)
    with pytest.raises(ValueError, match="AutoModelForSeq2SeqLM"):
        ws.AutoModel.from_pretrained(tmp_path)


def test_wrong_auto_class_or_unknown_type_is_refused(tmp_path):
    ws.BertModel(ws.BertConfig(**TINY)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="from_encoder_decoder_pretrained"):
        ws.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "bert")
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="llama"):
        ws.AutoModelForCausalLM.from_pretrained(tmp_path / "llama")
    with pytest.raises(TypeError, match="from_pretrained"):
        ws.AutoModel()
