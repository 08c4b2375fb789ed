"""tie_encoder_decoder (Rothe et al.'s BERTShare/RoBERTaShare): the encoder shares the decoder body's
parameters; the tie survives loading, warm starts, dtype moves, training and saving, and a tied
checkpoint loads in transformers 5 (which no longer ties) with equal logits."""

from __future__ import annotations

import pytest
import torch
import transformers as hf
from safetensors.torch import load_file, save_file
from tiny_configs import GPT2_TINY, TINY, padded_batch

from warmstart import (
    BertConfig,
    EncoderDecoderConfig,
    EncoderDecoderModel,
    GPT2Config,
    RobertaConfig,
)

TOKENS = dict(decoder_start_token_id=2, pad_token_id=1)
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(family=BertConfig, tie: bool = True, **sizes) -> EncoderDecoderModel:
    kw = {**TINY, **sizes}
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        family(**kw), family(**kw), tie_encoder_decoder=tie, **TOKENS
    )
    return EncoderDecoderModel(config)


def _assert_shared(model: EncoderDecoderModel) -> None:
    params = dict(model.named_parameters(remove_duplicate=False))
    assert model.shared_parameter_names
    for enc, dec in model.shared_parameter_names:
        assert params[enc] is params[dec], enc


def _logits(model, batch):
    x, mask, y = batch
    with torch.no_grad():
        return model(input_ids=x, attention_mask=mask, labels=y).logits


def _bert2bert_counts(c: BertConfig) -> tuple[int, int]:
    """Parameters of a bert2bert, untied and tied, counted by hand from the config's sizes."""
    V, H, I, L = c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers
    P, T = c.max_position_embeddings, c.type_vocab_size
    linear = lambda n_in, n_out: n_in * n_out + n_out  # noqa: E731
    norm = 2 * H
    embeddings = (V + P + T) * H + norm
    attention = 4 * linear(H, H) + norm  # query, key, value, output; LayerNorm
    feed_forward = linear(H, I) + linear(I, H) + norm
    pooler = linear(H, H)
    head = linear(H, H) + norm + V  # transform, LayerNorm, bias (projection tied to embeddings)
    decoder = embeddings + L * (2 * attention + feed_forward) + head  # self- and cross-attention
    encoder_only = embeddings + L * (attention + feed_forward)  # what the encoder shares
    return encoder_only + pooler + decoder, pooler + decoder


def test_bert2bert_shares_the_body_and_counts_fewer_parameters():
    untied, tied = _model(tie=False), _model()
    _assert_shared(tied)
    enc, dec = tied.encoder, tied.decoder.bert
    assert enc.embeddings.word_embeddings.weight is dec.embeddings.word_embeddings.weight
    assert dec.embeddings.word_embeddings.weight is tied.decoder.cls.predictions.decoder.weight
    assert (
        enc.encoder.layer[1].attention.self.query.weight
        is dec.encoder.layer[1].attention.self.query.weight
    )
    assert enc.encoder.layer[1].output.LayerNorm.bias is dec.encoder.layer[1].output.LayerNorm.bias
    assert not any("crossattention" in e or "pooler" in e for e, _ in tied.shared_parameter_names)
    expected_untied, expected_tied = _bert2bert_counts(tied.config.encoder)
    assert untied.num_parameters() == expected_untied
    assert tied.num_parameters() == expected_tied
    print(f"tiny bert2bert: {expected_untied:,} parameters, {expected_tied:,} tied")


def test_pairs_that_cannot_be_tied_are_clear_errors():
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), GPT2Config(**GPT2_TINY), tie_encoder_decoder=True
    )
    with pytest.raises(ValueError, match=r"bert encoder and a gpt2 decoder.*bert2bert"):
        EncoderDecoderModel(config)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**{**TINY, "hidden_size": 48}), BertConfig(**TINY), tie_encoder_decoder=True
    )
    with pytest.raises(ValueError, match="same sizes"):
        EncoderDecoderModel(config)


