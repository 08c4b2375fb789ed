"""Architecture families, looked up by ``model_type``: which module encodes, which decodes, and how a
family's checkpoint keys map onto those modules (and back, when saving). Each family's module adds
its :class:`Family` to :data:`FAMILIES` when it is imported (importing ``warmstart.models`` imports
them all), so that loading code can reach the families without importing the model modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from .config import Config, supported_families


def _same_keys(state: dict[str, Tensor], as_decoder: bool) -> dict[str, Tensor]:
    return state


@dataclass(frozen=True)
class Family:
    encoder: type[nn.Module]
    decoder: type[nn.Module]
    fix_keys: Callable[[dict[str, Tensor], bool], tuple[dict[str, Tensor], list[str]]]
    # this library's state -> transformers' tensor layout, for saving (GPT-2's Conv1D transpose, an
    # untied BERT/RoBERTa head's second bias name)
    to_hf_keys: Callable[[dict[str, Tensor], bool], dict[str, Tensor]] = _same_keys


FAMILIES: dict[str, Family] = {}
"""model_type -> its family, filled by the family modules."""


def family(config: Config) -> Family:
    if config.model_type not in FAMILIES:
        raise ValueError(
            f"model_type {config.model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    return FAMILIES[config.model_type]
