"""BERT as an encoder (``TFBertModel``) and as a decoder with cross-attention
(``TFBertLMHeadModel``), on TensorFlow.

Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers", 2019: post-LN layers, learned
absolute positions, token types; as a decoder (Rothe et al., 2020) self-attention is causal and every
layer gains a cross-attention block. RoBERTa and ELECTRA subclass these (:mod:`.roberta`,
:mod:`.electra`). Variable names are the PyTorch side's (:mod:`warmstart.torch.models.bert`).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ...outputs import BaseModelOutput
from ..inputs import call_inputs, int_tensor
from ..layers import (
    SelfAttention,
    activation,
    causal_keep,
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
    cross_keys_values,
    linear_spec,
    norm_spec,
)


def check_length(n_tokens: int | None, allowed: int, model: str) -> None:
    if n_tokens is not None and n_tokens > allowed:
        raise ValueError(
            f"The input has {n_tokens} tokens but this {model} allows at most {allowed} "
            "(max_position_embeddings). Truncate it, e.g. tokenizer(..., truncation=True, "
            f"max_length={allowed})."
        )


class TFBertModel(TFPretrained):
    """BERT's embeddings and layer stack (``prefix`` names it inside a model with a head)."""

    model_types = ("bert",)
    prefix = ""
    pooler = True
    token_types = True  # BertGeneration has none

    def __init__(self, config: Any, add_pooling_layer: bool = True, **kwargs: Any) -> None:
        self.__dict__["pooler"] = self.pooler and add_pooling_layer
        super().__init__(config, **kwargs)

    def embedding_width(self) -> int:
        return self.config.hidden_size

    def weight_specs(self) -> dict[str, Spec]:
        c, b, E = self.config, self.prefix, self.embedding_width()
        out: dict[str, Spec] = {}
        e = b + "embeddings."
        out[e + "word_embeddings.weight"] = ((c.vocab_size, E), "normal")
        out[e + "position_embeddings.weight"] = ((c.max_position_embeddings, E), "normal")
        if self.token_types:
            out[e + "token_type_embeddings.weight"] = ((c.type_vocab_size, E), "normal")
        norm_spec(out, e + "LayerNorm", E)
        C, F = c.hidden_size, c.intermediate_size
        for i in range(c.num_hidden_layers):
            n = f"{b}encoder.layer.{i}."
            blocks = ["attention."] + (["crossattention."] if c.add_cross_attention else [])
            for a in blocks:
                for proj in ("query", "key", "value"):
                    linear_spec(out, n + a + "self." + proj, C, C)
                linear_spec(out, n + a + "output.dense", C, C)
                norm_spec(out, n + a + "output.LayerNorm", C)
            linear_spec(out, n + "intermediate.dense", F, C)
            linear_spec(out, n + "output.dense", C, F)
            norm_spec(out, n + "output.LayerNorm", C)
        if self.pooler:
            linear_spec(out, b + "pooler.dense", C, C)
        return out

    def get_input_embeddings(self) -> tf.Variable:
        return self.p[self.prefix + "embeddings.word_embeddings.weight"]

    def layer_count(self) -> int:
        return self.config.num_hidden_layers

    def heads(self) -> int:
        return self.config.num_attention_heads

    # ----------------------------------------------------------------- forward
    def positions(self, ids: tf.Tensor, T: int | tf.Tensor, past: tf.Tensor | int) -> tf.Tensor:
        """Position embeddings of past .. past + T - 1: (T, E)."""
        check_positions(T, past, self.config.max_position_embeddings, "BERT")
        w = self.p[self.prefix + "embeddings.position_embeddings.weight"]
        return tf.gather(w, tf.range(T) + past)

    def embed(
        self,
        ids: tf.Tensor,
        past: tf.Tensor | int = 0,
        training: bool = False,
        token_type_ids: tf.Tensor | None = None,
    ) -> tf.Tensor:
        c, e = self.config, self.prefix + "embeddings."
        x = tf.gather(self.get_input_embeddings(), ids)  # (B, T, E)
        x = x + self.positions(ids, tf.shape(ids)[1], past)
        if self.token_types:
            types = self.p[e + "token_type_embeddings.weight"]
            x = x + (types[0] if token_type_ids is None else tf.gather(types, token_type_ids))
        x = layer_norm(self.p, e + "LayerNorm", x, c.layer_norm_eps)
        return dropout(x, c.hidden_dropout_prob, training)

    def _out(self, name: str, h: tf.Tensor, residual: tf.Tensor, training: bool) -> tf.Tensor:
        h = dropout(linear(self.p, name + ".dense", h), self.config.hidden_dropout_prob, training)
        return layer_norm(self.p, name + ".LayerNorm", h + residual, self.config.layer_norm_eps)

    def _qkv(self, name: str, x: tf.Tensor, which: str) -> tf.Tensor:
        return split_heads(linear(self.p, name + which, x), self.config.num_attention_heads)

    def layer(
        self,
        i: int,
        x: tf.Tensor,
        attn: SelfAttention,
        cross: tuple[tf.Tensor, tf.Tensor] | None,
        enc_keep: tf.Tensor | None,
        training: bool,
    ) -> tf.Tensor:
        """One post-LN layer: self-attention, cross-attention (given ``cross`` keys/values), MLP."""
        c, n = self.config, f"{self.prefix}encoder.layer.{i}."
        a = n + "attention.self."
        h = attn(i, self._qkv(a, x, "query"), self._qkv(a, x, "key"), self._qkv(a, x, "value"))
        x = self._out(n + "attention.output", h, x, training)
        if cross is not None:
            q = self._qkv(n + "crossattention.self.", x, "query")
            rate = c.attention_probs_dropout_prob
            h = attn.cross(q, cross, enc_keep, rate)
            x = self._out(n + "crossattention.output", h, x, training)
        act = activation(c.hidden_act)
        return self._out(
            n + "output", act(linear(self.p, n + "intermediate.dense", x)), x, training
        )

    def cross_kv(self, i: int, enc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        a = f"{self.prefix}encoder.layer.{i}.crossattention.self."
        return self._qkv(a, enc, "key"), self._qkv(a, enc, "value")

    def call(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        encoder_hidden_states: Any = None,
        encoder_attention_mask: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        training: bool = False,
        **kwargs: Any,
    ) -> BaseModelOutput | tuple:
        """Encoder states (B, S, C) and, with a pooler, the pooled first token (B, C); hidden
        states and attention weights when asked (keyword, else the config's field). Built as a
        decoder body (``is_decoder``), the self-attention is causal and ``encoder_hidden_states``
        (B, S', C) are read by cross-attention, as 4.x's ``TFBertModel``."""
        named = {k: v for k, v in locals().items() if k in BODY_INPUTS}
        a = call_inputs(type(self).__name__, BODY_INPUTS, named, kwargs)
        c, training = self.config, bool(a["training"])
        ids = int_tensor(a["input_ids"])
        if ids is None:
            raise ValueError(f"Pass input_ids to {type(self).__name__}.")
        mask = int_tensor(a["attention_mask"])
        attn = SelfAttention(
            causal_keep(tf.shape(ids)[1], mask) if c.is_decoder else padding_keep(mask),
            rate=c.attention_probs_dropout_prob,
            training=training,
            **asked(c, a["output_attentions"], a["output_hidden_states"]),
        )
        cross = cross_keys_values(self, a["encoder_hidden_states"], c.num_hidden_layers)
        enc_keep = padding_keep(int_tensor(a["encoder_attention_mask"]))
        x = self.embed(ids, 0, training, int_tensor(a["token_type_ids"]))
        x = self.run_layers(x, attn, cross, enc_keep, training)
        pooled = None
        if self.pooler:
            pooled = tf.tanh(linear(self.p, self.prefix + "pooler.dense", x[:, 0]))
        return body_output(attn, x, pooled, a["return_dict"])


BODY_INPUTS = (
    *ENCODER_INPUTS[:3],
    "encoder_hidden_states",
    "encoder_attention_mask",
    *ENCODER_INPUTS[3:],
)


def check_positions(T: int | tf.Tensor, past: tf.Tensor | int, allowed: int, model: str) -> None:
    """:func:`check_length` where the lengths are known when tracing."""
    n = tf.get_static_value(T)
    if isinstance(past, int) and n is not None:
        check_length(past + int(n), allowed, model)


class TFBertLMHeadModel(TFDecoder, TFBertModel):
    """BERT used as a decoder: ``bert`` (no pooler) plus the ``cls.predictions`` LM head. The
    other BERT-bodied families differ in the names below (and :meth:`head_width`)."""

    is_decoder_class = True
    prefix = "bert."
    pooler = False
    transform: tuple[str, str] | None = (
        "cls.predictions.transform.dense",
        "cls.predictions.transform.LayerNorm",
    )
    """The head's transform before the vocabulary projection (dense, activation, LayerNorm), or
    None where the head is the projection alone (BertGeneration)."""
    transform_act: str | None = None  # the transform's activation; None: config.hidden_act
    output_name = "cls.predictions.decoder.weight"
    bias_name = "cls.predictions.bias"

    def head_width(self) -> int:
        """The width the head projects from: the word embeddings' it is tied to."""
        return self.embedding_width()

    def tied(self) -> bool:
        return self.config.tie_word_embeddings

    def weight_specs(self) -> dict[str, Spec]:
        c, out, W = self.config, super().weight_specs(), self.head_width()
        if self.transform is not None:
            linear_spec(out, self.transform[0], W, c.hidden_size)
            norm_spec(out, self.transform[1], W)
        if not self.tied():
            out[self.output_name] = ((c.vocab_size, W), "normal")
        out[self.bias_name] = ((c.vocab_size,), "zeros")
        return out

    def head(self, x: tf.Tensor) -> tf.Tensor:
        c = self.config
        if self.transform is not None:
            act = activation(self.transform_act or c.hidden_act)
            x = act(linear(self.p, self.transform[0], x))
            x = layer_norm(self.p, self.transform[1], x, c.layer_norm_eps)
        return self.logits(x, self.p[self.bias_name])  # (B, T, V)
