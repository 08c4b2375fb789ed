"""ELECTRA as an encoder (``ElectraModel``, the discriminator body) and a decoder
(``ElectraForCausalLM``, the generator head).

Clark et al., "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators", 2020.
The layers are BERT's (reused from :mod:`.bert`); embeddings are ``embedding_size`` wide and projected
to ``hidden_size`` by ``embeddings_project`` when the two differ; there is no pooler. As a decoder
the LM head is the generator's: ``generator_predictions`` (dense to ``embedding_size``, GELU,
LayerNorm) and ``generator_lm_head`` tied to the word embeddings.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ...config import ElectraConfig
from ..heads import LMHeadDecoder
from ..pretrained import Pretrained
from ..speed import Linear
from .bert import BertEmbeddings, BertModel


class ElectraEmbeddings(BertEmbeddings):
    def __init__(self, c: ElectraConfig) -> None:
        super().__init__(c, width=c.embedding_size)


class ElectraModel(BertModel):
    """ELECTRA's body: BERT layers over (projected) ``embedding_size`` embeddings, no pooler."""

    model_types = ("electra",)

    embeddings_class = ElectraEmbeddings

    def __init__(self, config: ElectraConfig) -> None:
        super().__init__(config, add_pooling_layer=False)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = Linear(config.embedding_size, config.hidden_size)
            self._init_weights(self.embeddings_project)

    def embed(
        self,
        input_ids: Tensor | None,
        token_type_ids: Tensor | None,
        past: int,
        inputs_embeds: Tensor | None,
    ) -> Tensor:
        x = super().embed(input_ids, token_type_ids, past, inputs_embeds)  # (B, T, E)
        project = getattr(self, "embeddings_project", None)
        return x if project is None else project(x)  # (B, T, C)


class ElectraGeneratorPredictions(nn.Module):
    def __init__(self, c: ElectraConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(c.embedding_size, eps=c.layer_norm_eps)
        self.dense = Linear(c.hidden_size, c.embedding_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))  # (B, T, E)


class ElectraForCausalLM(Pretrained, LMHeadDecoder):
    """ELECTRA used as a decoder: ``electra`` plus the generator's LM head."""

    model_types = ("electra",)

    base_model_prefix = "electra"

    def __init__(self, config: ElectraConfig) -> None:
        super().__init__()
        self.config = config
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = Linear(config.embedding_size, config.vocab_size)
        self.generator_predictions.apply(self._init_weights)
        self._init_weights(self.generator_lm_head)
        self.tie_weights()

    def vocabulary_head(self) -> nn.Module:
        return self.generator_lm_head

    def head(self, h: Tensor) -> Tensor:
        return self.generator_lm_head(self.generator_predictions(h))  # (B, T, V)
