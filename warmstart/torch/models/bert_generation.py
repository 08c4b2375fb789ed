"""BertGeneration: the encoder (``BertGenerationEncoder``) and decoder (``BertGenerationDecoder``) of
Rothe et al.'s released checkpoints.

Rothe, Narayan and Severyn, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks", 2020:
BERT's post-LN layers (reused from :mod:`.bert`) over word and learned absolute position embeddings,
without token types or a pooler. The decoder is causal with cross-attention and predicts tokens with
``lm_head``: one projection tied to the word embeddings plus a bias, no transform. Checkpoints name
the encoder's tensors ``embeddings.*``, ``encoder.layer.*`` and the decoder's ``bert.*``,
``lm_head.*`` (:data:`warmstart.keys.BERT_GENERATION`).
"""

from __future__ import annotations

from torch import Tensor

from ...config import BertGenerationConfig
from ..heads import LMHeadDecoder, VocabularyHead, vocab_logits
from ..pretrained import Pretrained
from .bert import BertEmbeddings, BertModel


class BertGenerationEmbeddings(BertEmbeddings):
    """Word + learned absolute position embeddings, LayerNorm, dropout: no token types."""

    def __init__(self, c: BertGenerationConfig) -> None:
        super().__init__(c, token_types=False)

    def forward(
        self,
        input_ids: Tensor | None,
        token_type_ids: Tensor | None = None,
        past: int = 0,
        inputs_embeds: Tensor | None = None,
    ) -> Tensor:
        """Embeddings (B, T, C) of tokens at positions past .. past + T - 1; ``token_type_ids``
        are ignored (this architecture has none)."""
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        positions = self.position_embeds(input_ids, x.shape[1], past)  # (T, C)
        return self.dropout(self.LayerNorm(x + positions))


class BertGenerationEncoder(BertModel):
    """BERT's layer stack over :class:`BertGenerationEmbeddings`, no pooler; causal with
    cross-attention when ``config.is_decoder`` and ``config.add_cross_attention``."""

    model_types = ("bert-generation",)

    embeddings_class = BertGenerationEmbeddings

    def __init__(self, config: BertGenerationConfig) -> None:
        super().__init__(config, add_pooling_layer=False)


class BertGenerationOnlyLMHead(VocabularyHead):
    """``decoder`` (the projection, tied to the word embeddings) plus ``bias``: (B, T, V)."""

    def __init__(self, c: BertGenerationConfig) -> None:
        super().__init__()
        self.add_projection(c.hidden_size, c.vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        return vocab_logits(self.decoder, x, self.bias)  # (B, T, V)


class BertGenerationDecoder(Pretrained, LMHeadDecoder):
    """BertGeneration used as a decoder: ``bert`` (a :class:`BertGenerationEncoder`) plus
    ``lm_head``."""

    model_types = ("bert-generation",)

    base_model_prefix = "bert"

    def __init__(self, config: BertGenerationConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertGenerationEncoder(config)
        self.lm_head = BertGenerationOnlyLMHead(config)
        self.lm_head.apply(self._init_weights)
        self.tie_weights()
