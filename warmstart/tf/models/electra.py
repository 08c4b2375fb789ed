"""ELECTRA as an encoder (``TFElectraModel``) and a decoder (``TFElectraForCausalLM``) on TensorFlow.

Clark et al., "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators", 2020.
BERT's layers (:mod:`.bert`) over ``embedding_size`` embeddings projected to ``hidden_size`` by
``embeddings_project`` when the two differ, no pooler; the decoder's head is the generator's
(``generator_predictions``, ``generator_lm_head`` tied to the word embeddings).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..layers import linear
from ..pretrained import Spec, linear_spec
from .bert import TFBertLMHeadModel, TFBertModel


class TFElectraModel(TFBertModel):
    """ELECTRA's body: BERT layers over (projected) ``embedding_size`` embeddings, no pooler."""

    model_types = ("electra",)
    pooler = False

    def embedding_width(self) -> int:
        return self.config.embedding_size

    def projects(self) -> bool:
        return self.config.embedding_size != self.config.hidden_size

    def weight_specs(self) -> dict[str, Spec]:
        out = super().weight_specs()
        if self.projects():
            c = self.config
            linear_spec(out, self.prefix + "embeddings_project", c.hidden_size, c.embedding_size)
        return out

    def embed(self, ids: tf.Tensor, past: Any = 0, training: bool = False, token_type_ids=None):
        x = super().embed(ids, past, training, token_type_ids)  # (B, T, E)
        return linear(self.p, self.prefix + "embeddings_project", x) if self.projects() else x


class TFElectraForCausalLM(TFBertLMHeadModel, TFElectraModel):
    """ELECTRA used as a decoder: ``electra`` plus the generator's LM head."""

    prefix = "electra."
    transform = ("generator_predictions.dense", "generator_predictions.LayerNorm")
    transform_act = "gelu"
    output_name = "generator_lm_head.weight"
    bias_name = "generator_lm_head.bias"
