"""The Flax modules of each family, looked up by ``model_type``: the core's table
(:mod:`warmstart.families`) names the classes and tied tensors; this module only says which linen
modules build each row's ``module`` here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn

from .. import families
from ..config import Config
from .models.bart import BartForCausalLMModule, BartModule
from .models.bert import BertLMHeadModule, encoder_module
from .models.gpt2 import GPT2LMHeadModule

Build = Callable[[Config], nn.Module]


@dataclass(frozen=True)
class Family:
    encoder: Build | None  # None: the family only decodes here (GPT-2)
    decoder: Build
    tied: tuple[str, ...] = ()  # PyTorch names of tensors that alias the word embeddings when tied


_BERT = (encoder_module, BertLMHeadModule)  # one body; models/bert.py picks the head by model_type
MODULES: dict[str, tuple[Build | None, Build]] = {
    "bert": _BERT,
    "bert_generation": _BERT,
    "roberta": _BERT,
    "electra": _BERT,
    "gpt2": (None, GPT2LMHeadModule),
    "bart": (BartModule, BartForCausalLMModule),
}
"""A row's ``module`` -> the (encoder, decoder) linen modules that build it on this side."""

FAMILIES: dict[str, Family] = {
    t: Family(*MODULES[row.module], row.tied) for t, row in families.FAMILIES.items() if row.flax
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
