"""The TensorFlow classes of each family, looked up by ``model_type`` (the checkpoint names are the
core's :mod:`warmstart.keys`)."""

from __future__ import annotations

from ..config import Config, supported_families
from .models.bart import TFBartForCausalLM, TFBartModel
from .models.bert import TFBertLMHeadModel, TFBertModel
from .models.bert_generation import TFBertGenerationDecoder, TFBertGenerationEncoder
from .models.electra import TFElectraForCausalLM, TFElectraModel
from .models.gpt2 import TFGPT2LMHeadModel, TFGPT2Model
from .models.rembert import TFRemBertForCausalLM, TFRemBertModel
from .models.roberta import TFRobertaForCausalLM, TFRobertaModel

FAMILIES: dict[str, tuple[type, type]] = {
    "bert": (TFBertModel, TFBertLMHeadModel),
    "bert-generation": (TFBertGenerationEncoder, TFBertGenerationDecoder),
    "roberta": (TFRobertaModel, TFRobertaForCausalLM),
    "xlm-roberta": (TFRobertaModel, TFRobertaForCausalLM),
    "electra": (TFElectraModel, TFElectraForCausalLM),
    "rembert": (TFRemBertModel, TFRemBertForCausalLM),
    "gpt2": (TFGPT2Model, TFGPT2LMHeadModel),
    "bart": (TFBartModel, TFBartForCausalLM),
}
"""model_type -> (encoder class, decoder class)."""


def family(config: Config) -> tuple[type, type]:
    if config.model_type not in FAMILIES:
        raise ValueError(
            f"model_type {config.model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    return FAMILIES[config.model_type]
