"""Model outputs that read like transformers' ``ModelOutput``: attributes, and a mapping of the fields
that are set.

transformers' outputs are ordered dicts of their non-``None`` fields, also indexable by position, so
user code reads them every way: ``out.loss``, ``out["loss"]``, ``out[0]``, ``"loss" in out``,
``out.keys()``, ``out.to_tuple()``. A dataclass with this mixin answers all of them the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any


def wanted(value: bool | None, config: Any, name: str, default: bool = False) -> bool:
    """A call's ``output_attentions`` / ``output_hidden_states`` / ``return_dict``: the keyword,
    else the config's field of that name, else ``default`` (transformers' defaults: False, and
    True for ``return_dict``). Read without the AttributeError an unset field raises: this runs
    on every forward."""
    if value is None:
        fields = vars(config)
        value = fields.get(name, fields.get("extra", {}).get(name, default))
    return bool(value)


class ModelOutput:
    """Mixin for dataclasses: a read-only ordered mapping of the fields that are not ``None``;
    an integer index or slice reads :meth:`to_tuple`."""

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_tuple(self) -> tuple:
        return tuple(self.values())

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.keys() else default

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


@dataclass
class BaseModelOutput(ModelOutput):
    """An encoder's (or a decoder body's) output, in any framework's arrays:
    ``last_hidden_state`` (B, S, C); when asked, ``hidden_states`` (the embeddings and each
    layer's output, (B, S, C) each), ``attentions`` and a decoder's ``cross_attentions``
    ((B, H, T, S) per layer)."""

    last_hidden_state: Any
    pooler_output: Any = None
    hidden_states: Any = None
    attentions: Any = None
    cross_attentions: Any = None


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    """What an encoder-decoder's forward returns, in any framework's arrays; read like
    transformers' outputs, fields in their order (the ``*_hidden_states`` / ``*_attentions``
    ones only when asked)."""

    loss: Any = None
    logits: Any = None
    cache: Any = None
    decoder_hidden_states: Any = None
    decoder_attentions: Any = None
    cross_attentions: Any = None
    encoder_last_hidden_state: Any = None
    encoder_hidden_states: Any = None
    encoder_attentions: Any = None

    @property
    def past_key_values(self) -> Any:
        """The cache, by its name before transformers 5."""
        return self.cache
