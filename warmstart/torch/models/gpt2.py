"""GPT-2 as a decoder with cross-attention (``GPT2LMHeadModel``), and its body (``GPT2Model``).

Radford et al., "Language Models are Unsupervised Multitask Learners", 2019: pre-LN blocks, learned
absolute positions, LM head tied to ``wte``. For seq2seq every block gains a pre-LN cross-attention
(``ln_cross_attn``, then ``crossattention.q_attn`` on the decoder states and ``crossattention.c_attn``
giving keys and values from the encoder states), as in transformers (Rothe et al., 2020, "BERT2GPT").

OpenAI's checkpoints store projections as Conv1D weights of shape (in, out); here they are
``nn.Linear`` weights (out, in). ``state_dict()`` and ``load_state_dict()`` use the checkpoints'
layout, as transformers' modules do (:func:`~warmstart.torch.checkpoint.transformers_layout`).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ... import keys
from ...config import GPT2Config
from ...outputs import BaseModelOutput
from ..attention import (
    DecoderCache,
    Heads,
    attend,
    check_length,
    cross_kv,
    decode_stack,
    new_cache,
    run_layers,
    split_heads,
)
from ..checkpoint import transformers_layout
from ..heads import LMHeadDecoder, ResizableVocabulary, init_normal_
from ..pretrained import Pretrained
from ..speed import Dropout, Embedding, Linear, activation, linear_then
from ..speed.recording import last_hidden_state_is, observe


class ResidualProjection(Linear):
    """A projection back onto the residual stream (``c_proj``): GPT-2 initialises it with
    std ``initializer_range / sqrt(2 * n_layer)``."""


def attention_heads(c: GPT2Config) -> Heads:
    """The attention heads: size n_embd / n_head, scores by 1/sqrt(size)."""
    return Heads.of(c.n_embd, c.n_head)


class GPT2Attention(nn.Module):
    """Causal self-attention over one fused ``c_attn``, or cross-attention (``q_attn`` for the
    queries, ``c_attn`` for keys and values from the encoder)."""

    def __init__(self, c: GPT2Config, layer: int, is_cross_attention: bool = False) -> None:
        super().__init__()
        C = c.n_embd
        self.heads, self.layer, self.width = attention_heads(c), layer, C
        if is_cross_attention:
            self.c_attn = Linear(C, 2 * C)
            self.q_attn = Linear(C, C)
        else:
            self.c_attn = Linear(C, 3 * C)
        self.c_proj = ResidualProjection(C, C)
        self.attn_dropout = c.attn_pdrop
        self.resid_dropout = Dropout(c.resid_pdrop)
        # scores scale by heads.scale (1/sqrt(D)); these switches change that, on the queries
        self.q_scale = 1.0 if c.scale_attn_weights else math.sqrt(self.heads.size)
        if c.scale_attn_by_inverse_layer_idx:
            self.q_scale /= layer + 1

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        cross: Tensor | None = None,
        cache: DecoderCache | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        H, D, C = self.heads.num, self.heads.size, self.width
        if cross is not None:
            q = self.q_attn(x)  # (B, T, C)
            k, v = cross_kv(
                cache,
                self.layer,
                lambda: tuple(split_heads(t, H, D) for t in self.c_attn(cross).split(C, dim=2)),
            )
        else:
            q, k, v = self.c_attn(x).split(C, dim=2)
            k, v = split_heads(k, H, D), split_heads(v, H, D)  # (B, H, T, D)
        q = split_heads(q, H, D)
        if self.q_scale != 1.0:
            q = q * self.q_scale
        p = self.attn_dropout if self.training else 0.0
        scale = self.heads.scale
        if cross is None and cache is not None:
            out = cache.attend(self.layer, q, k, v, mask, p, is_causal, scale)
        else:
            out = attend(q, k, v, mask, p, is_causal, cross is not None, scale)
        return self.resid_dropout(self.c_proj(out))


class GPT2MLP(nn.Module):
    def __init__(self, c: GPT2Config) -> None:
        super().__init__()
        inner = c.n_inner if c.n_inner is not None else 4 * c.n_embd
        self.c_fc = Linear(c.n_embd, inner)
        self.c_proj = ResidualProjection(inner, c.n_embd)
        self.act = activation(c.activation_function)
        self.dropout = Dropout(c.resid_pdrop)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(linear_then(self.c_fc, x, self.act)))


class GPT2Block(nn.Module):
    def __init__(self, c: GPT2Config, layer: int) -> None:
        super().__init__()
        C, eps = c.n_embd, c.layer_norm_epsilon
        self.ln_1 = nn.LayerNorm(C, eps=eps)
        self.attn = GPT2Attention(c, layer)
        self.ln_2 = nn.LayerNorm(C, eps=eps)
        if c.add_cross_attention:
            self.crossattention = GPT2Attention(c, layer, is_cross_attention=True)
            self.ln_cross_attn = nn.LayerNorm(C, eps=eps)
        self.mlp = GPT2MLP(c)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        enc: Tensor | None,
        enc_mask: Tensor | None,
        cache: DecoderCache | None,
        is_causal: bool,
    ) -> Tensor:
        x = x + self.attn(self.ln_1(x), mask, cache=cache, is_causal=is_causal)
        if enc is not None:
            x = x + self.crossattention(self.ln_cross_attn(x), enc_mask, cross=enc, cache=cache)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(Pretrained, ResizableVocabulary, nn.Module):
    """GPT-2's embeddings and blocks (``transformer.*`` in ``GPT2LMHeadModel``); always causal."""

    model_types = ("gpt2",)

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.wte = Embedding(config.vocab_size, config.n_embd)
        self.wpe = Embedding(config.n_positions, config.n_embd)
        self.drop = Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPT2Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.gradient_checkpointing = False
        self.apply(self._init_weights)
        transformers_layout(self, keys.GPT2)

    def _init_weights(self, module: nn.Module) -> None:
        c = self.config
        init_normal_(module, c.initializer_range)
        if isinstance(module, ResidualProjection) and not module.weight.is_meta:
            nn.init.normal_(module.weight, 0.0, c.initializer_range / math.sqrt(2 * c.n_layer))

    def get_input_embeddings(self) -> nn.Embedding:
        return self.wte

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
        """The final states (B, T, C), after ``ln_f``; when asked (by keyword or config field)
        ``hidden_states``, ``attentions`` and ``cross_attentions``, as transformers returns them."""
        if encoder_hidden_states is not None and not self.config.add_cross_attention:
            raise ValueError(
                "This GPT-2 has no cross-attention; build it with add_cross_attention."
            )
        past = cache.length if cache is not None else 0
        with observe(self.config, output_attentions, output_hidden_states) as rec:
            x = self.embed(input_ids, token_type_ids, past, inputs_embeds)  # (B, T, C)
            x = decode_stack(
                self.run,
                x,
                past,
                attention_mask,
                encoder_hidden_states,
                encoder_attention_mask,
                cache,
            )
            x = self.ln_f(x)  # (B, T, C)
            last_hidden_state_is(x)
        extra = rec.outputs() if rec is not None else {}
        return BaseModelOutput(last_hidden_state=x, **extra)

    def embed(
        self,
        input_ids: Tensor | None,
        token_type_ids: Tensor | None,
        past: int,
        inputs_embeds: Tensor | None,
    ) -> Tensor:
        """Word and position embeddings (B, T, C) of tokens after ``past`` cached ones, dropped out."""
        x = self.wte(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        T = x.shape[1]
        check_length(past + T, self.config.n_positions, "GPT-2")
        x = x + self.wpe.weight[past : past + T]
        if token_type_ids is not None:  # GPT-2 embeds token types with the word embeddings
            x = x + self.wte(token_type_ids)
        return self.drop(x)

    def run(self, x: Tensor, *args) -> Tensor:
        """The blocks over x (B, T, C); ``args`` as :func:`.attention.decode_stack` passes them."""
        return run_layers(
            self.h, x, *args, checkpointing=self.gradient_checkpointing and self.training
        )

    def new_cache(self, batch_size: int, max_length: int) -> DecoderCache:
        c = self.config
        return new_cache(self.wte.weight, c.n_layer, batch_size, attention_heads(c), max_length)


class GPT2LMHeadModel(Pretrained, LMHeadDecoder):
    """GPT-2 used as a decoder: ``transformer`` plus ``lm_head`` (tied to ``wte``)."""

    model_types = ("gpt2",)

    base_model_prefix = "transformer"

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        self.transformer = GPT2Model(config)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self._init_weights(self.lm_head)
        self.tie_weights()

    def _init_weights(self, module: nn.Module) -> None:
        self.transformer._init_weights(module)
