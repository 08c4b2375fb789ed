"""Checkpoint folders on disk <-> Flax params: reading ``model.safetensors`` (or a sharded index)
and transformers 4.x's ``flax_model.msgpack``, writing a folder, and mapping PyTorch checkpoint names
to Flax parameter paths.

:func:`warmstart.keys.to_model` gives a checkpoint's tensors under the PyTorch side's module names;
those module names are the Flax modules' names too (transformers 4.x Flax kept them), so the one
rule is the leaf: a ``weight`` is a dense layer's ``kernel`` (transposed, (in, out)), an embedding's
``embedding`` or a LayerNorm's ``scale``, whichever the module has; ``bias`` stays ``bias``. GPT-2's
Conv1D weights are taken as stored ((in, out), so their kernel is (out, in) as in 4.x Flax).
Tensors that alias the word embeddings in a tied model (the LM head's projection) have no place.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from flax.traverse_util import flatten_dict, unflatten_dict

from .. import families, hub, keys
from ..config import CONFIG_NAME, Config

logger = logging.getLogger("warmstart")

MSGPACK = "flax_model.msgpack"

_WEIGHT_LEAVES = ("kernel", "embedding", "scale")


def _keep(x: np.ndarray) -> np.ndarray:
    return x


def from_torch_names(
    config: Config, state: dict[str, np.ndarray], as_decoder: bool, shapes: dict[tuple, tuple]
) -> tuple[dict[tuple, np.ndarray], list[str]]:
    """Map a PyTorch checkpoint onto Flax paths.

    Args:
        config: the half's config (its ``model_type`` picks the key layout).
        state: the checkpoint's arrays under transformers' names.
        as_decoder: map onto the decoder (LM head kept) or the encoder.
        shapes: the Flax model's flat parameter paths -> shapes.

    Returns:
        Flat path -> array, and the checkpoint keys with no place (other heads, extra layers).

    Raises:
        ValueError: a tensor whose shape differs from the model's.
    """
    row = families.FAMILIES[config.model_type]
    named, dropped = keys.to_model(row.layout, state, as_decoder, _keep)
    tied = row.tied if config.tie_word_embeddings else ()
    out: dict[tuple, np.ndarray] = {}
    for name, value in named.items():
        *owner, leaf = name.split(".")
        leaves = _WEIGHT_LEAVES if leaf == "weight" else (leaf,)
        path = next(((*owner, x) for x in leaves if (*owner, x) in shapes), None)
        if path is None:
            if name not in tied:
                dropped.append(name)
            continue
        value = value.T if path[-1] == "kernel" else value
        if tuple(value.shape) != tuple(shapes[path]):
            raise ValueError(
                f"Shape mismatch for {name}: checkpoint {tuple(value.shape)}, model "
                f"{tuple(shapes[path])}. Does config.json match?"
            )
        out[path] = value
    return out, dropped


def to_torch_names(config: Config, params: dict, as_decoder: bool) -> dict[str, np.ndarray]:
    """The inverse of :func:`from_torch_names`: a half's params as a transformers checkpoint."""
    named = {}
    for path, value in flatten_dict(params).items():
        *owner, leaf = path
        value = np.asarray(value)
        if leaf == "kernel":
            value = value.T
        name = ".".join((*owner, "weight" if leaf in _WEIGHT_LEAVES else leaf))
        named[name] = value
    return keys.to_checkpoint(families.FAMILIES[config.model_type].layout, named, as_decoder, _keep)


def merge(initial: dict, loaded: dict[tuple, np.ndarray]) -> tuple[dict, list[str]]:
    """``initial`` params with the ``loaded`` flat paths replaced; returns them and the names of
    the parameters the checkpoint did not give (newly initialised)."""
    flat = flatten_dict(initial)
    missing = [".".join(p) for p in flat if p not in loaded]
    flat.update({p: np.asarray(v, dtype=np.asarray(flat[p]).dtype) for p, v in loaded.items()})
    return unflatten_dict(flat), missing


