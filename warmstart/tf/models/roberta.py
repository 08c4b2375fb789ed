"""RoBERTa and XLM-RoBERTa (``TFRobertaModel``, ``TFRobertaForCausalLM``) on TensorFlow.

Liu et al., "RoBERTa: A Robustly Optimized BERT Pretraining Approach", 2019; Conneau et al., 2020
(XLM-R, the same layout). BERT's layers (:mod:`.bert`); positions count from ``pad_token_id + 1``
over non-pad tokens (fairseq's ``make_positions``); the LM head is ``lm_head`` (dense, GELU,
LayerNorm, tied projection).
"""

from __future__ import annotations

import tensorflow as tf

from ..layers import activation, layer_norm, linear
from ..pretrained import Spec, linear_spec, norm_spec
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
    output_name = "lm_head.decoder.weight"

    def weight_specs(self) -> dict[str, Spec]:
        c, out = self.config, TFRobertaModel.weight_specs(self)
        linear_spec(out, "lm_head.dense", c.hidden_size, c.hidden_size)
        norm_spec(out, "lm_head.layer_norm", c.hidden_size)
        if not c.tie_word_embeddings:
            out["lm_head.decoder.weight"] = ((c.vocab_size, c.hidden_size), "normal")
        out["lm_head.bias"] = ((c.vocab_size,), "zeros")
        return out

    def head(self, x: tf.Tensor) -> tf.Tensor:
        x = activation("gelu")(linear(self.p, "lm_head.dense", x))  # exact GELU, as fairseq
        x = layer_norm(self.p, "lm_head.layer_norm", x, self.config.layer_norm_eps)
        return self.logits(x, self.p["lm_head.bias"])  # (B, T, V)
