"""BERT as an encoder (``BertModel``) and as a decoder with cross-attention (``BertLMHeadModel``).

Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers", 2019: post-LN layers, learned
absolute positions, token types. As a decoder (Rothe et al., 2020) self-attention is causal and every
layer gains a cross-attention block. Attribute names are transformers' tensor names, so a checkpoint
loads with ``load_state_dict`` after :func:`fix_keys`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...config import BertConfig
from ...outputs import BaseModelOutput
from ..attention import (
    DecoderCache,
    Heads,
    attend,
    check_length,
    decode_stack,
    full_causal_mask,
    new_cache,
    padding_mask,
    qkv_attention,
    relative_scores,
    run_layers,
    split_heads,
)
from ..heads import (
    LMHeadDecoder,
    ResizableVocabulary,
    VocabularyHead,
    vocab_logits,
)
from ..pretrained import Pretrained
from ..speed import Dropout, Embedding, Linear, activation, linear_then
from ..speed.recording import observe


class BertEmbeddings(nn.Module):
    """Word + token-type + learned absolute position embeddings, LayerNorm, dropout.

    ``width`` is the embedding width when it differs from ``hidden_size`` (ELECTRA); without
    ``token_types`` there are no token-type embeddings (BertGeneration).
    """

    def __init__(self, c: BertConfig, width: int | None = None, token_types: bool = True) -> None:
        super().__init__()
        C = width or c.hidden_size
        self.word_embeddings = Embedding(c.vocab_size, C, padding_idx=c.pad_token_id)
        self.position_embeddings = Embedding(c.max_position_embeddings, C)
        if token_types:
            self.token_type_embeddings = Embedding(c.type_vocab_size, C)
        self.LayerNorm = nn.LayerNorm(C, eps=c.layer_norm_eps)
        self.dropout = Dropout(c.hidden_dropout_prob)
        self.absolute = position_kind(c) == "absolute"  # relative positions live in attention

    def forward(
        self,
        input_ids: Tensor | None,
        token_type_ids: Tensor | None = None,
        past: int = 0,
        inputs_embeds: Tensor | None = None,
    ) -> Tensor:
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        positions = self.position_embeds(input_ids, x.shape[1], past)  # (T, C) or (B, T, C)
        if token_type_ids is None:
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        if self.absolute:
            x = x + positions
        return self.dropout(self.LayerNorm(x))

    def position_embeds(self, input_ids: Tensor | None, T: int, past: int) -> Tensor:
        """Embeddings of positions past .. past + T - 1: (T, C)."""
        check_length(past + T, self.position_embeddings.num_embeddings, "BERT")
        return self.position_embeddings.weight[past : past + T]


def attention_heads(c: BertConfig) -> Heads:
    """The attention heads: size hidden_size / heads, scores by 1/sqrt(size)."""
    return Heads.of(c.hidden_size, c.num_attention_heads)


class BertSelfAttention(nn.Module):
    """Multi-head attention; self-attention, or cross-attention when given encoder states.

    With ``position_embedding_type`` ``"relative_key"`` / ``"relative_key_query"``
    self-attention (not ``cross``) adds transformers 4.x's relative position scores
    (:func:`.attention.relative_scores`) from ``distance_embedding``.
    """

    def __init__(self, c: BertConfig, layer: int, cross: bool = False) -> None:
        super().__init__()
        C = c.hidden_size
        self.heads, self.layer = attention_heads(c), layer
        self.query, self.key, self.value = Linear(C, C), Linear(C, C), Linear(C, C)
        self.dropout = c.attention_probs_dropout_prob
        kind = position_kind(c)
        self.relative = None if cross or kind == "absolute" else kind
        if self.relative is not None:
            D = self.heads.size
            self.distance_embedding = Embedding(2 * c.max_position_embeddings - 1, D)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        cross: Tensor | None = None,
        cache: DecoderCache | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        p = self.dropout if self.training else 0.0
        if self.relative is not None and cross is None:
            return self._relative(x, mask, cache, is_causal, p)
        proj = (self.query, self.key, self.value)
        return qkv_attention(x, proj, self.heads, self.layer, mask, p, cross, cache, is_causal)

    def _relative(
        self, x: Tensor, mask: Tensor | None, cache: DecoderCache | None, is_causal: bool, p: float
    ) -> Tensor:
        """Self-attention with relative position scores added to the mask: (B, T, C)."""
        H, D = self.heads.num, self.heads.size
        q, k, v = (split_heads(m(x), H, D) for m in (self.query, self.key, self.value))
        past = 0 if cache is None else cache.length
        if cache is not None:
            k, v = cache.append(self.layer, k, v)  # (B, H, S, D), the cached positions first
        if is_causal and mask is None:
            mask = full_causal_mask(x.shape[1], past, None, x.dtype, x.device)
        with_keys = self.relative == "relative_key_query"
        bias = relative_scores(q, k, self.distance_embedding.weight, past, with_keys)
        mask = bias if mask is None else bias + mask
        return attend(q, k, v, mask, p, scale=self.heads.scale)  # (B, T, C)


class BertSelfOutput(nn.Module):
    """Projection, dropout, residual, LayerNorm (post-LN); also the feed-forward's output."""

    def __init__(self, c: BertConfig, d_in: int) -> None:
        super().__init__()
        self.dense = Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = Dropout(c.hidden_dropout_prob)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: BertConfig, layer: int, cross: bool = False) -> None:
        super().__init__()
        self.self = BertSelfAttention(c, layer, cross)
        self.output = BertSelfOutput(c, c.hidden_size)

    def forward(self, x: Tensor, mask: Tensor | None, **kw) -> Tensor:
        return self.output(self.self(x, mask, **kw), x)


class BertIntermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(c.hidden_size, c.intermediate_size)
        self.act = activation(c.hidden_act)

    def forward(self, x: Tensor) -> Tensor:
        return linear_then(self.dense, x, self.act)


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig, layer: int) -> None:
        super().__init__()
        self.attention = BertAttention(c, layer)
        if c.add_cross_attention:
            self.crossattention = BertAttention(c, layer, cross=True)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c.intermediate_size)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        enc: Tensor | None,
        enc_mask: Tensor | None,
        cache: DecoderCache | None,
        is_causal: bool,
    ) -> Tensor:
        x = self.attention(x, mask, cache=cache, is_causal=is_causal)
        if enc is not None:
            x = self.crossattention(x, enc_mask, cross=enc, cache=cache)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c, i) for i in range(c.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, x: Tensor, *args) -> Tensor:
        return run_layers(
            self.layer, x, *args, checkpointing=self.gradient_checkpointing and self.training
        )


class BertPooler(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(Pretrained, ResizableVocabulary, nn.Module):
    """BERT's embeddings and layer stack; causal with cross-attention when ``config.is_decoder``."""

    model_types = ("bert",)

    embeddings_class: type[nn.Module] = BertEmbeddings
    encoder_class: type[nn.Module] = BertEncoder

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
        check_supported(config)
        self.config = config
        self.embeddings = self.embeddings_class(config)
        self.encoder = self.encoder_class(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.apply(self._init_weights)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        cache: DecoderCache | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutput:
        """The layer stack's states (B, T, C), the pooled first token (with a pooler); when asked
        (by keyword or config field) ``hidden_states`` and ``attentions`` (a decoder's
        ``cross_attentions`` too), as transformers returns them."""
        past = cache.length if cache is not None else 0
        if encoder_hidden_states is not None and not self.config.add_cross_attention:
            raise ValueError(
                f"This {self.config.model_type} has no cross-attention; build it with "
                "add_cross_attention."
            )
        with observe(self.config, output_attentions, output_hidden_states) as rec:
            x = self.embed(input_ids, token_type_ids, past, inputs_embeds)  # (B, T, C)
            if self.config.is_decoder:
                x = decode_stack(
                    self.encoder,
                    x,
                    past,
                    attention_mask,
                    encoder_hidden_states,
                    encoder_attention_mask,
                    cache,
                )
            else:
                x = self.encoder(x, padding_mask(attention_mask, x.dtype), None, None, None, False)
        pooled = self.pooler(x) if self.pooler is not None else None
        extra = rec.outputs() if rec is not None else {}
        return BaseModelOutput(last_hidden_state=x, pooler_output=pooled, **extra)

    def embed(
        self,
        input_ids: Tensor | None,
        token_type_ids: Tensor | None,
        past: int,
        inputs_embeds: Tensor | None,
    ) -> Tensor:
        """Input embeddings (B, T, C) of the layer stack."""
        return self.embeddings(input_ids, token_type_ids, past, inputs_embeds)

    def new_cache(self, batch_size: int, max_length: int) -> DecoderCache:
        c = self.config
        return new_cache(
            self.get_input_embeddings().weight,
            c.num_hidden_layers,
            batch_size,
            attention_heads(c),
            max_length,
        )


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = Linear(c.hidden_size, c.hidden_size)
        self.act = activation(c.hidden_act)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.LayerNorm(linear_then(self.dense, x, self.act))


class BertLMPredictionHead(VocabularyHead):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.add_projection(c.hidden_size, c.vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        return vocab_logits(self.decoder, self.transform(x), self.bias)  # (B, T, V)


class BertLMHeadModel(Pretrained, LMHeadDecoder):
    """BERT used as a decoder: ``bert`` (no pooler) plus the ``cls.predictions`` LM head."""

    model_types = ("bert",)

    base_model_prefix = "bert"

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = nn.ModuleDict({"predictions": BertLMPredictionHead(config)})
        self.cls.apply(self._init_weights)
        self.tie_weights()

    def vocabulary_head(self) -> nn.Module:
        return self.cls.predictions

    def head(self, h: Tensor) -> Tensor:
        return self.cls.predictions(h)


POSITION_KINDS = ("absolute", "relative_key", "relative_key_query")


def position_kind(config: BertConfig) -> str:
    """The config's ``position_embedding_type`` (transformers 4.x's field; "absolute" if unset)."""
    return getattr(config, "position_embedding_type", None) or "absolute"


def check_supported(config: BertConfig) -> None:
    kind = position_kind(config)
    if kind not in POSITION_KINDS:
        raise ValueError(
            f"position_embedding_type {kind!r} is unknown; use one of {', '.join(POSITION_KINDS)}."
        )
