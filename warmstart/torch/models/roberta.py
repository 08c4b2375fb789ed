"""RoBERTa and XLM-RoBERTa as an encoder (``RobertaModel``) and a decoder (``RobertaForCausalLM``).

Liu et al., "RoBERTa: A Robustly Optimized BERT Pretraining Approach", 2019; Conneau et al.,
"Unsupervised Cross-lingual Representation Learning at Scale", 2020 (XLM-R, the same layout). The
layers are BERT's (reused from :mod:`.bert`); what differs is the positions, counted from
``pad_token_id + 1`` over non-pad tokens (fairseq's ``make_positions``), and the LM head ``lm_head``
(dense, GELU, LayerNorm, tied projection). Rothe et al. (2020) warm-start both sides from RoBERTa.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...config import RobertaConfig
from ..attention import check_length
from ..heads import LMHeadDecoder, VocabularyHead, vocab_logits
from ..pretrained import Pretrained
from ..speed import Embedding, Linear, linear_then
from .bert import BertEmbeddings, BertModel


class RobertaEmbeddings(BertEmbeddings):
    """BERT's embeddings with positions ``padding_idx + 1, +2, ...`` that skip pad tokens."""

    def __init__(self, c: RobertaConfig) -> None:
        super().__init__(c)
        self.padding_idx = c.pad_token_id
        self.position_embeddings = Embedding(
            c.max_position_embeddings, c.hidden_size, padding_idx=c.pad_token_id
        )

    def position_embeds(self, input_ids: Tensor | None, T: int, past: int) -> Tensor:
        """Pad tokens get position ``padding_idx``; the others count on from ``past``, as
        transformers does in a padded forward and in cached decoding: (B, T, C) or (T, C)."""
        pad, limit = self.padding_idx, self.position_embeddings.num_embeddings
        check_length(past + T, limit - pad - 1, "RoBERTa")
        if input_ids is None:  # embeddings given: no pad to see, positions simply count
            ids = torch.arange(
                past + 1, past + T + 1, device=self.position_embeddings.weight.device
            )
        else:
            keep = input_ids.ne(pad).long()
            ids = (keep.cumsum(1) + past) * keep  # (B, T)
        return self.position_embeddings(ids + pad)


class RobertaModel(BertModel):
    """RoBERTa's embeddings and BERT's layer stack (``roberta.*`` in a model with a head)."""

    model_types = ("roberta", "xlm-roberta")

    embeddings_class = RobertaEmbeddings


class RobertaLMHead(VocabularyHead):
    def __init__(self, c: RobertaConfig) -> None:
        super().__init__()
        self.dense = Linear(c.hidden_size, c.hidden_size)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.add_projection(c.hidden_size, c.vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer_norm(linear_then(self.dense, x, "gelu"))  # (B, T, C); exact GELU, as fairseq
        return vocab_logits(self.decoder, x, self.bias)  # (B, T, V)


class RobertaForCausalLM(Pretrained, LMHeadDecoder):
    """RoBERTa used as a decoder: ``roberta`` (no pooler) plus ``lm_head``."""

    model_types = ("roberta", "xlm-roberta")

    base_model_prefix = "roberta"

    def __init__(self, config: RobertaConfig) -> None:
        super().__init__()
        self.config = config
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)
        self.lm_head.apply(self._init_weights)
        self.tie_weights()
