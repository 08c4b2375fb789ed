"""The Flax classes of each family, looked up by ``model_type``: the core's table
(:mod:`warmstart.families`) names them; this room defines them in ``models/<module>.py``, and each
class's ``module_class`` is the linen module that builds it."""

from __future__ import annotations

from .. import families
from ..config import Config

FAMILIES: dict[str, families.Classes] = families.room_classes("flax", __package__)
"""model_type -> its encoder class (None: GPT-2 only decodes here) and decoder class."""

CLASSES: dict[str, type] = families.by_name(FAMILIES)
"""Public name -> class, every family's (the names the core's table gives this side)."""


def family(config: Config) -> families.Classes:
    """The classes of ``config``'s model_type.

    Raises:
        ValueError: the model_type is no family, or has no Flax classes (RemBERT).
    """
    return FAMILIES[families.family(config.model_type, "flax").model_type]
