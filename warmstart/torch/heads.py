"""What encoders and decoders share around their layer stacks: weight initialisation, vocabulary
resizing (:class:`ResizableVocabulary`) and the LM head of a decoder (:class:`LMHeadDecoder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..outputs import ModelOutput
from .attention import DecoderCache
from .speed import Linear, linear


def init_normal_(module: torch.nn.Module, std: float) -> None:
    """transformers' initialisation for the common module types (Linear, Embedding, LayerNorm).

    Weights on the meta device (a model built to be loaded) are left alone: drawing them there goes
    through torch's Python reference kernels, some 15 ms a tensor, 2 s for a bert2bert."""
    if any(p.is_meta for p in module.parameters(recurse=False)):
        return
    if isinstance(module, torch.nn.Linear):
        torch.nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            torch.nn.init.zeros_(module.bias)
    elif isinstance(module, torch.nn.Embedding):
        torch.nn.init.normal_(module.weight, 0.0, std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, torch.nn.LayerNorm):
        torch.nn.init.ones_(module.weight)
        torch.nn.init.zeros_(module.bias)


def resize_rows_(param: nn.Parameter, n: int) -> None:
    """Give a per-token parameter (V, ...) ``n`` rows in place, so that tied names follow.

    The first rows are kept; new rows are drawn as transformers' ``mean_resizing`` does: a matrix's
    from a normal distribution with the old rows' mean and 1e-9 times their covariance (their mean
    when that is not positive definite), a bias's from a normal with the old mean and 1e-9 times
    the old standard deviation.
    """
    old = param.data
    if old.shape[0] == n:
        return
    new = old.new_empty((n, *old.shape[1:]))
    kept = min(n, old.shape[0])
    new[:kept] = old[:kept]
    if n > kept:
        new[kept:] = _new_rows(old.float(), n - kept).to(old.dtype)
    param.data = new
    param.grad = None


def _new_rows(old: Tensor, count: int) -> Tensor:
    mean = old.mean(0)
    if old.dim() == 1:
        return torch.randn(count, device=old.device) * (1e-9 * old.std()) + mean
    centered = old - mean
    covariance = 1e-9 * (centered.T @ centered) / old.shape[0]
    _, info = torch.linalg.cholesky_ex(covariance)
    if info.item() != 0:  # not positive definite
        return mean.expand(count, -1).clone()
    normal = torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance)
    return normal.sample((count,))


