"""The Flax modules of each architecture family, looked up by ``model_type``: one explicit table
(how checkpoints name tensors is framework-free, in :mod:`warmstart.keys`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn

from ..config import Config, supported_families
from .models.bart import BartForCausalLMModule, BartModule
from .models.bert import BertLMHeadModule, encoder_module
from .models.gpt2 import GPT2LMHeadModule


@dataclass(frozen=True)
class Family:
    encoder: Callable[[Config], nn.Module] | None
    decoder: Callable[[Config], nn.Module]
    tied: tuple[str, ...] = ()  # PyTorch names of tensors that alias the word embeddings when tied


_BERT_LIKE = {
    "bert": ("cls.predictions.decoder.weight",),
    "roberta": ("lm_head.decoder.weight",),
    "xlm-roberta": ("lm_head.decoder.weight",),
    "electra": ("generator_lm_head.weight",),
    "bert-generation": ("lm_head.decoder.weight",),
}

FAMILIES: dict[str, Family] = {
    **{k: Family(encoder_module, BertLMHeadModule, tied) for k, tied in _BERT_LIKE.items()},
    "gpt2": Family(None, GPT2LMHeadModule, ("lm_head.weight",)),
    "bart": Family(
        BartModule,
        BartForCausalLMModule,
        ("lm_head.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"),
    ),
}
"""model_type -> its encoder and decoder modules (GPT-2 only decodes)."""


def family(config: Config) -> Family:
    if config.model_type not in FAMILIES:
        raise ValueError(
            f"model_type {config.model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    return FAMILIES[config.model_type]
