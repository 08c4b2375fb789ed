"""Checkpoints on disk to modules and back: config.json, key fixes per family, meta-device loading.

A composite checkpoint holds ``encoder.*`` and ``decoder.*`` tensors under transformers' names; each
half's family maps them onto its modules and back (:mod:`warmstart.keys`, names only). Modules are built on
the meta device and take the checkpoint's tensors as they are (``load_state_dict(assign=True)``); what
the checkpoint lacks is initialised and reported by name.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import families, hub, keys
from ..config import (
    CONFIG_NAME,
    Config,
    EncoderDecoderConfig,
    check_attn_implementation,
    read_config,
    set_fields,
)
from ..hub import write_text_atomic
from .heads import LMHeadDecoder
from .speed.quantize import WeightOnlyLinear
from .weights import load_weights, write_weights

logger = logging.getLogger("warmstart")

IGNORED_LOAD_OPTIONS = (
    *hub.DOWNLOAD_ONLY_OPTIONS,
    "low_cpu_mem_usage",
    "use_safetensors",
)
"""transformers' ``from_pretrained`` options with nothing to do here: the weights load the same."""


def load_module(
    cls: type[nn.Module], folder: Path, config: Config, dtype: torch.dtype | str
) -> tuple[nn.Module, list[str]]:
    """Build ``cls`` (its family's encoder or decoder) from ``config`` on the meta device and load
    the checkpoint in ``folder`` into it, in ``dtype`` (``"auto"``: as stored). Tensors it has no
    place for (another head, say) are dropped; what it lacks is initialised. Returns the module and
    the names of the new parameters."""
    with torch.device("meta"):
        module = cls(config)
    state, dropped = from_checkpoint(config, load_weights(folder), issubclass(cls, LMHeadDecoder))
    if dropped:
        logger.info("Not used by the %s: %s", cls.__name__, "; ".join(summarize_keys(dropped)))
    if dtype == "auto":
        dtype = stored_dtype(state)
    init = lambda _: module._init_weights  # noqa: E731
    return module, load_into(module, state, float_dtype(dtype), init, drop_unknown=True)


def pretrained_module(
    cls: type[nn.Module],
    path: str | os.PathLike,
    config: Config | None,
    dtype: torch.dtype | str | None,
    options: dict[str, Any],
) -> nn.Module:
    """``cls.from_pretrained``: one encoder or decoder of a family, as transformers loads it alone.

    The config is the checkpoint's (or ``config``) with ``options`` that name its fields set
    (``is_decoder=True, add_cross_attention=True`` make a decoder for a composite); transformers'
    lookup options say where to look. New parameters are logged by name.

    Raises:
        ValueError: the checkpoint is a whole encoder-decoder, or of another family than ``cls``.
        TypeError: an option that is neither a config field nor a loading option.
    """
    for name in IGNORED_LOAD_OPTIONS:
        options.pop(name, None)
    attn_implementation = options.pop("attn_implementation", None)
    check_attn_implementation(attn_implementation)
    folder = hub.resolve_with(path, options)
    config = read_config(folder) if config is None else config
    refuse_composite(config, folder)
    if attn_implementation is not None:
        config._attn_implementation = attn_implementation
    if config.model_type not in cls.model_types:
        auto = "AutoModelForCausalLM" if issubclass(cls, LMHeadDecoder) else "AutoModel"
        raise ValueError(
            f"{folder} holds a {config.model_type!r} model, which {cls.__name__} cannot load; "
            f"use {auto}.from_pretrained, which picks the class for it."
        )
    set_fields(config, options, f"{cls.__name__}.from_pretrained()")
    module, missing = load_module(cls, folder, config, dtype)
    if missing:
        logger.warning(
            "Newly initialised in %s (train before use): %s",
            cls.__name__,
            "; ".join(summarize_keys(missing)),
        )
    return module.eval()


def save_module(module: nn.Module, directory: str | os.PathLike, safe: bool = True) -> None:
    """``save_pretrained`` of one encoder or decoder: config.json and its weights under
    transformers' names (its class's ``architectures``), atomically, other files kept.

    Raises:
        ValueError: the module's weights are quantised (``EncoderDecoderModel.quantize``).
    """
    if any(isinstance(m, WeightOnlyLinear) for m in module.modules()):
        raise ValueError(
            f"This {type(module).__name__} has quantised weights, for inference only, and cannot "
            "be saved; load the full-precision model again for that."
        )
    state = to_checkpoint(module.config, dedupe_tied(module), isinstance(module, LMHeadDecoder))
    config = module.config.to_dict()
    config["architectures"] = [type(module).__name__]
    config["dtype"] = str(next(module.parameters()).dtype).removeprefix("torch.")
    with hub.atomic_folder(directory, replaces=(CONFIG_NAME, *hub.WEIGHT_FILES)) as tmp:
        write_text_atomic(tmp / CONFIG_NAME, to_json(config))
        write_weights(state, tmp, safe)


