"""The TensorFlow classes of each family, looked up by ``model_type``: the core's table
(:mod:`warmstart.families`) names them; this room defines them in ``models/<module>.py``."""

from __future__ import annotations

from .. import families
from ..config import Config

FAMILIES: dict[str, families.Classes] = families.room_classes("tf", __package__)
"""model_type -> (encoder class, decoder class)."""

CLASSES: dict[str, type] = families.by_name(FAMILIES)
"""Public name -> class, every family's (the names the core's table gives this side)."""


def family(config: Config) -> families.Classes:
    """The classes of ``config``'s model_type.

    Raises:
        ValueError: the model_type is no family (the message lists those supported).
    """
    return FAMILIES[families.family(config.model_type, "tf").model_type]
