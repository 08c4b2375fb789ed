"""The PyTorch classes of each architecture family, looked up by ``model_type``: one explicit table.

How a family's checkpoints name their tensors is framework-free and lives in :mod:`warmstart.keys`;
this table only says which module encodes and which decodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import Config, supported_families
from .models.bart import BartForCausalLM, BartModel
from .models.bert import BertLMHeadModel, BertModel
from .models.electra import ElectraForCausalLM, ElectraModel
from .models.gpt2 import GPT2LMHeadModel, GPT2Model
from .models.roberta import RobertaForCausalLM, RobertaModel


@dataclass(frozen=True)
class Family:
    encoder: type[nn.Module]
    decoder: type[nn.Module]


FAMILIES: dict[str, Family] = {
    "bert": Family(BertModel, BertLMHeadModel),
    "roberta": Family(RobertaModel, RobertaForCausalLM),
    "xlm-roberta": Family(RobertaModel, RobertaForCausalLM),
    "electra": Family(ElectraModel, ElectraForCausalLM),
    "gpt2": Family(GPT2Model, GPT2LMHeadModel),
    "bart": Family(BartModel, BartForCausalLM),
}
"""model_type -> its encoder and decoder classes."""


def family(config: Config) -> Family:
    if config.model_type not in FAMILIES:
        raise ValueError(
            f"model_type {config.model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    return FAMILIES[config.model_type]
