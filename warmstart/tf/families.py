"""The TensorFlow classes of each family, looked up by ``model_type``: the core's table
(:mod:`warmstart.families`) names them; this module finds them in ``models/<module>.py``."""

from __future__ import annotations

import importlib
from typing import NamedTuple

from .. import families
from ..config import Config


class Family(NamedTuple):
    encoder: type  # the bare model (TFAutoModel's class)
    decoder: type  # the causal LM (TFAutoModelForCausalLM's class)


def _classes(row: families.Family) -> Family:
    module = importlib.import_module(f"{__package__}.models.{row.module}")
    return Family(*(getattr(module, name) for name in row.names("tf")))


FAMILIES: dict[str, Family] = {t: _classes(row) for t, row in families.FAMILIES.items()}
"""model_type -> (encoder class, decoder class)."""

CLASSES: dict[str, type] = {cls.__name__: cls for fam in FAMILIES.values() for cls in fam}
"""Public name -> class, every family's (the names the core's table gives this side)."""


def family(config: Config) -> Family:
    """The classes of ``config``'s model_type.

    Raises:
        ValueError: the model_type is no family (the message lists those supported).
    """
    return FAMILIES[families.family(config.model_type, "tf").model_type]
