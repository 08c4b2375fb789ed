"""A GPT-2 decoder built with ``add_cross_attention=True`` alone (GPT-2 is always causal) composes,
trains and generates as transformers' does (issue 15, point 2); decoders that truly cannot read the
encoder are refused with an error that says why."""

import pytest
import torch
import transformers as hf
from tiny_configs import GPT2_TINY, TINY, randomize_

from warmstart import (
    BertConfig,
    BertLMHeadModel,
    BertModel,
    EncoderDecoderModel,
    GPT2Config,
    GPT2LMHeadModel,
)

pytestmark = pytest.mark.usefixtures("one_thread")

NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
GPT2_NO_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
IDS = dict(decoder_start_token_id=2, pad_token_id=0, eos_token_id=5)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """transformers' bert2gpt2 and ours composed by hand from its two halves, saved alone: the
    GPT-2 config has add_cross_attention=True and no is_decoder."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bert2gpt2")
    encoder = randomize_(hf.BertModel(hf.BertConfig(**TINY, **NO_DROPOUT)))
    decoder = hf.GPT2Config(**GPT2_TINY, **GPT2_NO_DROPOUT, add_cross_attention=True)
    decoder = randomize_(hf.GPT2LMHeadModel(decoder))
    encoder.save_pretrained(folder / "encoder")
    decoder.save_pretrained(folder / "decoder")  # before composing: that sets is_decoder
    theirs = hf.EncoderDecoderModel(encoder=encoder, decoder=decoder)
    for key, value in IDS.items():
        setattr(theirs.config, key, value)
    decoder = GPT2LMHeadModel.from_pretrained(folder / "decoder")
    assert decoder.config.add_cross_attention and not decoder.config.is_decoder
    ours = EncoderDecoderModel(
        encoder=BertModel.from_pretrained(folder / "encoder"), decoder=decoder
    )
    for key, value in IDS.items():
        setattr(ours.config, key, value)
    return theirs, ours


def test_trains_like_transformers(pair):
    theirs, ours = pair
    x, labels = torch.randint(3, 99, (2, 7)), torch.randint(3, 99, (2, 5))
    for model in (theirs, ours):
        model.train()
        loss = model(input_ids=x, labels=labels).loss
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.sub_(0.5 * p.grad)
                    p.grad = None
        model.eval()
        model.trained_loss = loss.detach()
    torch.testing.assert_close(ours.trained_loss, theirs.trained_loss, atol=1e-5, rtol=1e-5)
    y = torch.randint(3, 99, (2, 4))
    with torch.no_grad():
        a = theirs(input_ids=x, decoder_input_ids=y).logits
        b = ours(input_ids=x, decoder_input_ids=y).logits
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generates_like_transformers(pair, num_beams):
    theirs, ours = pair
    x = torch.randint(3, 99, (3, 6))
    kw = dict(max_new_tokens=6, num_beams=num_beams, do_sample=False, **IDS)
    assert ours.generate(x, **kw).tolist() == theirs.generate(x, **kw).tolist()


def test_composes_from_modules_without_is_decoder():
    decoder = GPT2LMHeadModel(GPT2Config(**GPT2_TINY, add_cross_attention=True))
    model = EncoderDecoderModel(encoder=BertModel(BertConfig(**TINY)), decoder=decoder)
    x, y = torch.ones(1, 3, dtype=torch.long), torch.ones(1, 2, dtype=torch.long)
    assert model(input_ids=x, decoder_input_ids=y).logits.shape == (1, 2, 99)


@pytest.mark.parametrize(
    "decoder, says",
    [
        (lambda: GPT2LMHeadModel(GPT2Config(**GPT2_TINY)), "has no cross-attention layers"),
        (
            lambda: BertLMHeadModel(BertConfig(**TINY, is_decoder=True)),
            "has no cross-attention layers",
        ),
        (
            lambda: BertLMHeadModel(BertConfig(**TINY, add_cross_attention=True)),
            "has cross-attention but is_decoder=False",
        ),
    ],
)
def test_decoders_that_cannot_read_the_encoder_are_refused(decoder, says):
    module = decoder()
    module.config.add_cross_attention = True  # a flag set after building adds no layers
    with pytest.raises(ValueError, match=says):
        EncoderDecoderModel(encoder=BertModel(BertConfig(**TINY)), decoder=module)
