"""BART's encoder and decoder stacks, in the layouts transformers' EncoderDecoderModel saves.

Lewis et al., "BART: Denoising Sequence-to-Sequence Pre-training for Natural Language Generation,
Translation, and Comprehension", 2020: post-LN layers, learned positions offset by 2,
``layernorm_embedding``, optional ``sqrt(d_model)`` embedding scale. BART's decoder layers always
hold cross-attention (``encoder_attn``), pretrained in BART checkpoints.

- Decoder: ``BartForCausalLM`` (``model.decoder.*`` and ``lm_head``, tied to the word embeddings).
- Encoder: transformers' ``AutoModel`` on a BART config is the whole ``BartModel`` (``shared``,
  ``encoder``, ``decoder``), so a composite checkpoint holds ``encoder.shared``,
  ``encoder.encoder.*`` and ``encoder.decoder.*``. ``BartModel`` here keeps that layout (checkpoints
  load and save both ways) but encodes with the encoder stack only. transformers 5 would return the
  decoder's states over the right-shifted source, and its EncoderDecoderModel.forward then fails
  (``Seq2SeqModelOutput`` has no ``hidden_states``) unless ``encoder_outputs`` is passed; the BART
  encoder's output is what a "BART encoder" means, and it is what that workaround feeds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ...config import BartConfig
from ...outputs import BaseModelOutput
from ..attention import (
    DecoderCache,
    Heads,
    check_length,
    decode_stack,
    new_cache,
    padding_mask,
    qkv_attention,
    run_layers,
)
from ..heads import LMHeadDecoder, ResizableVocabulary
from ..pretrained import Pretrained
from ..speed import Dropout, Embedding, Linear, activation, linear_then
from ..speed.recording import observe

POSITION_OFFSET = 2  # BART's learned positions start at row 2 (a fairseq legacy)


def attention_heads(c: BartConfig, decoder: bool) -> Heads:
    """The encoder's or decoder's attention heads: size d_model / heads, scores by 1/sqrt(size)."""
    return Heads.of(c.d_model, c.decoder_attention_heads if decoder else c.encoder_attention_heads)


class BartAttention(nn.Module):
    def __init__(self, C: int, heads: Heads, dropout: float, layer: int) -> None:
        super().__init__()
        self.heads, self.layer, self.dropout = heads, layer, dropout
        self.k_proj, self.v_proj = Linear(C, C), Linear(C, C)
        self.q_proj, self.out_proj = Linear(C, C), Linear(C, C)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        cross: Tensor | None = None,
        cache: DecoderCache | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        p = self.dropout if self.training else 0.0
        proj = (self.q_proj, self.k_proj, self.v_proj)
        h = qkv_attention(x, proj, self.heads, self.layer, mask, p, cross, cache, is_causal)
        return self.out_proj(h)  # (B, T, C)


class BartLayer(nn.Module):
    """A post-LN encoder layer, or with ``decoder`` a decoder layer with cross-attention."""

    def __init__(self, c: BartConfig, layer: int, decoder: bool) -> None:
        super().__init__()
        C = c.d_model
        heads = attention_heads(c, decoder)
        ffn = c.decoder_ffn_dim if decoder else c.encoder_ffn_dim
        self.self_attn = BartAttention(C, heads, c.attention_dropout, layer)
        self.self_attn_layer_norm = nn.LayerNorm(C)
        if decoder:
            self.encoder_attn = BartAttention(C, heads, c.attention_dropout, layer)
            self.encoder_attn_layer_norm = nn.LayerNorm(C)
        self.fc1, self.fc2 = Linear(C, ffn), Linear(ffn, C)
        self.final_layer_norm = nn.LayerNorm(C)
        self.act = activation(c.activation_function)
        self.dropout = Dropout(c.dropout)
        self.activation_dropout = Dropout(c.activation_dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        enc: Tensor | None = None,
        enc_mask: Tensor | None = None,
        cache: DecoderCache | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        h = self.self_attn(x, mask, cache=cache, is_causal=is_causal)
        x = self.self_attn_layer_norm(x + self.dropout(h))
        if enc is not None:
            h = self.encoder_attn(x, enc_mask, cross=enc, cache=cache)
            x = self.encoder_attn_layer_norm(x + self.dropout(h))
        h = self.fc2(self.activation_dropout(linear_then(self.fc1, x, self.act)))
        return self.final_layer_norm(x + self.dropout(h))  # (B, T, C)


class BartEncoder(nn.Module):
    """BART's encoder stack: embeddings, learned positions, ``encoder_layers`` layers."""

    is_decoder = False

    def __init__(self, config: BartConfig) -> None:
        super().__init__()
        c = self.config = config
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_tokens = Embedding(c.vocab_size, c.d_model, padding_idx=c.pad_token_id)
        self.embed_positions = Embedding(c.max_position_embeddings + POSITION_OFFSET, c.d_model)
        n = c.decoder_layers if self.is_decoder else c.encoder_layers
        self.layers = nn.ModuleList(BartLayer(c, i, self.is_decoder) for i in range(n))
        self.layernorm_embedding = nn.LayerNorm(c.d_model)
        self.dropout = Dropout(c.dropout)
        self.layerdrop = c.decoder_layerdrop if self.is_decoder else c.encoder_layerdrop
        self.gradient_checkpointing = False

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def embed(self, input_ids: Tensor | None, inputs_embeds: Tensor | None, past: int) -> Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids) * self.embed_scale  # (B, T, C)
        T = inputs_embeds.shape[1]
        check_length(past + T, self.config.max_position_embeddings, "BART")
        start = past + POSITION_OFFSET
        x = inputs_embeds + self.embed_positions.weight[start : start + T]
        return self.dropout(self.layernorm_embedding(x))

    def run(self, x: Tensor, *args) -> Tensor:
        layers = self.layers
        if self.training and self.layerdrop > 0:  # LayerDrop (Fan et al., 2019)
            layers = [m for m in layers if torch.rand([]).item() >= self.layerdrop]
        checkpointing = self.gradient_checkpointing and self.training
        return run_layers(layers, x, *args, checkpointing=checkpointing)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutput:
        """Encoder states (B, S, C); ``hidden_states`` / ``attentions`` when asked."""
        with observe(self.config, output_attentions, output_hidden_states) as rec:
            x = self.embed(input_ids, inputs_embeds, 0)  # (B, S, C)
            x = self.run(x, padding_mask(attention_mask, x.dtype))
        return BaseModelOutput(last_hidden_state=x, **(rec.outputs() if rec is not None else {}))


