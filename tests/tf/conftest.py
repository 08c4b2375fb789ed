"""Fixtures of the TensorFlow side's tests: folders saved by the PyTorch side (the reference), and
the TF models loaded from them, built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

import torch
from tiny_configs import PAIRINGS, randomize_
from torch_fixtures import _default_product_paths, _seed  # noqa: F401

import warmstart.config as ws
from warmstart import EncoderDecoderConfig, EncoderDecoderModel

TOKENS = dict(decoder_start_token_id=2, pad_token_id=1, eos_token_id=3)


def torch_pairing(name: str, std: float = 0.05) -> EncoderDecoderModel:
    """A random PyTorch-side model of pairing ``name``."""
    (enc, enc_kw), (dec, dec_kw) = PAIRINGS[name]
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        getattr(ws, enc + "Config")(**enc_kw), getattr(ws, dec + "Config")(**dec_kw), **TOKENS
    )
    return randomize_(EncoderDecoderModel(config), std).eval()


@pytest.fixture(scope="module")
def pairing_dirs(tmp_path_factory) -> dict[str, Path]:
    """Every pairing saved by the PyTorch side."""
    torch.manual_seed(0)
    out = {}
    for name in PAIRINGS:
        out[name] = tmp_path_factory.mktemp(name)
        torch_pairing(name).save_pretrained(out[name])
    return out


@pytest.fixture(scope="module")
def generating_dir(tmp_path_factory) -> Path:
    """A tiny bert2bert whose rows end at different steps (eos made likelier), saved by PyTorch."""
    torch.manual_seed(0)
    model = torch_pairing("bert2bert", std=0.3)
    with torch.no_grad():
        model.decoder.cls.predictions.bias[TOKENS["eos_token_id"]] += 1.5
    folder = tmp_path_factory.mktemp("generating")
    model.save_pretrained(folder)
    return folder
