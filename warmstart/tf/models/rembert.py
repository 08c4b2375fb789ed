"""RemBERT as an encoder (``TFRemBertModel``) and a decoder (``TFRemBertForCausalLM``) on
TensorFlow.

Chung et al., "Rethinking Embedding Coupling in Pre-trained Language Models", 2021: BERT's layers
(:mod:`.bert`) over ``input_embedding_size`` embeddings projected to ``hidden_size`` by
``encoder.embedding_hidden_mapping_in``; the decoder's head (``cls.predictions``) goes through
``output_embedding_size`` and is never tied to the input embeddings. Variable names are the
PyTorch side's (:mod:`warmstart.torch.models.rembert`).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..layers import linear
from ..pretrained import Spec, linear_spec
from .bert import TFBertLMHeadModel, TFBertModel


class TFRemBertModel(TFBertModel):
    """RemBERT's body: BERT layers over projected ``input_embedding_size`` embeddings."""

    model_types = ("rembert",)

    def embedding_width(self) -> int:
        return self.config.input_embedding_size

    def weight_specs(self) -> dict[str, Spec]:
        c, out = self.config, super().weight_specs()
        name = self.prefix + "encoder.embedding_hidden_mapping_in"
        linear_spec(out, name, c.hidden_size, c.input_embedding_size)
        return out

    def embed(self, ids: tf.Tensor, past: Any = 0, training: bool = False, token_type_ids=None):
        x = super().embed(ids, past, training, token_type_ids)  # (B, T, E)
        return linear(self.p, self.prefix + "encoder.embedding_hidden_mapping_in", x)  # (B, T, C)


class TFRemBertForCausalLM(TFBertLMHeadModel, TFRemBertModel):
    """RemBERT used as a decoder: ``rembert`` plus the ``cls.predictions`` head."""

    prefix = "rembert."
    transform = ("cls.predictions.dense", "cls.predictions.LayerNorm")
    output_name = "cls.predictions.decoder.weight"
    bias_name = "cls.predictions.decoder.bias"

    def head_width(self) -> int:
        return self.config.output_embedding_size

    def tied(self) -> bool:
        return False
