"""Checkpoints on disk to modules and back: config.json, key fixes per family, meta-device loading.

A composite checkpoint holds ``encoder.*`` and ``decoder.*`` tensors under transformers' names; each
half's family maps them onto its modules (``fix_keys``) and back (``to_hf_keys``). Modules are built on
the meta device and take the checkpoint's tensors as they are (``load_state_dict(assign=True)``); what
the checkpoint lacks is initialised and reported by name.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import hub
from .config import CONFIG_NAME, Config, EncoderDecoderConfig, config_from_dict
from .models import family

logger = logging.getLogger("warmstart")


def read_config(folder: Path) -> Config:
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"No {CONFIG_NAME} in {folder}: is this a saved model folder?")
    return config_from_dict(hub.load_json(path))


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
        config = read_config(folder)
        config.is_decoder = config.add_cross_attention = side == "decoder"
    elif side == "decoder":  # a decoder_config= made for the checkpoint alone, as transformers does
        config.is_decoder = config.add_cross_attention = True
    if isinstance(config, EncoderDecoderConfig):
        raise ValueError(f"{folder} is a whole encoder-decoder; load it with from_pretrained.")
    for key, value in options.items():
        setattr(config, key, value)
    fam = family(config)
    with torch.device("meta"):
        module = (fam.decoder if side == "decoder" else fam.encoder)(config)
    state, dropped = fam.fix_keys(hub.load_weights(folder), side == "decoder")
    if dropped:
        logger.info("Not used by the %s: %s", side, "; ".join(summarize_keys(dropped)))
    missing = load_into(module, state, dtype, lambda _: module._init_weights, drop_unknown=True)
    return module, missing


def split_composite(state: dict[str, Tensor], config: EncoderDecoderConfig) -> dict[str, Tensor]:
    """Apply each half's key fixes to a composite checkpoint's ``encoder.*``/``decoder.*`` tensors."""
    out: dict[str, Tensor] = {}
    for side, cfg in (("encoder", config.encoder), ("decoder", config.decoder)):
        prefix = side + "."
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        fixed, _ = family(cfg).fix_keys(part, side == "decoder")
        out.update({prefix + k: v for k, v in fixed.items()})
    out.update({k: v for k, v in state.items() if not k.startswith(("encoder.", "decoder."))})
    return out


def to_hf_layout(state: dict[str, Tensor], config: EncoderDecoderConfig) -> dict[str, Tensor]:
    """The inverse of ``split_composite``: each half's tensors in transformers' layout (GPT-2's
    Conv1D weights transposed back)."""
    out = dict(state)
    for side, cfg in (("encoder", config.encoder), ("decoder", config.decoder)):
        prefix = side + "."
        part = {k[len(prefix) :]: out.pop(k) for k in list(out) if k.startswith(prefix)}
        exported = family(cfg).to_hf_keys(part, side == "decoder")
        out.update({prefix + k: v for k, v in exported.items()})
    return out


def load_into(
    module: nn.Module,
    state: dict[str, Tensor],
    dtype: torch.dtype,
    init_for,
    drop_unknown: bool = False,
) -> list[str]:
    """Load ``state`` into a module built on the meta device; initialise what the state lacks.

    Unknown keys raise, or with ``drop_unknown`` are dropped with a warning (a warm start that keeps
    fewer layers than the checkpoint has). Returns the names of parameters that were newly initialised
    (tied aliases excluded).
    """
    expected = dict(module.named_parameters(remove_duplicate=False))
    unknown = sorted(set(state) - set(expected))
    if unknown and drop_unknown:
        logger.warning("Not used from the checkpoint: %s", "; ".join(summarize_keys(unknown)))
        state = {k: v for k, v in state.items() if k in expected}
    elif unknown:
        raise ValueError(
            f"The checkpoint has {len(unknown)} tensors this model has no place for: "
            f"{', '.join(summarize_keys(unknown))}. Is it for another architecture?"
        )
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    shapes = [k for k, v in state.items() if v.shape != expected[k].shape]
    if shapes:
        k = shapes[0]
        raise ValueError(
            f"Shape mismatch for {k}: checkpoint {tuple(state[k].shape)}, model "
            f"{tuple(expected[k].shape)} (and {len(shapes) - 1} more). Does config.json match?"
        )
    module.load_state_dict(state, strict=False, assign=True)
    # tie first: an alias of a loaded tensor is not missing, and the init below would also reset
    # what its module did load (ELECTRA's tied generator_lm_head and its bias)
    module.tie_weights()
    for name, sub in module.named_modules():
        if any(p.is_meta for p in sub.parameters(recurse=False)):
            sub.to_empty(device="cpu", recurse=False)
            sub.to(dtype)
            init_for(name + ".")(sub)
    module.tie_weights()
    aliases = {n for n, p in module.named_parameters(remove_duplicate=False)} - set(
        dict(module.named_parameters())
    )
    return sorted(k for k in expected if k not in state and k not in aliases)


def dedupe_tied(model: nn.Module) -> dict[str, Tensor]:
    """The state dict with each shared tensor written once, under its first name."""
    seen: set[int] = set()
    out: dict[str, Tensor] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        out[name] = tensor.detach()
    return out


def float_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None or dtype == "auto":
        return torch.float32
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(
            f"dtype must be a floating torch dtype such as torch.float32, not {dtype!r}."
        )
    return dtype


def summarize_keys(keys: list[str]) -> list[str]:
    """Group parameter names that differ only in layer numbers: ``layer.[0-5].crossattention...``."""
    groups: dict[str, set[int]] = {}
    for key in keys:
        numbers = [int(n) for n in re.findall(r"\.(\d+)\.", key)]
        pattern = re.sub(r"\.(\d+)\.", ".{}.", key)
        groups.setdefault(pattern, set()).update(numbers[:1])
    out = []
    for pattern, numbers in groups.items():
        if numbers:
            lo, hi = min(numbers), max(numbers)
            span = str(lo) if lo == hi else f"[{lo}-{hi}]"
            pattern = pattern.replace("{}", span, 1).replace("{}", "*")
        out.append(pattern)
    return _merge_suffixes(out)


def _merge_suffixes(names: list[str]) -> list[str]:
    """``a.weight`` and ``a.bias`` -> ``a.{weight,bias}``."""
    merged: dict[str, list[str]] = {}
    for name in names:
        stem, _, leaf = name.rpartition(".")
        merged.setdefault(stem, []).append(leaf)
    return [
        f"{s}.{{{','.join(ls)}}}" if len(ls) > 1 else f"{s}.{ls[0]}" for s, ls in merged.items()
    ]


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
