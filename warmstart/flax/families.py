"""The Flax modules of each architecture family, looked up by ``model_type``. The family table is
the core's (:mod:`warmstart.families`): the public class names, tied names and key layout; this
module only says which linen modules build each family's file of ``models/``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn

from .. import families
from ..config import Config
from .models.bart import BartForCausalLMModule, BartModule
from .models.bert import BertLMHeadModule, encoder_module
from .models.gpt2 import GPT2LMHeadModule


@dataclass(frozen=True)
class Family:
    encoder: Callable[[Config], nn.Module] | None  # None: the family only decodes here (GPT-2)
    decoder: Callable[[Config], nn.Module]
    tied: tuple[str, ...] = ()  # PyTorch names of tensors that alias the word embeddings when tied


_BERT = (encoder_module, BertLMHeadModule)  # one body; models/bert.py picks the head by model_type
MODULES: dict[str, tuple[Callable[[Config], nn.Module] | None, Callable[[Config], nn.Module]]] = {
    "bert": _BERT,
    "bert_generation": _BERT,
    "roberta": _BERT,
    "electra": _BERT,
    "gpt2": (None, GPT2LMHeadModule),
    "bart": (BartModule, BartForCausalLMModule),
}
"""A row's ``module`` -> the (encoder, decoder) linen modules that build it on this side."""


def _modules(row: families.Family) -> Family:
    return Family(*MODULES[row.module], row.tied)


FAMILIES: dict[str, Family] = {
    model_type: _modules(row) for model_type, row in families.FAMILIES.items() if row.flax
}
"""model_type -> its encoder and decoder modules (GPT-2 only decodes)."""


def family(config: Config) -> Family:
    """The modules of ``config``'s model_type.

    Raises:
        ValueError: the model_type is no family, or has no Flax classes (RemBERT).
    """
    return FAMILIES[families.family(config.model_type, "flax").model_type]


def classes() -> dict[str, type]:
    """Public name -> class, every family's (the names the core's table gives this side)."""
    from . import pretrained  # the classes' home, which itself reads this table

    return {name: getattr(pretrained, name) for name in families.public_names("flax")}
