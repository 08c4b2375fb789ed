"""Checkpoints on disk to TensorFlow models and back, through numpy: the PyTorch layout
(``model.safetensors`` / ``pytorch_model.bin``, read by :func:`warmstart.hub.load_arrays`) both ways,
and transformers 4.x's ``tf_model.h5`` read (:mod:`.h5`). Key maps are the core's
(:mod:`warmstart.keys`); GPT-2's Conv1D transpose is ``np.transpose``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from .. import families, hub, keys
from ..config import Config, EncoderDecoderConfig
from ..config import read_config as read_config  # the core's, read here by the TF loaders

logger = logging.getLogger("warmstart")

TF_WEIGHTS = "tf_model.h5"


def _transpose(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a).T)


def load_arrays(folder: Path) -> dict[str, np.ndarray]:
    """A folder's tensors under PyTorch's names: its safetensors or pickle weights, else a
    transformers 4.x ``tf_model.h5`` (renamed to PyTorch's names)."""
    has_pt = any((folder / name).is_file() for name in hub.WEIGHT_FILES)
    if not has_pt and (folder / TF_WEIGHTS).is_file():
        from .h5 import read_h5

        return read_h5(folder / TF_WEIGHTS)
    return hub.load_arrays(folder)


def from_checkpoint(config: Config, state: dict, as_decoder: bool) -> tuple[dict, list[str]]:
    return keys.to_model(families.FAMILIES[config.model_type].layout, state, as_decoder, _transpose)


def to_checkpoint(config: Config, state: dict, as_decoder: bool) -> dict[str, np.ndarray]:
    """This side's arrays under transformers' names; an array under two names is copied."""
    layout = families.FAMILIES[config.model_type].layout
    out: dict[str, np.ndarray] = {}
    seen: set[int] = set()
    for k, v in keys.to_checkpoint(layout, state, as_decoder, _transpose).items():
        out[k] = np.array(v) if id(v) in seen else np.ascontiguousarray(v)
        seen.add(id(v))
    return out


def load_half(model: Any, folder: Path) -> list[str]:
    """Load one encoder or decoder checkpoint into ``model``; return the names it lacked (the
    decoder's new cross-attention), which keep their random initialisation."""
    state, dropped = from_checkpoint(model.config, load_arrays(folder), model.is_decoder_class)
    if dropped:
        logger.info("Not used by the %s: %s", type(model).__name__, "; ".join(dropped[:6]))
    return model.assign_state(state, strict=False)


def split_composite(state: dict, config: EncoderDecoderConfig) -> dict[str, dict]:
    """A composite checkpoint's ``encoder.*``/``decoder.*`` arrays under each half's names, and
    the rest (``enc_to_dec_proj``) under ``""``."""
    out: dict[str, dict] = {}
    for side, cfg in (("encoder", config.encoder), ("decoder", config.decoder)):
        prefix = side + "."
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        out[side], _ = from_checkpoint(cfg, part, side == "decoder")
    out[""] = {k: v for k, v in state.items() if not k.startswith(("encoder.", "decoder."))}
    return out


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
