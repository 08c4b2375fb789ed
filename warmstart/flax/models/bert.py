"""BERT, RoBERTa/XLM-R, ELECTRA and BertGeneration bodies as Flax encoders and decoders with
cross-attention.

Devlin et al., 2019 (BERT); Liu et al., 2019 (RoBERTa: positions counted from ``pad_token_id + 1``
over non-pad tokens, LM head ``lm_head``); Clark et al., 2020 (ELECTRA: ``embedding_size`` wide
embeddings projected by ``embeddings_project``, the generator's LM head); BertGeneration (Rothe et
al., 2020: no token types, no pooler, ``lm_head`` a tied projection plus a bias; transformers 4.x
had no Flax class, so its parameters are named as BERT's). As decoders (Rothe et al., 2020)
self-attention is causal and every layer gains ``crossattention``. The arithmetic follows
:mod:`warmstart.torch.models.bert`; parameter names are transformers 4.x Flax's (``bert/encoder/
layer/0/attention/self/query/kernel``), so its ``flax_model.msgpack`` files load unchanged.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ...config import Config
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

NO_POOLER = ("electra", "bert-generation")


class BertEmbeddings(nn.Module):
    """Word + token-type + learned position embeddings, LayerNorm, dropout: (B, T, E)."""

    config: Config

    @nn.compact
    def __call__(self, input_ids: Array, token_type_ids: Array | None, start, train: bool) -> Array:
        c = self.config
        E, std = getattr(c, "embedding_size", c.hidden_size), c.initializer_range
        x = embed(c.vocab_size, E, std, "word_embeddings")(input_ids)  # (B, T, E)
        positions = embed(c.max_position_embeddings, E, std, "position_embeddings")
        T = input_ids.shape[1]
        if c.model_type in ("roberta", "xlm-roberta"):  # fairseq's make_positions
            keep = (input_ids != c.pad_token_id).astype(jnp.int32)
            ids = (jnp.cumsum(keep, axis=1) + start) * keep + c.pad_token_id  # (B, T)
        else:
            ids = (start + jnp.arange(T))[None]  # (1, T)
        x = x + positions(ids)
        if c.model_type != "bert-generation":  # BertGeneration has no token types
            types = embed(c.type_vocab_size, E, std, "token_type_embeddings")
            x = x + types(jnp.zeros_like(input_ids) if token_type_ids is None else token_type_ids)
        x = layer_norm(c.layer_norm_eps, "LayerNorm")(x)
        return nn.Dropout(c.hidden_dropout_prob)(x, deterministic=not train)


class BertOutput(nn.Module):
    """Projection, dropout, residual, LayerNorm (post-LN): the attention's and the feed-forward's."""

    config: Config

    @nn.compact
    def __call__(self, h: Array, residual: Array, train: bool) -> Array:
        c = self.config
        h = dense(c.hidden_size, c.initializer_range, "dense")(h)
        h = nn.Dropout(c.hidden_dropout_prob)(h, deterministic=not train)
        return layer_norm(c.layer_norm_eps, "LayerNorm")(h + residual)


class BertAttention(nn.Module):
    config: Config
    layer: int

    @nn.compact
    def __call__(self, x: Array, p: Pass, cross: bool = False) -> Array:
        c = self.config
        h = QKVAttention(
            c.num_attention_heads,
            c.initializer_range,
            c.attention_probs_dropout_prob,
            self.layer,
            name="self",
        )(x, p, cross)
        return BertOutput(c, name="output")(h, x, p.train)


class BertIntermediate(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c = self.config
        return activation(c.hidden_act)(dense(c.intermediate_size, c.initializer_range, "dense")(x))


class BertLayer(nn.Module):
    config: Config
    layer: int

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        c = self.config
        x = BertAttention(c, self.layer, name="attention")(x, p)
        if p.enc is not None:
            x = BertAttention(c, self.layer, name="crossattention")(x, p, cross=True)
        return BertOutput(c, name="output")(BertIntermediate(c, name="intermediate")(x), x, p.train)


class BertLayers(nn.Module):
    """The layer stack, named ``0``, ``1``, ... as transformers 4.x's Flax layer collection."""

    config: Config

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        for i in range(self.config.num_hidden_layers):
            record_hidden(self, x)
            x = BertLayer(self.config, i, name=str(i))(x, p)
        record_hidden(self, x)
        return x


class BertEncoder(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, x: Array, p: Pass) -> Array:
        return BertLayers(self.config, name="layer")(x, p)


def bert_pass(
    config: Config,
    T: int,
    attention_mask: Array | None,
    enc: Array | None = None,
    enc_mask: Array | None = None,
    cache: dict | None = None,
    train: bool = False,
) -> tuple[Pass, Array | int]:
    """A call's :class:`Pass` and first position: with ``config.is_decoder`` a causal decoder's
    (cross-attention, the cache), else an encoder's."""
    if config.is_decoder:
        return decoder_pass(T, attention_mask, enc, enc_mask, cache, train)
    return Pass(padding_keep(attention_mask), train), 0


class BertModule(nn.Module):
    """BERT's (or RoBERTa's, ELECTRA's) body: an encoder, or with ``config.is_decoder`` a causal
    decoder with cross-attention (under an LM head, which passes the call's :class:`Pass` ``p``
    and first position). Returns the states (B, T, C) and the pooled output (or None)."""

    config: Config
    add_pooling_layer: bool = True

    @nn.compact
    def __call__(
        self,
        input_ids: Array,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        train: bool = False,
        p: Pass | None = None,
        start: Array | int = 0,
    ) -> tuple[Array, Array | None]:
        c = self.config
        if p is None:  # a model of its own, not under an LM head
            p, start = bert_pass(c, input_ids.shape[1], attention_mask, train=train)
        x = BertEmbeddings(c, name="embeddings")(input_ids, token_type_ids, start, p.train)
        if getattr(c, "embedding_size", c.hidden_size) != c.hidden_size:  # ELECTRA
            x = dense(c.hidden_size, c.initializer_range, "embeddings_project")(x)
        x = BertEncoder(c, name="encoder")(x, p)  # (B, T, C)
        pooled = None
        if self.add_pooling_layer:
            pooled = BertPooler(c, name="pooler")(x)
        return x, pooled