def test_tied_checkpoint_writes_both_names_and_loads_in_both_libraries(tmp_path):
    ours = _model().eval()
    ours.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    for enc, dec in ours.shared_parameter_names:
        assert torch.equal(saved[enc], saved[dec]), enc
    assert "decoder.cls.predictions.decoder.weight" not in saved  # the LM head's tie is kept
    batch = padded_batch(99, pad=1)
    again = EncoderDecoderModel.from_pretrained(tmp_path)
    _assert_shared(again)
    assert again.num_parameters() == ours.num_parameters()
    torch.testing.assert_close(_logits(again, batch), _logits(ours, batch), rtol=0, atol=0)
    theirs, info = hf.EncoderDecoderModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    torch.testing.assert_close(_logits(theirs.eval(), batch), _logits(ours, batch))


def test_checkpoint_with_only_the_decoder_names_loads_tied(tmp_path):
    """transformers 4.x drops the encoder's names of shared tensors when it saves."""
    ours = _model().eval()
    ours.save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    state = load_file(path)
    for enc, _ in ours.shared_parameter_names:
        del state[enc]
    save_file(state, path, metadata={"format": "pt"})
    again = EncoderDecoderModel.from_pretrained(tmp_path)
    _assert_shared(again)
    for (name, p), q in zip(ours.state_dict().items(), again.state_dict().values()):
        assert torch.equal(p, q), name


def test_checkpoint_trained_apart_by_transformers_5_loads_apart(tmp_path, caplog):
    """transformers 5 keeps the two sides apart whatever tie_encoder_decoder says; a checkpoint it
    trained has different encoder and decoder weights, and tying them would silently drop the
    encoder's."""
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.BertConfig(**TINY), tie_encoder_decoder=True, **TOKENS
    )
    theirs = hf.EncoderDecoderModel(config).eval()
    with torch.no_grad():
        theirs.encoder.encoder.layer[0].attention.self.query.weight.add_(0.5)
    theirs.save_pretrained(tmp_path)
    with caplog.at_level("WARNING", logger="warmstart"):
        ours = EncoderDecoderModel.from_pretrained(tmp_path)
    assert "loaded apart" in caplog.text and not ours.shared_parameter_names
    assert ours.num_parameters() == theirs.num_parameters()
    batch = padded_batch(99, pad=1)
    torch.testing.assert_close(_logits(ours, batch), _logits(theirs, batch))
    ours.save_pretrained(tmp_path / "again")  # and stays apart through a save
    again = EncoderDecoderModel.from_pretrained(tmp_path / "again")
    torch.testing.assert_close(_logits(again, batch), _logits(theirs, batch))


def test_warm_start_ties_to_the_decoder_checkpoint_and_survives_to(tmp_path):
    hf.BertModel(hf.BertConfig(**TINY)).save_pretrained(tmp_path / "enc")
    decoder = hf.BertForMaskedLM(hf.BertConfig(**TINY))
    decoder.save_pretrained(tmp_path / "dec")
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        str(tmp_path / "enc"), str(tmp_path / "dec"), tie_encoder_decoder=True, **TOKENS
    )
    _assert_shared(model)
    # as in transformers 4.x the decoder's checkpoint wins
    word = decoder.bert.embeddings.word_embeddings.weight
    assert torch.equal(model.encoder.embeddings.word_embeddings.weight, word)
    model.to(torch.float64)
    _assert_shared(model)
    assert model.dtype == torch.float64


def test_roberta_share_trains_saves_and_loads_tied(tmp_path):
    torch.manual_seed(0)
    model = _model(RobertaConfig, **NO_DROPOUT).train()
    shared = {
        enc: dict(model.named_parameters(remove_duplicate=False))[enc]
        for enc, _ in model.shared_parameter_names
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x, mask, y = padded_batch(99, B=2, pad=1)
    losses = []
    for _ in range(20):
        loss = model(input_ids=x, attention_mask=mask, labels=y).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    print(f"robertaShare loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[-1] < 0.5 * losses[0]
    _assert_shared(model)
    params = dict(model.named_parameters(remove_duplicate=False))
    assert all(params[name] is p for name, p in shared.items())  # still the same objects
    model.eval().save_pretrained(tmp_path)
    again = EncoderDecoderModel.from_pretrained(tmp_path)
    _assert_shared(again)
    batch = (x, mask, y)
    torch.testing.assert_close(_logits(again, batch), _logits(model, batch), rtol=0, atol=0)
