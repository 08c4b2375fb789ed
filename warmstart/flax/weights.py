"""PyTorch checkpoint names <-> Flax parameter paths, for every family with one small rule set.

:func:`warmstart.keys.to_model` gives a checkpoint's tensors under the PyTorch side's module names;
those module names are the Flax modules' names too (transformers 4.x Flax kept them), so the one
rule is the leaf: a ``weight`` is a dense layer's ``kernel`` (transposed, (in, out)), an embedding's
``embedding`` or a LayerNorm's ``scale``, whichever the module has; ``bias`` stays ``bias``. GPT-2's
Conv1D weights are taken as stored ((in, out), so their kernel is (out, in) as in 4.x Flax).
Tensors that alias the word embeddings in a tied model (the LM head's projection) have no place.
"""

from __future__ import annotations

import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict

from .. import keys
from ..config import Config
from .families import family

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
    named, dropped = keys.to_model(config.model_type, state, as_decoder, _keep)
    tied = family(config).tied if config.tie_word_embeddings else ()
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
    return keys.to_checkpoint(config.model_type, named, as_decoder, _keep)


def merge(initial: dict, loaded: dict[tuple, np.ndarray]) -> tuple[dict, list[str]]:
    """``initial`` params with the ``loaded`` flat paths replaced; returns them and the names of
    the parameters the checkpoint did not give (newly initialised)."""
    flat = flatten_dict(initial)
    missing = [".".join(p) for p in flat if p not in loaded]
    flat.update({p: np.asarray(v, dtype=np.asarray(flat[p]).dtype) for p, v in loaded.items()})
    return unflatten_dict(flat), missing
