"""Tiny model configs and random perturbation shared by the tests and the device check
(`benchmarks/device_check.py`); nothing here needs more than torch."""

from __future__ import annotations

import torch

TINY = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
)
WIDE = dict(TINY, hidden_size=48)  # a wider encoder: enc_to_dec_proj maps 48 -> 32
GPT2_TINY = dict(
    vocab_size=99,
    n_embd=32,
    n_layer=2,
    n_head=4,
    n_inner=37,
    n_positions=64,
    bos_token_id=2,
    eos_token_id=2,
)
BART_TINY = dict(
    vocab_size=99,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=37,
    decoder_ffn_dim=37,
    max_position_embeddings=64,
)


def randomize_(model: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """Perturb every parameter, so that zero biases and unit LayerNorm weights of a fresh model
    cannot hide a wrong bias, scale or order of operations."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * std)
    return model
