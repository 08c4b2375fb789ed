"""BART's encoder and decoder stacks in Flax (transformers 4.x's ``FlaxBartModel`` and
``FlaxBartForCausalLM`` names).

Lewis et al., 2020: post-LN layers, learned positions offset by 2, ``layernorm_embedding``, optional
``sqrt(d_model)`` embedding scale; decoder layers hold cross-attention (``encoder_attn``). As an
encoder the whole BART is kept (``shared``, ``encoder``, ``decoder``: the layout transformers'
EncoderDecoderModel saves) and the encoder stack encodes, as :mod:`warmstart.torch.models.bart`.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from ...config import BartConfig
from ..layers import (
    Array,
    DecoderModule,
    Pass,
    QKVAttention,
    activation,
    decoder_pass,
    dense,
    embed,
    layer_norm,
    padding_keep,
    record_hidden,
    tied_embedding,
    tied_logits,
)
from ..pretrained import FlaxCausalLM, FlaxEncoderModel

POSITION_OFFSET = 2  # BART's learned positions start at row 2 (a fairseq legacy)
EPS = 1e-5  # nn.LayerNorm's default in the PyTorch BART


def bart_attention(c: BartConfig, heads: int, layer: int, name: str) -> QKVAttention:
    names = ("q_proj", "k_proj", "v_proj")
    return QKVAttention(heads, c.init_std, c.attention_dropout, layer, names, "out_proj", name=name)


class BartLayer(nn.Module):
    """A post-LN encoder layer, or with ``decoder`` a decoder layer with cross-attention."""

    config: BartConfig
    layer: int
    decoder: bool

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        c, train = self.config, p.train
        heads = c.decoder_attention_heads if self.decoder else c.encoder_attention_heads
        ffn = c.decoder_ffn_dim if self.decoder else c.encoder_ffn_dim
        drop = nn.Dropout(c.dropout, deterministic=not train)
        h = bart_attention(c, heads, self.layer, "self_attn")(x, p)
        x = layer_norm(EPS, "self_attn_layer_norm")(x + drop(h))
        if self.decoder:
            h = bart_attention(c, heads, self.layer, "encoder_attn")(x, p, cross=True)
            x = layer_norm(EPS, "encoder_attn_layer_norm")(x + drop(h))
        h = activation(c.activation_function)(dense(ffn, c.init_std, "fc1")(x))
        h = nn.Dropout(c.activation_dropout)(h, deterministic=not train)
        h = dense(c.d_model, c.init_std, "fc2")(h)
        return layer_norm(EPS, "final_layer_norm")(x + drop(h))  # (B, T, C)


class BartLayers(nn.Module):
    config: BartConfig
    decoder: bool

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        c = self.config
        for i in range(c.decoder_layers if self.decoder else c.encoder_layers):
            record_hidden(self, x)
            x = BartLayer(c, i, self.decoder, name=str(i))(x, p)
        record_hidden(self, x)
        return x


class BartStack(nn.Module):
    """BART's encoder (or ``decoder``) stack over word embeddings ``tokens`` (V, C), given when
    they are shared (``FlaxBartModel``) or ``None`` to hold its own ``embed_tokens``."""

    config: BartConfig
    decoder: bool

    @nn.compact
    def __call__(self, input_ids: Array, tokens: Array | None, p: Pass, start=0) -> Array:
        c = self.config
        if tokens is None:
            x = embed(c.vocab_size, c.d_model, c.init_std, "embed_tokens")(input_ids)
        else:
            x = jnp.take(tokens, input_ids, axis=0)  # (B, T, C)
        x = x * (math.sqrt(c.d_model) if c.scale_embedding else 1.0)
        rows = c.max_position_embeddings + POSITION_OFFSET
        positions = embed(rows, c.d_model, c.init_std, "embed_positions")
        x = x + positions(start + POSITION_OFFSET + jnp.arange(input_ids.shape[1]))
        x = layer_norm(EPS, "layernorm_embedding")(x)
        x = nn.Dropout(c.dropout)(x, deterministic=not p.train)
        return BartLayers(c, self.decoder, name="layers")(x, p)


class BartModule(nn.Module):
    """The whole BART used as an encoder: the encoder stack's states (B, S, C). The decoder stack
    holds parameters only (created at init), for the checkpoint layout."""

    config: BartConfig

    @nn.compact
    def __call__(
        self,
        input_ids: Array,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        train: bool = False,
    ) -> tuple[Array, None]:
        c = self.config
        shared = embed(c.vocab_size, c.d_model, c.init_std, "shared")
        tokens = shared.embedding if c.tie_word_embeddings else None
        p = Pass(padding_keep(attention_mask), train)
        x = BartStack(c, False, name="encoder")(input_ids, tokens, p)
        if self.is_initializing():
            dec, _ = decoder_pass(input_ids.shape[1], None, x, None, None, False)
            BartStack(c, True, name="decoder")(input_ids, tokens, dec)
        return x, None


class BartDecoderWrapper(nn.Module):
    config: BartConfig

    @nn.compact
    def __call__(self, input_ids: Array, p: Pass, start) -> Array:
        return BartStack(self.config, True, name="decoder")(input_ids, None, p, start)


class BartForCausalLMModule(DecoderModule):
    """BART's decoder (``model/decoder``) with ``lm_head`` tied to its word embeddings."""

    def logits(self, input_ids: Array, token_type_ids: Array | None, p: Pass, start) -> Array:
        c = self.config
        h = BartDecoderWrapper(c, name="model")(input_ids, p, start)
        if c.tie_word_embeddings:
            E = tied_embedding(self, "model", "decoder", "embed_tokens", "embedding")
            return tied_logits(h, E)
        return dense(c.vocab_size, c.init_std, "lm_head", use_bias=False)(h)


class FlaxBartModel(FlaxEncoderModel):
    """transformers 4.x's FlaxBartModel."""

    model_types = ("bart",)
    module_class = BartModule


class FlaxBartForCausalLM(FlaxCausalLM):
    """transformers 4.x's FlaxBartForCausalLM."""

    model_types = ("bart",)
    module_class = BartForCausalLMModule
