"""The Flax classes and modules of each family, looked up by ``model_type``: the core's table
(:mod:`warmstart.families`) names the classes; this module finds them in ``models/<module>.py``,
and each class's ``module_class`` is the linen module that builds it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn

from .. import families
from ..config import Config

Build = Callable[[Config], nn.Module]


@dataclass(frozen=True)
class Family:
    encoder: Build | None  # None: the family only decodes here (GPT-2)
    decoder: Build
    tied: tuple[str, ...] = ()  # PyTorch names of tensors that alias the word embeddings when tied
    classes: tuple[type, ...] = ()  # its public classes (encoder, decoder; the decoder alone)


def _row(row: families.Family) -> Family:
    module = importlib.import_module(f"{__package__}.models.{row.module}")
    encoder, decoder = (None if name is None else getattr(module, name) for name in row.flax)
    return Family(
        None if encoder is None else encoder.module_class,
        decoder.module_class,
        row.tied,
        tuple(cls for cls in (encoder, decoder) if cls is not None),
    )


FAMILIES: dict[str, Family] = {t: _row(row) for t, row in families.FAMILIES.items() if row.flax}
"""model_type -> its encoder and decoder modules (GPT-2 only decodes) and public classes."""

CLASSES: dict[str, type] = {cls.__name__: cls for fam in FAMILIES.values() for cls in fam.classes}
"""Public name -> class, every family's (the names the core's table gives this side)."""


def family(config: Config) -> Family:
    """The modules of ``config``'s model_type.

    Raises:
        ValueError: the model_type is no family, or has no Flax classes (RemBERT).
    """
    return FAMILIES[families.family(config.model_type, "flax").model_type]
