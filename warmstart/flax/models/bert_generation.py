"""BertGeneration's public Flax classes, on the BERT body and BertGeneration LM head of
:mod:`.bert` (transformers 4.x had no Flax class; the names follow its PyTorch ones)."""

from __future__ import annotations

from ..pretrained import FlaxCausalLM, FlaxEncoderModel
from .bert import BertLMHeadModule, encoder_module


class FlaxBertGenerationEncoder(FlaxEncoderModel):
    """transformers 4.x's FlaxBertGenerationEncoder."""

    model_types = ("bert-generation",)
    module_class = staticmethod(encoder_module)


class FlaxBertGenerationDecoder(FlaxCausalLM):
    """transformers 4.x's FlaxBertGenerationDecoder."""

    model_types = ("bert-generation",)
    module_class = BertLMHeadModule
