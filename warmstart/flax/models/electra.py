"""ELECTRA's public Flax classes (transformers 4.x's names), on the BERT body (with
``embeddings_project``) and the generator's LM head of :mod:`.bert`."""

from __future__ import annotations

from ..pretrained import FlaxCausalLM, FlaxEncoderModel
from .bert import BertLMHeadModule, encoder_module


class FlaxElectraModel(FlaxEncoderModel):
    """transformers 4.x's FlaxElectraModel."""

    model_types = ("electra",)
    module_class = staticmethod(encoder_module)


class FlaxElectraForCausalLM(FlaxCausalLM):
    """transformers 4.x's FlaxElectraForCausalLM."""

    model_types = ("electra",)
    module_class = BertLMHeadModule
