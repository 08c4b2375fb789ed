"""transformers 4.x's ``tf_model.h5`` read as PyTorch-named numpy arrays.

Keras 2 wrote each weight under its layer path, e.g.
``encoder/tf_encoder_decoder_model/encoder/bert/encoder/layer_._0/attention/self/query/kernel:0``;
transformers maps such names onto PyTorch's by a fixed rule (drop the two outer scopes, ``_._N`` ->
``.N``, ``/`` -> ``.``, a ``name___child`` scope -> ``child``) and a Dense ``kernel`` (in, out) is
PyTorch's ``weight`` transposed; ``gamma``/``beta`` and ``embeddings`` are LayerNorm's and
Embedding's ``weight``/``bias``. GPT-2's Conv1D ``weight`` keeps the checkpoint layout (in, out).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_LEAVES = {"kernel": "weight", "gamma": "weight", "beta": "bias", "embeddings": "weight"}


def pt_name(tf_name: str) -> tuple[str, bool]:
    """PyTorch's name of a Keras weight and whether its array is to be transposed."""
    name = tf_name.removesuffix(":0")
    name = re.sub(r"(^|/)[^/]*___([^/]*)(?=/)", r"\1\2", name)
    parts = name.replace("_._", "/").split("/")[2:]
    leaf = parts[-1]
    parts[-1] = _LEAVES.get(leaf, leaf)
    return ".".join(parts), leaf == "kernel"


def read_h5(path: Path) -> dict[str, np.ndarray]:
    """Every weight of a transformers 4.x ``tf_model.h5`` under PyTorch's names."""
    import h5py

    out: dict[str, np.ndarray] = {}

    def visit(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            key, transposed = pt_name(name)
            array = np.asarray(item, dtype=np.float32)
            if key.endswith(".bias") and array.ndim == 2 and array.shape[0] == 1:
                array = array[0]  # Conv1D's (1, out) bias
            out[key] = np.ascontiguousarray(array.T) if transposed else array

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out
