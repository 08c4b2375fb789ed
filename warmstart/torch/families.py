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
from .models.bert_generation import BertGenerationDecoder, BertGenerationEncoder
from .models.electra import ElectraForCausalLM, ElectraModel
from .models.gpt2 import GPT2LMHeadModel, GPT2Model
from .models.rembert import RemBertForCausalLM, RemBertModel
from .models.roberta import RobertaForCausalLM, RobertaModel


@dataclass(frozen=True)
class Family:
    """One family's classes.

    Attributes:
        encoder: the bare model (``AutoModel``'s class).
        decoder: the causal-LM model (``AutoModelForCausalLM``'s class).
        always_causal: the decoder's self-attention is causal whatever ``is_decoder`` says
            (GPT-2, BART's decoder), as in transformers.
    """

    encoder: type[nn.Module]
    decoder: type[nn.Module]
    always_causal: bool = False


FAMILIES: dict[str, Family] = {
    "bert": Family(BertModel, BertLMHeadModel),
    "bert-generation": Family(BertGenerationEncoder, BertGenerationDecoder),
    "roberta": Family(RobertaModel, RobertaForCausalLM),
    "xlm-roberta": Family(RobertaModel, RobertaForCausalLM),
    "electra": Family(ElectraModel, ElectraForCausalLM),
    "rembert": Family(RemBertModel, RemBertForCausalLM),
    "gpt2": Family(GPT2Model, GPT2LMHeadModel, always_causal=True),
    "bart": Family(BartModel, BartForCausalLM, always_causal=True),
}
"""model_type -> its encoder and decoder classes, and whether the decoder is always causal."""


def family(config: Config) -> Family:
    if config.model_type not in FAMILIES:
        raise ValueError(
            f"model_type {config.model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    return FAMILIES[config.model_type]


CROSS_ATTENTION_NAMES = ("crossattention", "encoder_attn")
"""The module names of a layer's cross-attention in every family (transformers' names)."""


def check_decoder(decoder: nn.Module) -> None:
    """Check that ``decoder`` can be the decoder of an encoder-decoder: it has cross-attention
    layers and causal self-attention.

    Raises:
        ValueError: what it lacks, and the config fields that build it.
    """
    config = decoder.config
    names = (name.rpartition(".")[2] for name, _ in decoder.named_modules())
    if not any(name in CROSS_ATTENTION_NAMES for name in names):
        raise ValueError(
            f"The decoder ({type(decoder).__name__}) has no cross-attention layers, so it cannot "
            "read the encoder: build it with add_cross_attention=True (and is_decoder=True), as "
            "from_encoder_decoder_configs and from_encoder_decoder_pretrained do."
        )
    if not (config.is_decoder or family(config).always_causal):
        raise ValueError(
            f"The decoder ({type(decoder).__name__}) has cross-attention but is_decoder=False, so "
            "its self-attention would see future tokens. Build it with is_decoder=True."
        )
