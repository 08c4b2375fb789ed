"""Architecture families, looked up by ``model_type``: which module encodes, which decodes, and how a
family's checkpoint keys map onto those modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from ..config import Config
from . import bert


@dataclass(frozen=True)
class Family:
    encoder: type[nn.Module]
    decoder: type[nn.Module]
    fix_keys: Callable[[dict[str, Tensor], bool], tuple[dict[str, Tensor], list[str]]]


FAMILIES: dict[str, Family] = {
    "bert": Family(bert.BertModel, bert.BertLMHeadModel, bert.fix_keys),
}


def family(config: Config) -> Family:
    if config.model_type not in FAMILIES:
        raise ValueError(
            f"model_type {config.model_type!r} is not supported as an encoder or decoder; "
            f"supported: {', '.join(sorted(FAMILIES))}."
        )
    return FAMILIES[config.model_type]
