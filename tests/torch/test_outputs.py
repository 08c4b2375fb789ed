"""Model outputs read like transformers' ModelOutput: by attribute, key, position and as a mapping."""

import pytest
import torch
import transformers as hf
from tiny_configs import TINY, padded_batch

from warmstart import EncoderDecoderModel, GenerateOutput


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """The same forward through transformers and warmstart (no cache: ours returns none)."""
    torch.manual_seed(0)
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.BertConfig(**TINY)
    )
    config.decoder_start_token_id, config.pad_token_id = 2, 0
    theirs = hf.EncoderDecoderModel(config).eval()
    folder = tmp_path_factory.mktemp("outputs")
    theirs.save_pretrained(folder)
    ours = EncoderDecoderModel.from_pretrained(folder)
    x, mask, y = padded_batch(TINY["vocab_size"])
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask, labels=y, use_cache=False)
        b = ours(input_ids=x, attention_mask=mask, labels=y)
        encoded = (theirs.encoder(input_ids=x), ours.encoder(x))
        h = encoded[0].last_hidden_state
        decoded = (
            theirs.get_decoder()(y.clamp(min=0), encoder_hidden_states=h, use_cache=False),
            ours.get_decoder()(y.clamp(min=0), encoder_hidden_states=h),
        )
    return a, b, encoded, decoded


def test_forward_output_reads_like_transformers(outputs):
    a, b, _, _ = outputs
    assert list(b.keys()) == list(a.keys()) == list(b) == list(a)
    assert len(b) == len(a) and ("loss" in b) and ("cache" not in b)
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(b.get(key), a.get(key), atol=1e-5, rtol=1e-4)
    for i in range(len(a)):
        torch.testing.assert_close(b[i], a[i], atol=1e-5, rtol=1e-4)
    assert len(b[:2]) == 2 and len(b.to_tuple()) == len(a.to_tuple())
    assert dict(b).keys() == dict(a).keys()
    assert b.get("cache", "none") == "none" and b.past_key_values is None
    with pytest.raises(KeyError):
        b["cache"]


def test_encoder_output_reads_like_transformers(outputs):
    _, _, (a, b), _ = outputs
    assert list(b.keys()) == list(a.keys())
    torch.testing.assert_close(b["last_hidden_state"], a["last_hidden_state"])
    torch.testing.assert_close(b[0], a[0])


def test_decoder_output_reads_like_transformers(outputs):
    """``model.get_decoder()(...)[0]`` is the (B, T, V) logits in both, not the first row."""
    a, b = outputs[3]
    assert b[0].shape == a[0].shape == a.logits.shape
    torch.testing.assert_close(b[0], a[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=1e-4)
    assert list(b.keys()) == ["logits"]


def test_generate_output_by_key_and_position():
    out = GenerateOutput(torch.ones(2, 3, dtype=torch.long), scores=(torch.zeros(2, 5),))
    assert out["sequences"] is out.sequences is out[0]
    assert list(out.keys()) == ["sequences", "scores"] and "sequences_scores" not in out
