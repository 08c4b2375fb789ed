"""``loss_only=True``: the vocabulary logits of the labelled positions only, the same loss and
gradients as the full forward, for every decoder family."""

from __future__ import annotations

import pytest
import torch
from tiny_configs import PAIRINGS

import warmstart as ws
from warmstart import EncoderDecoderConfig, EncoderDecoderModel

TOKENS = dict(decoder_start_token_id=1, pad_token_id=0)


def tiny(name: str) -> EncoderDecoderModel:
    (enc, enc_kw), (dec, dec_kw) = PAIRINGS[name]
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        getattr(ws, enc + "Config")(**enc_kw), getattr(ws, dec + "Config")(**dec_kw), **TOKENS
    )
    torch.manual_seed(0)
    return EncoderDecoderModel(config).eval()  # no dropout: two passes see the same model


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 99, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    mask[2, 3:] = 0
    labels = torch.randint(3, 99, (3, 6), generator=g)
    labels[0, 4:] = -100  # rows of different lengths, padded with -100
    labels[2, 2:] = -100
    return {"input_ids": ids.masked_fill(mask == 0, 0), "attention_mask": mask, "labels": labels}


@pytest.mark.parametrize("name", ["bert2bert", "bert2gpt2", "bert2bart", "electra2electra"])
def test_loss_only_equals_the_full_loss_and_gradients(name: str) -> None:
    model = tiny(name)
    inputs = batch()
    full = model(**inputs)
    full.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    out = model(**inputs, loss_only=True)
    assert out.logits is None
    torch.testing.assert_close(out.loss, full.loss, rtol=1e-6, atol=1e-6)
    out.loss.backward()
    for n, p in model.named_parameters():
        if n in grads:
            torch.testing.assert_close(p.grad, grads[n], rtol=1e-5, atol=1e-6, msg=n)


def test_loss_only_computes_the_labelled_rows_only() -> None:
    model = tiny("bert2bert")
    inputs = batch()
    seen = []
    handle = model.decoder.cls.predictions.register_forward_hook(
        lambda module, args, out: seen.append(tuple(out.shape))
    )
    model(**inputs, loss_only=True)
    handle.remove()
    assert seen == [(int((inputs["labels"] != -100).sum()), model.config.decoder.vocab_size)]


def test_loss_only_needs_labels() -> None:
    model = tiny("bert2bert")
    with pytest.raises(ValueError, match="loss_only=True needs labels"):
        model(
            input_ids=batch()["input_ids"], decoder_input_ids=batch()["input_ids"], loss_only=True
        )