def stored_dtype(state: dict[str, Tensor]) -> torch.dtype | None:
    """The dtype of a checkpoint's first floating tensor (``dtype="auto"``)."""
    return next((t.dtype for t in state.values() if t.is_floating_point()), None)


def refuse_composite(config: Config, folder: Path) -> None:
    if isinstance(config, EncoderDecoderConfig):
        raise ValueError(
            f"{folder} is a whole encoder-decoder; load it with EncoderDecoderModel.from_pretrained "
            "(its .encoder and .decoder are the two halves)."
        )


def transformers_layout(module: nn.Module, layout: keys.KeyLayout) -> None:
    """Make ``module.state_dict()`` give, and ``module.load_state_dict()`` take, the weights its
    family stores transposed (:attr:`warmstart.keys.KeyLayout.transposed`: GPT-2's Conv1D, (in,
    out)) in transformers' layout, while the module computes with ``nn.Linear``'s (out, in).

    This is the one place the PyTorch room transposes them: ``save_pretrained``, ``from_pretrained``
    and transformers' ``Trainer`` all go through the state dict. Those entries of ``state_dict()``
    are copies, not views of the parameters."""
    rule = layout.transposed
    if rule != keys.KeyLayout.transposed:  # the family stores some weights transposed
        hook = functools.partial(_transpose_own, re.compile(rule))
        module.register_state_dict_post_hook(hook)
        module.register_load_state_dict_pre_hook(hook)


def _transpose_own(rule: re.Pattern, module: nn.Module, state: dict, prefix: str, *_: Any) -> None:
    """A state_dict post-hook and load_state_dict pre-hook: transpose the weights under ``prefix``
    that ``rule`` names (the transpose is its own inverse)."""
    for key, value in state.items():
        if key.startswith(prefix) and rule.search(key):
            state[key] = value.detach().t().contiguous()


def _as_is(t: Tensor) -> Tensor:
    return t  # a module's state dict is in transformers' layout already (transformers_layout)


def from_checkpoint(
    config: Config, state: dict[str, Tensor], as_decoder: bool
) -> tuple[dict[str, Tensor], list[str]]:
    """A checkpoint's tensors under this side's state-dict names (:func:`warmstart.keys.to_model`);
    layouts are left to the modules' ``load_state_dict`` (:func:`transformers_layout`)."""
    return keys.to_model(families.FAMILIES[config.model_type].layout, state, as_decoder, _as_is)


def to_checkpoint(config: Config, state: dict[str, Tensor], as_decoder: bool) -> dict[str, Tensor]:
    """This side's state dict under transformers' names; a tensor written under two names is
    copied, since safetensors refuses two names for one tensor."""
    layout = families.FAMILIES[config.model_type].layout
    out, seen = {}, set()
    for k, v in keys.to_checkpoint(layout, state, as_decoder, _as_is).items():
        out[k] = v.clone() if id(v) in seen else v
        seen.add(id(v))
    return out


def split_composite(state: dict[str, Tensor], config: EncoderDecoderConfig) -> dict[str, Tensor]:
    """Apply each half's key fixes to a composite checkpoint's ``encoder.*``/``decoder.*`` tensors."""
    out: dict[str, Tensor] = {}
    for side, cfg in (("encoder", config.encoder), ("decoder", config.decoder)):
        prefix = side + "."
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        fixed, _ = from_checkpoint(cfg, part, side == "decoder")
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
        exported = to_checkpoint(cfg, part, side == "decoder")
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
    # the shapes load_state_dict takes: transformers' layout (transformers_layout)
    layout = {k: v.shape for k, v in module.state_dict(keep_vars=True).items()}
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
    shapes = [k for k, v in state.items() if v.shape != layout[k]]
    if shapes:
        k = shapes[0]
        raise ValueError(
            f"Shape mismatch for {k}: checkpoint {tuple(state[k].shape)}, model "
            f"{tuple(layout[k])} (and {len(shapes) - 1} more). Does config.json match?"
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