def read_weights(folder: Path) -> tuple[str, Any]:
    """``("torch", {name: array})`` from the PyTorch layout, else ``("flax", params)`` from
    transformers 4.x's ``flax_model.msgpack``."""
    try:
        return "torch", hub.load_arrays(folder)
    except FileNotFoundError:
        if not (folder / MSGPACK).is_file():
            raise
    with open(folder / MSGPACK, "rb") as f:
        return "flax", serialization.msgpack_restore(f.read())


def as_jax(tree: Any) -> Any:
    return jax.tree.map(jnp.asarray, tree)


def check_tree(params: dict, expected: dict, source: str) -> dict:
    """``params`` read from a msgpack, checked path by path against the model's ``expected``."""
    got, want = flatten_dict(params), flatten_dict(expected)
    missing, unknown = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unknown:
        names = [".".join(p) for p in (missing or unknown)[:3]]
        raise ValueError(
            f"{source} does not fit this model: {len(missing)} parameters missing, {len(unknown)} "
            f"unknown (e.g. {', '.join(names)}). Does config.json match?"
        )
    return params


def load_half(config: Config, folder: Path, as_decoder: bool, initial: dict) -> dict:
    """One encoder or decoder's params from ``folder``: the model's ``initial`` params with the
    checkpoint's in place; what it lacks (a new cross-attention) is kept and reported by name."""
    kind, state = read_weights(folder)
    if kind == "flax":
        return as_jax(check_tree(state, initial, str(folder / MSGPACK)))
    shapes = {p: np.shape(v) for p, v in flatten_dict(initial).items()}
    loaded, dropped = from_torch_names(config, state, as_decoder, shapes)
    if dropped:
        logger.info("Not used from %s: %s", folder, "; ".join(dropped[:8]))
    params, missing = merge(initial, loaded)
    if missing:
        logger.warning("Newly initialised (train before use): %s", "; ".join(summarize(missing)))
    return as_jax(params)


def summarize(names: list[str]) -> list[str]:
    """Parameter names with layer numbers grouped: ``encoder.layer.*.crossattention...``."""
    seen: dict[str, None] = {}
    for name in names:
        parts = ["*" if p.isdigit() else p for p in name.split(".")]
        seen[".".join(parts)] = None
    return list(seen)


def save_folder(
    folder: str | os.PathLike, config: Config, state: dict[str, np.ndarray], params: dict | None
) -> None:
    """Write ``config.json`` and ``model.safetensors`` (and ``flax_model.msgpack`` when ``params``
    are given) atomically; other files in ``folder`` are kept."""
    with hub.atomic_folder(folder, replaces=(CONFIG_NAME, *hub.WEIGHT_FILES, MSGPACK)) as tmp:
        hub.write_text_atomic(tmp / CONFIG_NAME, config.to_json_string(use_diff=False))
        hub.save_arrays(state, tmp / hub.SAFE_WEIGHTS)
        if params is not None:
            (tmp / MSGPACK).write_bytes(serialization.msgpack_serialize(jax.device_get(params)))


def wants_msgpack(flax_msgpack: bool, options: dict[str, Any]) -> bool:
    """Read transformers 4.x's ``save_pretrained`` keywords: ``safe_serialization=False`` (4.x's
    default file) adds ``flax_model.msgpack``; ``max_shard_size``/``token`` have nothing to do
    (one file, no upload).

    Raises:
        ValueError: ``push_to_hub=True``.
        TypeError: another keyword.
    """
    if options.pop("push_to_hub", False):
        raise ValueError("push_to_hub=True is not supported; upload the saved folder yourself.")
    msgpack = flax_msgpack or options.pop("safe_serialization", True) is False
    for name in ("max_shard_size", "token"):
        options.pop(name, None)
    if options:
        raise TypeError(
            f"save_pretrained() got unexpected keyword arguments: {', '.join(options)}."
        )
    return msgpack
