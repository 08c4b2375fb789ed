"""The transformers generation options through ``EncoderDecoderModel.generate``: each arrives via
``config.update(**kwargs)`` and gives what transformers' ``generate`` gives."""

from __future__ import annotations

import types

import pytest
import torch
from tiny_configs import IDS, tiny_bert2bert
from transformers.generation import stopping_criteria

from warmstart.torch.generation import GenerationConfig, search


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    torch.manual_seed(0)
    return tiny_bert2bert(tmp_path_factory.mktemp("tiny") / "model")


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randint(4, 99, (3, 8), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(x)
    mask[2, 5:] = 0
    return x.masked_fill(mask == 0, 0), mask


def both(pair, seed: int = 0, **options):
    theirs, ours = pair
    x, mask = _source()
    kw = dict(return_dict_in_generate=True, output_scores=True, max_new_tokens=8, **options)
    torch.manual_seed(seed)
    a = theirs.generate(x, attention_mask=mask, **IDS, **kw)
    torch.manual_seed(seed)
    b = ours.generate(x, attention_mask=mask, **kw)
    assert torch.equal(b.sequences, a.sequences)
    return a, b


def test_use_cache_field(pair):
    _, ours = pair
    assert ours.generation_config.use_cache is True
    assert GenerationConfig(use_cache=False).use_cache is False
    _, b = both(pair, use_cache=False, num_beams=2)
    assert b.sequences_scores is not None


@pytest.mark.parametrize(
    "options",
    [
        dict(output_logits=True),
        dict(output_logits=True, num_beams=3, num_return_sequences=2),
        dict(output_logits=True, do_sample=True, typical_p=0.9, epsilon_cutoff=0.01),
        dict(sequence_bias=[[[3], 1.0]], encoder_repetition_penalty=1.3, renormalize_logits=True),
        dict(exponential_decay_length_penalty=(2, 1.4), begin_suppress_tokens=[3, 5], num_beams=2),
    ],
)
def test_options_match_transformers(pair, options):
    a, b = both(pair, seed=2, **options)
    for mine, theirs in zip(b.scores, a.scores, strict=True):
        torch.testing.assert_close(mine, theirs)
    if options.get("output_logits"):
        for mine, theirs in zip(b.logits, a.logits, strict=True):
            torch.testing.assert_close(mine, theirs)
    if options.get("num_beams", 1) > 1:
        assert torch.equal(b.beam_indices, a.beam_indices)


def test_max_time(pair, monkeypatch):
    clock = types.SimpleNamespace(now=0.0)
    hooks = [
        m.decoder.register_forward_hook(lambda *a: setattr(clock, "now", clock.now + 1))
        for m in pair
    ]
    monkeypatch.setattr(search, "monotonic", lambda: clock.now)
    monkeypatch.setattr(stopping_criteria, "time", types.SimpleNamespace(time=lambda: clock.now))
    try:
        for options in (dict(), dict(num_beams=2)):
            _, b = both(pair, max_time=1.5, **options)
            assert b.sequences.shape[1] == 3  # the start token and two steps
    finally:
        for hook in hooks:
            hook.remove()


def test_unimplemented_and_unknown_options(pair):
    _, ours = pair
    x, mask = _source()
    with pytest.raises(ValueError, match="guidance_scale"):
        ours.generate(x, attention_mask=mask, guidance_scale=2.0)
    with pytest.raises(TypeError, match="not_an_option"):
        ours.generate(x, attention_mask=mask, not_an_option=1)
