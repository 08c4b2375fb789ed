"""Checks every family's tests share: load a transformers model's weights through the family's
``fix_keys``, then compare encoder states, decoder logits, and cached against uncached decoding."""

from __future__ import annotations

import torch
from tiny_configs import randomize_
from torch import nn

from warmstart import families, keys


def _as_is(t):
    return t  # the modules' state dicts hold GPT-2's Conv1D weights as transformers does


def key_fixes(model_type: str):
    """The family's checkpoint -> state-dict key map and its inverse, as the PyTorch loader applies
    them (names only: load_state_dict takes transformers' layout)."""

    layout = families.FAMILIES[model_type].layout

    def fix_keys(state, as_decoder):
        return keys.to_model(layout, state, as_decoder, _as_is)

    def to_hf_keys(state, as_decoder):
        return keys.to_checkpoint(layout, state, as_decoder, _as_is)

    return fix_keys, to_hf_keys


def load_reference(ours: nn.Module, theirs: nn.Module, fix_keys, as_decoder: bool) -> nn.Module:
    """Perturb ``theirs``' weights, then load them into ``ours`` through ``fix_keys``; every tensor
    must find a place and every parameter of ours must be filled (tied aliases aside)."""
    randomize_(theirs)
    state, _ = fix_keys(theirs.state_dict(), as_decoder)
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    ours.tie_weights()
    aliases = {n for n, _ in ours.named_parameters(remove_duplicate=False)}
    aliases -= {n for n, _ in ours.named_parameters()}
    assert set(missing) <= aliases, set(missing) - aliases
    return ours.eval()


def padded(vocab: int, pad: int, B: int = 3, T: int = 9):
    """Ids with right padding (pad ids where the mask is 0) and the mask."""
    x = torch.randint(3, vocab, (B, T))
    mask = torch.ones_like(x)
    mask[1, T - 4 :] = 0
    mask[B - 1, 2:] = 0
    return x.masked_fill(mask == 0, pad), mask


def assert_encoder_matches(theirs: nn.Module, ours: nn.Module, vocab: int, pad: int) -> float:
    x, mask = padded(vocab, pad)
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask).last_hidden_state
        b = ours(x, attention_mask=mask).last_hidden_state
    keep = mask.bool()
    torch.testing.assert_close(b[keep], a[keep], atol=1e-5, rtol=1e-4)
    return (b[keep] - a[keep]).abs().max().item()


def assert_decoder_matches(theirs: nn.Module, ours: nn.Module, vocab: int, pad: int, width: int):
    y, ymask = padded(vocab, pad, B=2, T=6)
    enc = torch.randn(2, 5, width)
    emask = torch.tensor([[1] * 5, [1] * 3 + [0] * 2])
    with torch.no_grad():
        a = theirs(
            input_ids=y,
            attention_mask=ymask,
            encoder_hidden_states=enc,
            encoder_attention_mask=emask,
        ).logits
        b = ours(y, ymask, enc, emask).logits
    keep = ymask.bool()
    torch.testing.assert_close(b[keep], a[keep], atol=1e-5, rtol=1e-4)
    return (b[keep] - a[keep]).abs().max().item()


def assert_cached_equals_uncached(ours: nn.Module, vocab: int, width: int) -> float:
    randomize_(ours)
    y = torch.randint(3, vocab, (2, 7))
    enc, emask = torch.randn(2, 5, width), torch.tensor([[1] * 5, [1] * 3 + [0] * 2])
    with torch.no_grad():
        full = ours(y, None, enc, emask).logits
        cache = ours.new_cache(2, 4)  # smaller than needed: the cache grows
        steps = [ours(y[:, :3], None, enc, emask, cache=cache).logits]
        steps += [ours(y[:, t : t + 1], None, enc, emask, cache=cache).logits for t in range(3, 7)]
    stepped = torch.cat(steps, 1)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)
    assert cache.length == 7
    assert all(kv is not None for kv in cache.cross)  # cross-attention K/V projected once, kept
    return (stepped - full).abs().max().item()