class BartDecoder(BartEncoder):
    """BART's decoder stack: causal self-attention, cross-attention to the encoder states."""

    is_decoder = True

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        cache: DecoderCache | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutput:
        """Decoder states (B, T, C); ``hidden_states``, ``attentions`` and ``cross_attentions``
        when asked."""
        past = cache.length if cache is not None else 0
        with observe(self.config, output_attentions, output_hidden_states) as rec:
            x = self.embed(input_ids, inputs_embeds, past)  # (B, T, C)
            x = decode_stack(
                self.run,
                x,
                past,
                attention_mask,
                encoder_hidden_states,
                encoder_attention_mask,
                cache,
            )
        return BaseModelOutput(last_hidden_state=x, **(rec.outputs() if rec is not None else {}))

    def new_cache(self, batch_size: int, max_length: int) -> DecoderCache:
        c = self.config
        return new_cache(
            self.embed_tokens.weight,
            c.decoder_layers,
            batch_size,
            attention_heads(c, decoder=True),
            max_length,
        )


class BartModel(Pretrained, ResizableVocabulary, nn.Module):
    """The whole BART (``shared``, ``encoder``, ``decoder``), used as an encoder: returns the encoder
    stack's states; the decoder stack is kept for the checkpoint layout (see the module docstring)."""

    model_types = ("bart",)

    def __init__(self, config: BartConfig) -> None:
        super().__init__()
        self.config = config
        self.shared = Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.encoder = BartEncoder(config)
        self.decoder = BartDecoder(config)
        self.apply(self._init_weights)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Both stacks read the ``shared`` embedding module itself (when ``tie_word_embeddings``),
        so loading ``shared.weight`` fills all three names."""
        if self.config.tie_word_embeddings:
            self.encoder.embed_tokens = self.decoder.embed_tokens = self.shared

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    def token_embeddings(self) -> list[nn.Embedding]:
        """Every word-embedding module (one when tied), for resizing the vocabulary."""
        return [self.shared, self.encoder.embed_tokens, self.decoder.embed_tokens]

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutput:
        """Encoder states (B, S, C); BART has no token types (``token_type_ids`` is ignored)."""
        return self.encoder(
            input_ids, attention_mask, inputs_embeds, output_attentions, output_hidden_states
        )


class BartForCausalLM(Pretrained, LMHeadDecoder):
    """BART's decoder with an LM head (``lm_head``, tied to ``model.decoder.embed_tokens``)."""

    model_types = ("bart",)

    base_model_prefix = "model"

    def __init__(self, config: BartConfig) -> None:
        super().__init__()
        config.is_decoder, config.is_encoder_decoder = True, False  # as transformers sets them
        self.config = config
        self.model = nn.ModuleDict({"decoder": BartDecoder(config)})  # model.decoder.*, as saved
        self.lm_head = Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        self.tie_weights()

    @property
    def body(self) -> BartDecoder:
        return self.model.decoder
