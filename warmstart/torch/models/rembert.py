"""RemBERT as an encoder (``RemBertModel``) and as a decoder with cross-attention
(``RemBertForCausalLM``).

Chung et al., "Rethinking Embedding Coupling in Pre-trained Language Models", 2021: BERT's post-LN
layers (reused from :mod:`.bert`) over narrow input embeddings (``input_embedding_size``) that
``encoder.embedding_hidden_mapping_in`` projects to ``hidden_size``; the LM head goes through a
wider ``output_embedding_size`` (``cls.predictions``: dense, activation, LayerNorm, then
``decoder`` with its own bias) and is never tied to the input embeddings.
"""

from __future__ import annotations

from torch import Tensor, nn

from ...config import RemBertConfig
from ..heads import LMHeadDecoder
from ..pretrained import Pretrained
from ..speed import Linear, activation, linear_then
from .bert import BertEmbeddings, BertEncoder, BertLayer, BertModel


class RemBertEmbeddings(BertEmbeddings):
    """BERT's embeddings, ``input_embedding_size`` wide."""

    def __init__(self, c: RemBertConfig) -> None:
        super().__init__(c, width=c.input_embedding_size)


class RemBertEncoder(BertEncoder):
    """BERT's layer stack after ``embedding_hidden_mapping_in``, the projection of the embeddings
    to ``hidden_size`` (transformers keeps it in this module: its tensor names follow)."""

    def __init__(self, c: RemBertConfig) -> None:
        nn.Module.__init__(self)
        self.embedding_hidden_mapping_in = Linear(c.input_embedding_size, c.hidden_size)
        self.layer = nn.ModuleList(BertLayer(c, i) for i in range(c.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, x: Tensor, *args) -> Tensor:
        return super().forward(self.embedding_hidden_mapping_in(x), *args)  # (B, T, E) -> (B, T, C)


class RemBertModel(BertModel):
    """RemBERT's body: BERT layers over projected embeddings, a pooler unless asked not to;
    causal with cross-attention when ``config.is_decoder``."""

    model_types = ("rembert",)

    embeddings_class = RemBertEmbeddings
    encoder_class = RemBertEncoder


class RemBertLMPredictionHead(nn.Module):
    """``dense`` to ``output_embedding_size``, activation, ``LayerNorm``, ``decoder`` to the
    vocabulary (with its bias): (B, T, C) -> (B, T, V)."""

    def __init__(self, c: RemBertConfig) -> None:
        super().__init__()
        self.dense = Linear(c.hidden_size, c.output_embedding_size)
        self.decoder = Linear(c.output_embedding_size, c.vocab_size)
        self.act = activation(c.hidden_act)
        self.LayerNorm = nn.LayerNorm(c.output_embedding_size, eps=c.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.LayerNorm(linear_then(self.dense, x, self.act)))  # (B, T, V)


class RemBertForCausalLM(Pretrained, LMHeadDecoder):
    """RemBERT used as a decoder: ``rembert`` (no pooler) plus the ``cls.predictions`` LM head."""

    model_types = ("rembert",)

    base_model_prefix = "rembert"

    def __init__(self, config: RemBertConfig) -> None:
        super().__init__()
        self.config = config
        self.rembert = RemBertModel(config, add_pooling_layer=False)
        self.cls = nn.ModuleDict({"predictions": RemBertLMPredictionHead(config)})
        self.cls.apply(self._init_weights)

    def tie_weights(self) -> None:
        """Nothing to tie: the head's ``output_embedding_size`` rows are not the input
        embeddings (transformers never ties them either, whatever ``tie_word_embeddings`` says)."""

    def vocabulary_head(self) -> nn.Module:
        return self.cls.predictions.decoder

    def head(self, h: Tensor) -> Tensor:
        return self.cls.predictions(h)
