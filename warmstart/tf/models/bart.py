"""BART's encoder (``TFBartModel``) and decoder (``TFBartForCausalLM``) on TensorFlow, in the
layouts transformers' EncoderDecoderModel saves.

Lewis et al., "BART: Denoising Sequence-to-Sequence Pre-training", 2020: post-LN layers, learned
positions offset by 2, ``layernorm_embedding``, optional ``sqrt(d_model)`` embedding scale. As on
the PyTorch side (:mod:`warmstart.torch.models.bart`), ``TFBartModel`` keeps the whole BART's
layout (``shared``, ``encoder``, ``decoder``) and encodes with the encoder stack.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from ...outputs import BaseModelOutput
from ..inputs import call_inputs, int_tensor
from ..layers import (
    SelfAttention,
    activation,
    dropout,
    layer_norm,
    linear,
    padding_keep,
    split_heads,
)
from ..pretrained import (
    ENCODER_INPUTS,
    Spec,
    TFDecoder,
    TFPretrained,
    asked,
    body_output,
    linear_spec,
    norm_spec,
)
from .bert import check_positions

POSITION_OFFSET = 2
EPS = 1e-5  # nn.LayerNorm's default, which BART uses


def stack_specs(out: dict[str, Spec], c: Any, b: str, decoder: bool) -> None:
    """The weights of one BART stack under prefix ``b`` (``encoder.`` or ``model.decoder.``)."""
    C = c.d_model
    out[b + "embed_positions.weight"] = ((c.max_position_embeddings + POSITION_OFFSET, C), "normal")
    norm_spec(out, b + "layernorm_embedding", C)
    n_layers, ffn = (
        (c.decoder_layers, c.decoder_ffn_dim) if decoder else (c.encoder_layers, c.encoder_ffn_dim)
    )
    for i in range(n_layers):
        n = f"{b}layers.{i}."
        for a in ("self_attn", "encoder_attn") if decoder else ("self_attn",):
            for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
                linear_spec(out, f"{n}{a}.{proj}", C, C)
            norm_spec(out, f"{n}{a}_layer_norm", C)
        linear_spec(out, n + "fc1", ffn, C)
        linear_spec(out, n + "fc2", C, ffn)
        norm_spec(out, n + "final_layer_norm", C)


class _BartStack:
    """Forward of one BART stack over ``self.p``; ``stack`` is its weights' prefix."""

    config: Any
    p: dict
    stack = ""

    def embed_weight(self) -> tf.Variable:
        raise NotImplementedError

    def embed(self, ids: tf.Tensor, past: Any = 0, training: bool = False) -> tf.Tensor:
        c, T = self.config, tf.shape(ids)[1]
        check_positions(T, past, c.max_position_embeddings, "BART")
        scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        x = tf.gather(self.embed_weight(), ids) * scale  # (B, T, C)
        x = x + tf.gather(
            self.p[self.stack + "embed_positions.weight"], tf.range(T) + past + POSITION_OFFSET
        )
        x = layer_norm(self.p, self.stack + "layernorm_embedding", x, EPS)
        return dropout(x, c.dropout, training)

    def _decoder(self) -> bool:
        return self.stack.endswith("decoder.")

    def layer_count(self) -> int:
        c = self.config
        return c.decoder_layers if self._decoder() else c.encoder_layers

    def heads(self) -> int:
        c = self.config
        return c.decoder_attention_heads if self._decoder() else c.encoder_attention_heads

    def _proj(self, name: str, x: tf.Tensor) -> tf.Tensor:
        return split_heads(linear(self.p, name, x), self.heads())

    def layer(self, i, x, attn: SelfAttention, cross, enc_keep, training: bool) -> tf.Tensor:
        c, n = self.config, f"{self.stack}layers.{i}."
        a = n + "self_attn."
        h = attn(
            i, self._proj(a + "q_proj", x), self._proj(a + "k_proj", x), self._proj(a + "v_proj", x)
        )
        h = dropout(linear(self.p, a + "out_proj", h), c.dropout, training)
        x = layer_norm(self.p, n + "self_attn_layer_norm", x + h, EPS)
        if cross is not None:
            q = self._proj(n + "encoder_attn.q_proj", x)
            h = attn.cross(q, cross, enc_keep, c.attention_dropout)
            h = dropout(linear(self.p, n + "encoder_attn.out_proj", h), c.dropout, training)
            x = layer_norm(self.p, n + "encoder_attn_layer_norm", x + h, EPS)
        h = activation(c.activation_function)(linear(self.p, n + "fc1", x))
        h = linear(self.p, n + "fc2", dropout(h, c.activation_dropout, training))
        return layer_norm(self.p, n + "final_layer_norm", x + dropout(h, c.dropout, training), EPS)

    def cross_kv(self, i: int, enc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        a = f"{self.stack}layers.{i}.encoder_attn."
        return self._proj(a + "k_proj", enc), self._proj(a + "v_proj", enc)


class TFBartModel(_BartStack, TFPretrained):
    """The whole BART used as an encoder: returns the encoder stack's states (B, S, C)."""

    model_types = ("bart",)
    stack = "encoder."

    def weight_specs(self) -> dict[str, Spec]:
        c = self.config
        out: dict[str, Spec] = {"shared.weight": ((c.vocab_size, c.d_model), "normal")}
        for side in ("encoder.", "decoder."):
            if not c.tie_word_embeddings:
                out[side + "embed_tokens.weight"] = ((c.vocab_size, c.d_model), "normal")
            stack_specs(out, c, side, side == "decoder.")
        return out

    def get_input_embeddings(self) -> tf.Variable:
        return self.p["shared.weight"]

    def embed_weight(self) -> tf.Variable:
        return self.p.get("encoder.embed_tokens.weight", self.p["shared.weight"])

    def call(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        training: bool = False,
        **kwargs: Any,
    ) -> BaseModelOutput | tuple:
        """Encoder states (B, S, C); BART has no token types (``token_type_ids`` is ignored);
        per-layer states and attention weights when asked."""
        named = {k: v for k, v in locals().items() if k in ENCODER_INPUTS}
        a = call_inputs(type(self).__name__, ENCODER_INPUTS, named, kwargs)
        training = bool(a["training"])
        attn = SelfAttention(
            padding_keep(int_tensor(a["attention_mask"])),
            rate=self.config.attention_dropout,
            training=training,
            **asked(self.config, a["output_attentions"], a["output_hidden_states"]),
        )
        x = self.embed(int_tensor(a["input_ids"]), 0, training)
        x = self.run_layers(x, attn, None, None, training)
        return body_output(attn, x, None, a["return_dict"])


class TFBartForCausalLM(_BartStack, TFDecoder, TFPretrained):
    """BART's decoder with an LM head (``lm_head``, tied to ``model.decoder.embed_tokens``)."""

    model_types = ("bart",)
    is_decoder_class = True
    stack = "model.decoder."

    def __init__(self, config: Any, **kwargs: Any) -> None:
        config.is_decoder, config.is_encoder_decoder = True, False  # as transformers sets them
        super().__init__(config, **kwargs)

    def weight_specs(self) -> dict[str, Spec]:
        c = self.config
        out: dict[str, Spec] = {
            self.stack + "embed_tokens.weight": ((c.vocab_size, c.d_model), "normal")
        }
        stack_specs(out, c, self.stack, decoder=True)
        if not c.tie_word_embeddings:
            out["lm_head.weight"] = ((c.vocab_size, c.d_model), "normal")
        return out

    def get_input_embeddings(self) -> tf.Variable:
        return self.p[self.stack + "embed_tokens.weight"]

    embed_weight = get_input_embeddings

    def width(self) -> int:
        return self.config.d_model

    def head(self, x: tf.Tensor) -> tf.Tensor:
        return self.logits(x)  # (B, T, V)
