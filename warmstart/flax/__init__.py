"""The JAX/Flax side: transformers 4.x's Flax classes (``FlaxEncoderDecoderModel``,
``FlaxBertModel``, ``FlaxBertForCausalLM``, ...) over the framework-free core. Imports jax and flax,
never torch."""

from .encoder_decoder import FlaxEncoderDecoderModel, FlaxSeq2SeqLMOutput, shift_tokens_right
from .generation import FlaxGenerateOutput
from .pretrained import (
    FlaxBartForCausalLM,
    FlaxBartModel,
    FlaxBertForCausalLM,
    FlaxBertGenerationDecoder,
    FlaxBertGenerationEncoder,
    FlaxBertModel,
    FlaxCausalLMOutput,
    FlaxElectraForCausalLM,
    FlaxElectraModel,
    FlaxGPT2LMHeadModel,
    FlaxRobertaForCausalLM,
    FlaxRobertaModel,
    FlaxXLMRobertaForCausalLM,
    FlaxXLMRobertaModel,
)

__all__ = [
    "FlaxBartForCausalLM",
    "FlaxBartModel",
    "FlaxBertForCausalLM",
    "FlaxBertGenerationDecoder",
    "FlaxBertGenerationEncoder",
    "FlaxBertModel",
    "FlaxCausalLMOutput",
    "FlaxElectraForCausalLM",
    "FlaxElectraModel",
    "FlaxEncoderDecoderModel",
    "FlaxGPT2LMHeadModel",
    "FlaxGenerateOutput",
    "FlaxRobertaForCausalLM",
    "FlaxRobertaModel",
    "FlaxSeq2SeqLMOutput",
    "FlaxXLMRobertaForCausalLM",
    "FlaxXLMRobertaModel",
    "shift_tokens_right",
]
