"""BatchEncoding, the output of a tokenizer call, and the conversions between id lists and
tensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class BatchEncoding(dict):
    """The output of a tokenizer call: a dict whose fields can also be read as attributes.

    A tokenizer call also keeps the ``tokenizers`` encodings, for :meth:`tokens`, :meth:`word_ids`
    and :meth:`sequence_ids`; the output of ``pad`` has none.
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
        """Move every tensor to ``device``, in place.

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


def _to_tensors(data: Mapping[str, Any]) -> dict[str, Any]:
    import torch

    tensors = {}
    for key, rows in data.items():
        if torch.is_tensor(rows):
            tensors[key] = rows
            continue
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
        tensors[key] = tensor.long() if tensor.numel() == 0 else tensor  # ints, as transformers
    return tensors


def _tensor_type(return_tensors: Any, given: Any = None) -> str | None:
    """Check ``return_tensors``; pad (``given`` its inputs) returns tensors when given tensors."""
    value = getattr(return_tensors, "value", return_tensors)  # accept transformers' TensorType
    if value is None and given is not None:
        first = given[0]
        if isinstance(first, (list, tuple)):
            first = next((row[0] for row in given if len(row)), None)
        if first is not None and not isinstance(first, (int, float)):
            if not type(first).__module__.startswith("torch"):
                raise ValueError(
                    f"pad was given {type(first).__name__} values; warmstart returns torch "
                    "tensors or lists (not numpy arrays): pass return_tensors='pt', or lists."
                )
            value = "pt"
    if value not in (None, "pt"):
        raise ValueError(
            f"return_tensors={value!r} is not supported; use 'pt' (torch tensors) or None (lists)."
        )
    return value


def _to_python(value: Any) -> Any:
    """Tensors, arrays and tuples to plain (nested) lists and ints."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_to_python(v) for v in value]
    return value
