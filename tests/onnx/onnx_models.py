"""Helpers of the ONNX room's tests: PyTorch-side models of every pairing, their inputs, export."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import numpy as np
import torch
from tiny_configs import BERTGEN_IDS, TINY, randomize_
from tiny_configs import PAIRINGS as TINY_PAIRINGS

import warmstart.config as ws
from warmstart import EncoderDecoderConfig, EncoderDecoderModel
from warmstart.torch.export import export_onnx

PAIRINGS = {
    **TINY_PAIRINGS,
    "bertgen2bertgen": (("BertGeneration", TINY), ("BertGeneration", TINY)),
}
"""The PyTorch side's pairings and BertGeneration on both sides."""
TOKENS = dict(decoder_start_token_id=2, pad_token_id=1)
# the cross-attention output projection of every decoder family
CROSS_OUT = re.compile(
    r"(crossattention\.output\.dense|crossattention\.c_proj|encoder_attn\.out_proj)\.weight$"
)


def torch_pairing(name: str) -> EncoderDecoderModel:
    """A random PyTorch-side model of pairing ``name`` that reads its input (the random cross-
    attention output is made larger, as tiny random decoders barely read the encoder)."""
    (enc, enc_kw), (dec, dec_kw) = PAIRINGS[name]
    tokens = BERTGEN_IDS if enc == "BertGeneration" else TOKENS
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        getattr(ws, enc + "Config")(**enc_kw), getattr(ws, dec + "Config")(**dec_kw), **tokens
    )
    model = randomize_(EncoderDecoderModel(config)).eval()
    model.generation_config.eos_token_id = None
    model.config.eos_token_id = None
    with torch.no_grad():
        for key, param in model.decoder.named_parameters():
            if CROSS_OUT.search(key):
                param.mul_(10)
    return model


def source(pad: int, B: int = 4, S: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Rows that differ, right-padded to different lengths: ids and mask (B, S)."""
    g = np.random.default_rng(1)
    x = g.integers(4, 99, (B, S))
    mask = np.ones_like(x)
    for row in range(1, B):
        mask[row, S - 2 * row :] = 0
    return np.where(mask == 1, x, pad), mask


def pick_eos(sequences: np.ndarray, special: set[int]) -> int:
    """A token that greedy decoding emits in some rows but not all: as eos it ends those rows
    early and leaves the others running."""
    rows = [set(row[1:].tolist()) for row in sequences]
    for token in sequences[:, 1:].T.flatten().tolist():
        holders = sum(token in r for r in rows)
        if token not in special and 0 < holders < len(rows):
            return token
    raise AssertionError(f"every row decodes alike: {sequences.tolist()}")


def export(model: EncoderDecoderModel, folder: Path, **kw) -> Path:
    return export_onnx(model, folder, **kw)
