"""RoBERTa and XLM-RoBERTa (``TFRobertaModel``, ``TFRobertaForCausalLM``) on TensorFlow.

Liu et al., "RoBERTa: A Robustly Optimized BERT Pretraining Approach", 2019; Conneau et al., 2020
(XLM-R, the same layout). BERT's layers (:mod:`.bert`); positions count from ``pad_token_id + 1``
over non-pad tokens (fairseq's ``make_positions``); the LM head is ``lm_head`` (dense, GELU,
LayerNorm, tied projection).
"""

from __future__ import annotations

import tensorflow as tf

from .bert import TFBertLMHeadModel, TFBertModel, check_positions


class TFRobertaModel(TFBertModel):
    """RoBERTa's embeddings and BERT's layer stack."""

    model_types = ("roberta", "xlm-roberta")

    def positions(self, ids: tf.Tensor, T: int | tf.Tensor, past: tf.Tensor | int) -> tf.Tensor:
        """Pad tokens get position ``pad``; the others count on from ``past``: (B, T, C)."""
        pad = self.config.pad_token_id
        w = self.p[self.prefix + "embeddings.position_embeddings.weight"]
        check_positions(T, past, w.shape[0] - pad - 1, "RoBERTa")
        keep = tf.cast(ids != pad, tf.int32)
        return tf.gather(w, (tf.cumsum(keep, axis=1) + past) * keep + pad)


class TFRobertaForCausalLM(TFBertLMHeadModel, TFRobertaModel):
    """RoBERTa used as a decoder: ``roberta`` (no pooler) plus ``lm_head``."""

    prefix = "roberta."
    transform = ("lm_head.dense", "lm_head.layer_norm")
    transform_act = "gelu"  # exact GELU, as fairseq
    output_name = "lm_head.decoder.weight"
    bias_name = "lm_head.bias"
