"""BatchEncoding, the output of a tokenizer call, and the conversions between id lists and
torch tensors or numpy arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class BatchEncoding(dict):
    """The output of a tokenizer call: a dict whose fields can also be read as attributes.

    A tokenizer call also keeps the ``tokenizers`` encodings, one per row (with
    ``return_overflowing_tokens``, one per window), for :meth:`tokens`, :meth:`word_ids` and
    :meth:`sequence_ids`; the output of ``pad`` has none.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, encodings: list | None = None):
        super().__init__(data or {})
        self._encodings = encodings

    @property
    def encodings(self) -> list | None:
        """One ``tokenizers.Encoding`` per text, or None."""
        return self.__dict__.get("_encodings")

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The tokens (strings) of text ``batch_index``."""
        return self._encoding(batch_index, "tokens").tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of text ``batch_index``, the index of its word (None for special tokens)."""
        return self._encoding(batch_index, "word_ids").word_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of text ``batch_index``: 0 (first text), 1 (pair) or None (special)."""
        return self._encoding(batch_index, "sequence_ids").sequence_ids

    def _encoding(self, batch_index: int, method: str) -> Any:
        if self.encodings is None:
            raise ValueError(
                f"{method}() needs the encodings of a tokenizer call; this BatchEncoding has "
                "none (it was built by pad() or by hand)."
            )
        return self.encodings[batch_index]

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"BatchEncoding has no field {name!r}; it has {list(self)}"
            ) from None

    def to(self, device: Any, *, non_blocking: bool = False) -> BatchEncoding:
        """Move every torch tensor to ``device``, in place; numpy arrays and lists stay as they
        are, as in transformers.

        Args:
            device: a torch device, device string or index.
            non_blocking: passed to ``Tensor.to``.

        Returns:
            This BatchEncoding.
        """
        for key, value in self.items():
            if hasattr(value, "to"):
                self[key] = value.to(device=device, non_blocking=non_blocking)
        return self


def _to_tensors(data: Mapping[str, Any], kind: str = "pt") -> dict[str, Any]:
    """Each field as a torch tensor (``"pt"``), a numpy array (``"np"``), a TensorFlow tensor
    (``"tf"``) or a JAX array (``"jax"``); each framework is imported only when asked for."""
    convert = {"np": _as_numpy, "pt": _as_torch, "tf": _as_tf, "jax": _as_jax}[kind]
    return {key: convert(key, rows) for key, rows in data.items()}


def _rectangular(key: str, rows: Any, kind: str) -> np.ndarray:
    """The rows as one int64 array, or the error transformers gives for ragged rows."""
    if rows and all(isinstance(row, (list, tuple)) for row in rows):
        lengths = sorted({len(row) for row in rows})
        if len(lengths) > 1:
            raise ValueError(
                f"Cannot make one tensor of `{key}`: its sequences have lengths {lengths}. "
                f"Pass padding=True (and truncation=True for long texts) to return_tensors={kind!r}."
            )
    array = _as_numpy(key, rows)
    return array.astype(np.int64) if array.size == 0 else array


def _as_tf(key: str, rows: Any) -> Any:
    import tensorflow as tf

    return rows if tf.is_tensor(rows) else tf.constant(_rectangular(key, rows, "tf"))


def _as_jax(key: str, rows: Any) -> Any:
    import jax.numpy as jnp

    # int64 arrays become int32 unless JAX's x64 mode is on, as transformers' "jax" tensors do
    return jnp.asarray(_rectangular(key, rows, "jax"))


def _as_torch(key: str, rows: Any) -> Any:
    import torch

    if torch.is_tensor(rows):
        return rows
    if rows and all(isinstance(row, (list, tuple)) for row in rows):
        lengths = sorted({len(row) for row in rows})
        if len(lengths) > 1:
            raise ValueError(
                f"Cannot make one tensor of `{key}`: its sequences have lengths {lengths}. "
                "Pass padding=True (and truncation=True for long texts) to return_tensors='pt'."
            )
    try:
        tensor = torch.tensor(rows)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"Cannot make a tensor of `{key}`: {err}") from err
    return tensor.long() if tensor.numel() == 0 else tensor  # ints, as transformers


def _as_numpy(key: str, rows: Any) -> np.ndarray:
    """An int64 array (from python ints), or, as transformers does for sequences of different
    lengths, a 1-D object array holding one array per sequence."""
    if isinstance(rows, np.ndarray):
        return rows
    dtype = np.int64 if _no_values(rows) else None
    if _ragged(rows):
        rows, dtype = [np.asarray(row) for row in rows], object
    try:
        return np.asarray(rows, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Cannot make a numpy array of `{key}`: {err}") from err


def _ragged(rows: Any) -> bool:
    """Sequences of different lengths."""
    if not isinstance(rows, (list, tuple)) or not rows:
        return False
    return isinstance(rows[0], (list, tuple, np.ndarray)) and len({len(r) for r in rows}) > 1


def _no_values(rows: Any) -> bool:
    """True for an empty list, or lists of lists with nothing in them."""
    if not isinstance(rows, (list, tuple)):
        return False
    return all(_no_values(row) for row in rows) if rows else True


def _tensor_type(return_tensors: Any, given: Any = None) -> str | None:
    """Check ``return_tensors`` ("pt", "np", None or transformers' TensorType). ``pad`` passes
    its main input as ``given``: with no ``return_tensors`` it returns what it was given."""
    value = getattr(return_tensors, "value", return_tensors)
    if value is None and given is not None:
        value = _given_type(given)
    if value not in (None, "pt", "np", "tf", "jax"):
        raise ValueError(
            f"return_tensors={value!r} is not supported; use 'pt' (torch tensors), 'tf' "
            "(TensorFlow), 'jax' (JAX arrays), 'np' (numpy arrays) or None (lists)."
        )
    return value


def _given_type(given: Any) -> str | None:
    """ "pt" for torch tensors, "np" for numpy arrays (or numpy ints), None for lists of ints."""
    first = given[0]
    if isinstance(first, (list, tuple)):
        first = next((row[0] for row in given if len(row)), None)
    if first is None or isinstance(first, (int, float, list, tuple)):
        return None
    module = type(first).__module__
    if module.startswith("torch"):
        return "pt"
    if module.startswith("tensorflow"):
        return "tf"
    if module.startswith(("jax", "jaxlib")):
        return "jax"
    if isinstance(first, (np.ndarray, np.generic)):
        return "np"
    raise ValueError(
        f"pad was given {type(first).__name__} values; it takes lists of ints, torch, TensorFlow "
        "or JAX tensors, or numpy arrays."
    )


def _to_python(value: Any) -> Any:
    """Tensors, arrays and tuples to plain (nested) lists and ints."""
    if hasattr(value, "numpy") and not hasattr(value, "tolist"):  # a TensorFlow tensor
        value = value.numpy()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_to_python(v) for v in value]
    return value
