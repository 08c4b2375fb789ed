"""Loading an ``EncoderDecoderModel``'s halves from two pretrained checkpoints."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from .. import hub
from . import checkpoint
from .families import family


def pretrained_half(
    side: str, path: str | os.PathLike | None, options: dict[str, Any], dtype: torch.dtype
) -> tuple[nn.Module, list[str]]:
    """Build one side from a checkpoint (or take ``options['model']``); return it and its new keys."""
    if options.get("model") is not None:
        return options["model"], []
    if path is None:
        raise ValueError(f"Pass the {side} checkpoint (a folder or repo id) or {side}_model=.")
    folder = hub.resolve(path)
    config = options.pop("config", None)
    if config is None:
        config = checkpoint.read_config(folder)
        config.is_decoder = config.add_cross_attention = side == "decoder"
    elif side == "decoder":  # a decoder_config= made for the checkpoint alone, as transformers does
        config.is_decoder = config.add_cross_attention = True
    checkpoint.refuse_composite(config, folder)
    for key, value in options.items():
        setattr(config, key, value)
    fam = family(config)
    cls = fam.decoder if side == "decoder" else fam.encoder
    return checkpoint.load_module(cls, folder, config, dtype)
