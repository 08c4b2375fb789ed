"""GPT-2 as a decoder with cross-attention (``TFGPT2LMHeadModel``) and its body (``TFGPT2Model``).

Radford et al., "Language Models are Unsupervised Multitask Learners", 2019: pre-LN blocks, learned
absolute positions, LM head tied to ``wte``; for seq2seq each block gains a pre-LN cross-attention
(``crossattention.q_attn`` for the queries, ``crossattention.c_attn`` for keys and values). Weights
are in PyTorch's ``nn.Linear`` layout (out, in); checkpoints' Conv1D (in, out) is transposed on load
and save (:mod:`warmstart.keys`).
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
    causal_keep,
    dropout,
    layer_norm,
    linear,
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


class TFGPT2Model(TFDecoder, TFPretrained):
    """GPT-2's embeddings and blocks (``transformer.*`` inside ``TFGPT2LMHeadModel``)."""

    model_types = ("gpt2",)
    prefix = ""

    def weight_specs(self) -> dict[str, Spec]:
        c, b = self.config, self.prefix
        C = c.n_embd
        F = c.n_inner if c.n_inner is not None else 4 * C
        out: dict[str, Spec] = {
            b + "wte.weight": ((c.vocab_size, C), "normal"),
            b + "wpe.weight": ((c.n_positions, C), "normal"),
        }
        for i in range(c.n_layer):
            n = f"{b}h.{i}."
            norm_spec(out, n + "ln_1", C)
            linear_spec(out, n + "attn.c_attn", 3 * C, C)
            linear_spec(out, n + "attn.c_proj", C, C)
            norm_spec(out, n + "ln_2", C)
            if c.add_cross_attention:
                norm_spec(out, n + "ln_cross_attn", C)
                linear_spec(out, n + "crossattention.c_attn", 2 * C, C)
                linear_spec(out, n + "crossattention.q_attn", C, C)
                linear_spec(out, n + "crossattention.c_proj", C, C)
            linear_spec(out, n + "mlp.c_fc", F, C)
            linear_spec(out, n + "mlp.c_proj", C, F)
        norm_spec(out, b + "ln_f", C)
        return out

    def get_input_embeddings(self) -> tf.Variable:
        return self.p[self.prefix + "wte.weight"]

    def layer_count(self) -> int:
        return self.config.n_layer

    def heads(self) -> int:
        return self.config.n_head

    def width(self) -> int:
        return self.config.n_embd

    def max_positions(self) -> int:
        return self.config.n_positions

    def q_scale(self, i: int) -> float:
        """The attention scores' scale: 1/sqrt(D), changed as the config's switches ask."""
        c = self.config
        D = c.n_embd // c.n_head
        scale = 1.0 if c.scale_attn_weights else math.sqrt(D)
        return (scale / (i + 1) if c.scale_attn_by_inverse_layer_idx else scale) / math.sqrt(D)

    def embed(self, ids: tf.Tensor, past: Any = 0, training: bool = False) -> tf.Tensor:
        T = tf.shape(ids)[1]
        check_positions(T, past, self.config.n_positions, "GPT-2")
        x = tf.gather(self.get_input_embeddings(), ids)  # (B, T, C)
        x = x + tf.gather(self.p[self.prefix + "wpe.weight"], tf.range(T) + past)
        return dropout(x, self.config.embd_pdrop, training)

    def layer(self, i, x, attn: SelfAttention, cross, enc_keep, training: bool) -> tf.Tensor:
        c, n, H = self.config, f"{self.prefix}h.{i}.", self.config.n_head
        eps, drop = c.layer_norm_epsilon, c.resid_pdrop
        q, k, v = tf.split(
            linear(self.p, n + "attn.c_attn", layer_norm(self.p, n + "ln_1", x, eps)), 3, -1
        )
        h = attn(i, split_heads(q, H), split_heads(k, H), split_heads(v, H), self.q_scale(i))
        x = x + dropout(linear(self.p, n + "attn.c_proj", h), drop, training)
        if cross is not None:
            h = layer_norm(self.p, n + "ln_cross_attn", x, eps)
            q = split_heads(linear(self.p, n + "crossattention.q_attn", h), H)
            h = attn.cross(q, cross, enc_keep, c.attn_pdrop, self.q_scale(i))
            x = x + dropout(linear(self.p, n + "crossattention.c_proj", h), drop, training)
        h = activation(c.activation_function)(
            linear(self.p, n + "mlp.c_fc", layer_norm(self.p, n + "ln_2", x, eps))
        )
        return x + dropout(linear(self.p, n + "mlp.c_proj", h), drop, training)

    def cross_kv(self, i: int, enc: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        k, v = tf.split(linear(self.p, f"{self.prefix}h.{i}.crossattention.c_attn", enc), 2, -1)
        return split_heads(k, self.config.n_head), split_heads(v, self.config.n_head)

    def final(self, x: tf.Tensor) -> tf.Tensor:
        return layer_norm(self.p, self.prefix + "ln_f", x, self.config.layer_norm_epsilon)

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
        """Hidden states (B, T, C) of causal self-attention over ``input_ids``; per-layer states
        and attention weights when asked (keyword, else the config's field)."""
        named = {k: v for k, v in locals().items() if k in ENCODER_INPUTS}
        a = call_inputs(type(self).__name__, ENCODER_INPUTS, named, kwargs)
        if a["token_type_ids"] is not None:
            raise TypeError("GPT-2 here has no token types; leave token_type_ids None.")
        ids, training = int_tensor(a["input_ids"]), bool(a["training"])
        attn = SelfAttention(
            causal_keep(tf.shape(ids)[1], int_tensor(a["attention_mask"])),
            rate=self.config.attn_pdrop,
            training=training,
            **asked(self.config, a["output_attentions"], a["output_hidden_states"]),
        )
        x = self.run_layers(self.embed(ids, 0, training), attn, None, None, training)
        return body_output(attn, x, None, a["return_dict"])


class TFGPT2LMHeadModel(TFGPT2Model):
    """GPT-2 used as a decoder: ``transformer`` plus ``lm_head`` (tied to ``wte``)."""

    is_decoder_class = True
    prefix = "transformer."

    def weight_specs(self) -> dict[str, Spec]:
        out, c = super().weight_specs(), self.config
        if not c.tie_word_embeddings:
            out["lm_head.weight"] = ((c.vocab_size, c.n_embd), "normal")
        return out

    call = TFDecoder.call

    def head(self, x: tf.Tensor) -> tf.Tensor:
        return self.logits(x)  # (B, T, V)
