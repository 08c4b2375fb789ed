"""The model families: one module each, which adds its encoder, decoder and checkpoint key maps to
:data:`~warmstart.families.FAMILIES` (see :mod:`warmstart.families`)."""

from ..families import FAMILIES, Family, family
from . import bart, bert, electra, gpt2, roberta  # noqa: F401  (each adds its Family)

__all__ = ["FAMILIES", "Family", "family"]
