"""GPT-2 as a Flax decoder with cross-attention (transformers 4.x's ``FlaxGPT2LMHeadModel`` names).

Radford et al., 2019: pre-LN blocks, learned positions, LM head tied to ``wte``. For seq2seq each
block gains ``ln_cross_attn`` and ``crossattention`` (``q_attn`` on the decoder states, ``c_attn``
giving keys and values from the encoder). Projections are transformers 4.x Flax's Conv1D: kernel
(out, in), which is the PyTorch checkpoint's (in, out) weight transposed. Arithmetic as
:mod:`warmstart.torch.models.gpt2`.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from ...config import GPT2Config
from ..layers import (
    Array,
    Conv1D,
    DecoderModule,
    Pass,
    activation,
    attend,
    cached_kv,
    cross_kv,
    dense,
    embed,
    layer_norm,
    record_attention,
    record_hidden,
    split_heads,
    tied_embedding,
    tied_logits,
)
from ..pretrained import FlaxCausalLM


class GPT2Attention(nn.Module):
    config: GPT2Config
    layer: int
    cross: bool = False

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        c, H, C = self.config, self.config.n_head, self.config.n_embd
        std = c.initializer_range
        if self.cross:
            q = Conv1D(C, std, name="q_attn")(x)
            c_attn = Conv1D(2 * C, std, name="c_attn")

            def project() -> tuple[Array, Array]:
                k, v = jnp.split(c_attn(p.enc), 2, axis=-1)
                return split_heads(k, H), split_heads(v, H)

            k, v = cross_kv(p.cache, self.layer, project)
            p.new_cross[self.layer] = (k, v)
            keep = p.enc_keep
        else:
            q, k, v = jnp.split(Conv1D(3 * C, std, name="c_attn")(x), 3, axis=-1)
            k, v, entry = cached_kv(p.cache, self.layer, split_heads(k, H), split_heads(v, H))
            p.new_self[self.layer] = entry
            keep = p.keep
        q = split_heads(q, H)  # (B, H, T, D)
        scale = 1.0 if c.scale_attn_weights else math.sqrt(C // H)
        if c.scale_attn_by_inverse_layer_idx:
            scale /= self.layer + 1
        h, probs = attend(q * scale if scale != 1.0 else q, k, v, keep, c.attn_pdrop, p.train)
        record_attention(self, probs, self.cross)
        h = Conv1D(C, std / math.sqrt(2 * c.n_layer), name="c_proj")(h)
        return nn.Dropout(c.resid_pdrop)(h, deterministic=not p.train)


class GPT2MLP(nn.Module):
    config: GPT2Config

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        c = self.config
        inner = c.n_inner if c.n_inner is not None else 4 * c.n_embd
        h = activation(c.activation_function)(Conv1D(inner, c.initializer_range, name="c_fc")(x))
        h = Conv1D(c.n_embd, c.initializer_range / math.sqrt(2 * c.n_layer), name="c_proj")(h)
        return nn.Dropout(c.resid_pdrop)(h, deterministic=not train)


class GPT2Block(nn.Module):
    config: GPT2Config
    layer: int

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        c, eps = self.config, self.config.layer_norm_epsilon
        x = x + GPT2Attention(c, self.layer, name="attn")(layer_norm(eps, "ln_1")(x), p)
        if p.enc is not None:
            h = layer_norm(eps, "ln_cross_attn")(x)
            x = x + GPT2Attention(c, self.layer, cross=True, name="crossattention")(h, p)
        return x + GPT2MLP(c, name="mlp")(layer_norm(eps, "ln_2")(x), p.train)


class GPT2Blocks(nn.Module):
    config: GPT2Config

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        for i in range(self.config.n_layer):
            record_hidden(self, x)
            x = GPT2Block(self.config, i, name=str(i))(x, p)
        return x


class GPT2Module(nn.Module):
    """GPT-2's embeddings and blocks (``transformer``); always causal."""

    config: GPT2Config

    @nn.compact
    def __call__(self, input_ids: Array, p: Pass, start: Array | int) -> Array:
        c, T = self.config, input_ids.shape[1]
        x = embed(c.vocab_size, c.n_embd, c.initializer_range, "wte")(input_ids)  # (B, T, C)
        x = x + embed(c.n_positions, c.n_embd, c.initializer_range, "wpe")(start + jnp.arange(T))
        x = nn.Dropout(c.embd_pdrop)(x, deterministic=not p.train)
        x = GPT2Blocks(c, name="h")(x, p)
        x = layer_norm(c.layer_norm_epsilon, "ln_f")(x)
        record_hidden(self, x)  # the last hidden state is ln_f's output, as transformers'
        return x


class GPT2LMHeadModule(DecoderModule):
    """GPT-2 as a decoder: ``transformer`` and ``lm_head`` (tied to ``wte`` unless
    ``tie_word_embeddings`` is off)."""

    def logits(self, input_ids: Array, token_type_ids: Array | None, p: Pass, start) -> Array:
        c = self.config
        if p.enc is not None and not c.add_cross_attention:
            raise ValueError(
                "This GPT-2 has no cross-attention; build it with add_cross_attention."
            )
        h = GPT2Module(c, name="transformer")(input_ids, p, start)
        if c.tie_word_embeddings:
            return tied_logits(h, tied_embedding(self, "transformer", "wte", "embedding"))
        return dense(c.vocab_size, c.initializer_range, "lm_head", use_bias=False)(h)


class FlaxGPT2LMHeadModel(FlaxCausalLM):
    """transformers 4.x's FlaxGPT2LMHeadModel."""

    model_types = ("gpt2",)
    module_class = GPT2LMHeadModule