def vocab_logits(head: nn.Module, x: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ head.weight.T + bias`` (B, T, V) for an LM head whose bias lives beside it (BERT,
    RoBERTa); a quantised head is called as a module."""
    if isinstance(head, nn.Linear):
        return linear(x, head.weight, bias)
    logits = head(x)
    return logits if bias is None else logits + bias


class VocabularyHead(nn.Module):
    """An LM head whose projection onto the vocabulary, ``decoder``, has no bias of its own: the
    per-token ``bias`` lives beside it (BERT, RoBERTa, BertGeneration), and the forward adds it
    through :func:`vocab_logits`.

    transformers' state dict also names that bias ``decoder.bias``: ``state_dict()`` writes it under
    both names and ``load_state_dict`` reads it from either, so state dicts round-trip key for key.
    """

    def add_projection(self, width: int, vocab_size: int) -> None:
        """Add ``decoder`` (width -> vocab_size, no bias) and ``bias`` (V,), zero; a subclass calls
        it after its own modules, so that the parameters come in transformers' order."""
        self.decoder = Linear(width, vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.register_state_dict_post_hook(_write_decoder_bias)
        self.register_load_state_dict_pre_hook(_take_decoder_bias)


def _write_decoder_bias(head: nn.Module, state: dict[str, Tensor], prefix: str, *_) -> None:
    """A state_dict post-hook: the head's ``bias`` also under ``decoder.bias``, as transformers'
    state dict holds it (one tensor under two names)."""
    if prefix + "bias" in state:
        state[prefix + "decoder.bias"] = state[prefix + "bias"]


def _take_decoder_bias(head: nn.Module, state: dict[str, Tensor], prefix: str, *_) -> None:
    """A load_state_dict pre-hook: transformers' state also holds ``decoder.bias``, an alias of
    ``bias`` when tied and the bias its forward adds when untied; it loads as ``bias`` (as
    :func:`.keys.rename` maps checkpoint keys)."""
    if prefix + "decoder.bias" in state:
        state[prefix + "bias"] = state.pop(prefix + "decoder.bias")


@dataclass
class CausalLMOutput(ModelOutput):
    """What a decoder returns, read like transformers' decoder outputs (``out.logits``,
    ``out[0]``); ``hidden_states``, ``attentions``, ``cross_attentions`` when asked."""

    logits: Tensor  # (B, T, V)
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None


class ResizableVocabulary:
    """``resize_token_embeddings`` for one side of a seq2seq model (an encoder, or a decoder under
    its LM head), the per-side call transformers points encoder-decoder users to."""

    shares_vocabulary: bool = False  # set when tie_encoder_decoder shares it with the other side

    def tie_weights(self) -> None:
        """Nothing to tie: an encoder, or a decoder body without its head, has no output
        embeddings (:class:`LMHeadDecoder` ties its head)."""

    def resize_token_embeddings(self, new_num_tokens: int) -> nn.Embedding:
        """Give this side ``new_num_tokens`` tokens: word embeddings, the LM head (kept tied) and
        its bias keep their first rows, new rows drawn as :func:`resize_rows_` does;
        ``config.vocab_size`` follows. Returns the input embeddings."""
        if self.shares_vocabulary:
            raise ValueError(
                "This side shares its embeddings with the other side (tie_encoder_decoder): resize "
                "both together with model.resize_token_embeddings(n)."
            )
        modules, params = self.vocabulary_parameters()
        for param in params:
            resize_rows_(param, new_num_tokens)
        for module in modules:
            if isinstance(module, nn.Embedding):
                module.num_embeddings = new_num_tokens
                if module.padding_idx is not None and module.padding_idx >= new_num_tokens:
                    module.padding_idx = None
            elif isinstance(module, nn.Linear):
                module.out_features = new_num_tokens
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return self.get_input_embeddings()

    def vocabulary_parameters(self) -> tuple[list[nn.Module], list[nn.Parameter]]:
        """The modules with a row per token (word embeddings, BART's ``shared`` and both stacks'
        copies, a decoder's LM head) and their parameters, the LM head's bias included; a
        parameter tied to another is listed once."""
        token_embeddings = getattr(self, "token_embeddings", None)
        modules = token_embeddings() if token_embeddings else [self.get_input_embeddings()]
        params = []
        if isinstance(self, LMHeadDecoder):
            modules.append(self.get_output_embeddings())
            params.append(self.output_bias())
        params += [m.weight for m in modules]
        unique = {id(p): p for p in params if p is not None}
        return modules, list(unique.values())


class LMHeadDecoder(ResizableVocabulary, nn.Module):
    """A decoder body (the attribute named ``base_model_prefix``) under a language-model head.

    This is the decoder contract ``EncoderDecoderModel`` relies on: ``forward`` returns the logits
    (B, T, V) in a :class:`CausalLMOutput`, ``new_cache``, ``tie_weights`` and the embedding
    accessors. Subclasses build the body and the head; one whose head is not ``lm_head``
    (transformers' usual name) implements ``head`` and ``vocabulary_head``.
    """

    base_model_prefix = ""
    config: Any

    @property
    def body(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    def head(self, h: Tensor) -> Tensor:
        """The logits (B, T, V) of the body's states h (B, T, C)."""
        return self.lm_head(h)

    def vocabulary_head(self) -> nn.Module:
        """The module that holds the logits' per-token ``bias``: the projection onto the
        vocabulary itself (an ``nn.Linear``), or a :class:`VocabularyHead` that keeps the bias
        beside its projection ``decoder``."""
        return self.lm_head

    def get_input_embeddings(self) -> nn.Embedding:
        return self.body.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Linear:
        """The projection onto the vocabulary (tied to the word embeddings when the config says)."""
        head = self.vocabulary_head()
        return head.decoder if isinstance(head, VocabularyHead) else head

    def output_bias(self) -> nn.Parameter | None:
        """The LM head's per-token bias (BERT and RoBERTa keep it beside the projection)."""
        return self.vocabulary_head().bias

    def tie_weights(self) -> None:
        """Share the LM head's weight with the word embeddings when the config says so."""
        if self.config.tie_word_embeddings:
            self.get_output_embeddings().weight = self.get_input_embeddings().weight

    def new_cache(self, batch_size: int, max_length: int) -> DecoderCache:
        return self.body.new_cache(batch_size, max_length)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        cache: DecoderCache | None = None,
        last_only: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        rows: Tensor | None = None,
    ) -> CausalLMOutput:
        """The logits (B, T, V); with ``cache``, continue after its ``length`` tokens; with
        ``last_only``, only the last position's (B, 1, V); with ``rows`` ((B, T) bool), only the
        logits of the positions it marks, as (N, V) in row-major order. ``output_attentions`` /
        ``output_hidden_states`` (default: the config's fields) add the body's weights / states."""
        asked = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        asked = {k: v for k, v in asked.items() if v is not None}  # else the body reads its config
        out = self.body(
            input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            inputs_embeds=inputs_embeds,
            cache=cache,
            **asked,
        )
        h = out.last_hidden_state  # (B, T, C)
        if rows is not None:
            h = h[rows]  # (N, C)
        logits = self.head(h[:, -1:] if last_only else h)
        return CausalLMOutput(
            logits,
            getattr(out, "hidden_states", None),
            getattr(out, "attentions", None),
            getattr(out, "cross_attentions", None),
        )
