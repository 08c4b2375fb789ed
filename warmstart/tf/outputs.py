"""The TensorFlow side's outputs, with transformers 4.x's TF field names and order (read as
attributes, by key or by index: :class:`warmstart.outputs.ModelOutput`)."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from ..outputs import ModelOutput, Seq2SeqLMOutput

Layers = tuple[tf.Tensor, ...]


class TFSeq2SeqLMOutput(Seq2SeqLMOutput):
    """What ``TFEncoderDecoderModel`` returns (the core's output, fields in 4.x's order): ``loss``
    (with labels), ``logits`` (B, T, V), ``encoder_last_hidden_state`` (B, S, C); when asked,
    hidden states ((B, T or S, C) per layer, the embeddings first) and attention weights
    ((B, H, T, S) per layer) of both sides."""


@dataclass
class TFCausalLMOutput(ModelOutput):
    """What a TF decoder (``TFBertLMHeadModel``, ``TFGPT2LMHeadModel``, ...) returns, as
    transformers 4.x's ``TFCausalLMOutputWithCrossAttentions``."""

    loss: tf.Tensor | None = None
    logits: tf.Tensor | None = None
    past_key_values: tf.Tensor | None = None
    hidden_states: Layers | None = None
    attentions: Layers | None = None
    cross_attentions: Layers | None = None
