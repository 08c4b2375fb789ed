"""RoBERTa and XLM-RoBERTa's public Flax classes (transformers 4.x's names), on the
BERT body and RoBERTa LM head of :mod:`.bert`; either takes either config, as in transformers."""

from __future__ import annotations

from ..pretrained import FlaxCausalLM, FlaxEncoderModel
from .bert import BertLMHeadModule, encoder_module


class FlaxRobertaModel(FlaxEncoderModel):
    """transformers 4.x's FlaxRobertaModel."""

    model_types = ("roberta", "xlm-roberta")
    module_class = staticmethod(encoder_module)


class FlaxRobertaForCausalLM(FlaxCausalLM):
    """transformers 4.x's FlaxRobertaForCausalLM."""

    model_types = ("roberta", "xlm-roberta")
    module_class = BertLMHeadModule


class FlaxXLMRobertaModel(FlaxEncoderModel):
    """transformers 4.x's FlaxXLMRobertaModel."""

    model_types = ("xlm-roberta", "roberta")
    module_class = staticmethod(encoder_module)


class FlaxXLMRobertaForCausalLM(FlaxCausalLM):
    """transformers 4.x's FlaxXLMRobertaForCausalLM."""

    model_types = ("xlm-roberta", "roberta")
    module_class = BertLMHeadModule