class BertPooler(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c = self.config
        return jnp.tanh(dense(c.hidden_size, c.initializer_range, "dense")(x[:, 0]))  # (B, C)


def encoder_module(config: Config) -> BertModule:
    """The bare body as an encoder (BERT and RoBERTa with their pooler, ELECTRA and BertGeneration
    without)."""
    return BertModule(config, add_pooling_layer=config.model_type not in NO_POOLER)


def vocab_logits(h: Array, embedding: Array | None, config: Config, name: str) -> Array:
    """``tied_logits(h, embedding)`` (B, T, V) when the head is tied, else a projection ``name`` of its own
    (call inside a compact method)."""
    if config.tie_word_embeddings:
        return tied_logits(h, embedding)
    return dense(config.vocab_size, config.initializer_range, name, use_bias=False)(h)


class BertPredictionHead(nn.Module):
    """``cls.predictions``: transform (dense, activation, LayerNorm), vocabulary projection, bias;
    without ``transform``, BertGeneration's ``lm_head`` (the projection and the bias)."""

    config: Config
    transform: bool = True

    @nn.compact
    def __call__(self, h: Array, embedding: Array) -> Array:
        c = self.config
        if self.transform:
            h = BertTransform(c, name="transform")(h)
        bias = self.param("bias", nn.initializers.zeros, (c.vocab_size,))
        return vocab_logits(h, embedding, c, "decoder") + bias  # (B, T, V)


class BertTransform(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, h: Array) -> Array:
        c = self.config
        h = activation(c.hidden_act)(dense(c.hidden_size, c.initializer_range, "dense")(h))
        return layer_norm(c.layer_norm_eps, "LayerNorm")(h)


class BertOnlyMLMHead(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, h: Array, embedding: Array) -> Array:
        return BertPredictionHead(self.config, name="predictions")(h, embedding)


class RobertaLMHead(nn.Module):
    """``lm_head``: dense, exact GELU, ``layer_norm``, vocabulary projection, bias."""

    config: Config

    @nn.compact
    def __call__(self, h: Array, embedding: Array) -> Array:
        c = self.config
        h = activation("gelu")(dense(c.hidden_size, c.initializer_range, "dense")(h))
        h = layer_norm(c.layer_norm_eps, "layer_norm")(h)
        bias = self.param("bias", nn.initializers.zeros, (c.vocab_size,))
        return vocab_logits(h, embedding, c, "decoder") + bias


class ElectraGeneratorPredictions(nn.Module):
    config: Config

    @nn.compact
    def __call__(self, h: Array) -> Array:
        c = self.config
        h = activation("gelu")(dense(c.embedding_size, c.initializer_range, "dense")(h))
        return layer_norm(c.layer_norm_eps, "LayerNorm")(h)  # (B, T, E)


class ElectraLMHead(nn.Module):
    """``generator_lm_head``: a bias of its own, the projection tied to the word embeddings or not."""

    config: Config

    @nn.compact
    def __call__(self, h: Array, embedding: Array) -> Array:
        c = self.config
        if c.tie_word_embeddings:
            logits = tied_logits(h, embedding)
        else:
            kernel = self.param(
                "kernel", nn.initializers.normal(c.initializer_range), (h.shape[-1], c.vocab_size)
            )
            logits = h @ kernel
        return logits + self.param("bias", nn.initializers.zeros, (c.vocab_size,))


class BertLMHeadModule(DecoderModule):
    """BERT, RoBERTa, ELECTRA or BertGeneration used as a decoder: the body (``bert``,
    ``roberta``, ``electra``; ``bert`` for BertGeneration) under its family's LM head."""

    def make_pass(self, *args: Any) -> tuple[Pass, Array | int]:
        return bert_pass(self.config, *args)

    def logits(self, input_ids: Array, token_type_ids: Array | None, p: Pass, start) -> Array:
        c = self.config
        bert = c.model_type in ("bert", "bert-generation")
        prefix = "bert" if bert else c.model_type.replace("xlm-", "")
        body = BertModule(c, add_pooling_layer=False, name=prefix)
        h, _ = body(input_ids, token_type_ids=token_type_ids, p=p, start=start)
        E = tied_embedding(self, prefix, "embeddings", "word_embeddings", "embedding")
        if c.model_type == "bert-generation":
            return BertPredictionHead(c, transform=False, name="lm_head")(h, E)
        if prefix == "bert":
            return BertOnlyMLMHead(c, name="cls")(h, E)
        if prefix == "roberta":
            return RobertaLMHead(c, name="lm_head")(h, E)
        h = ElectraGeneratorPredictions(c, name="generator_predictions")(h)
        return ElectraLMHead(c, name="generator_lm_head")(h, E)


class FlaxBertModel(FlaxEncoderModel):
    """transformers 4.x's FlaxBertModel."""

    model_types = ("bert",)
    module_class = staticmethod(encoder_module)


class FlaxBertForCausalLM(FlaxCausalLM):
    """transformers 4.x's FlaxBertForCausalLM."""

    model_types = ("bert",)
    module_class = BertLMHeadModule
