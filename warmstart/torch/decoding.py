"""Inference glue of ``EncoderDecoderModel``: ``generate`` over the decoder's step callable, and the
speed machinery that wraps that callable from outside the model (a compiled step, weights kept in
oneDNN's layout, reduced-precision weights), as gpt-fast compiles its ``decode_one_token``."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor

from ..generation.settings import apply_options, cap_length
from ..outputs import BaseModelOutput
from . import generation
from .attention import DecoderCache
from .inputs import check_ids, last_hidden_state
from .speed.compile import compile_decoder, compile_encoder
from .speed.fused import FusedDecoderCache
from .speed.products import FEW_ROWS, packed_weights
from .speed.quantize import native_gemv, quantize_linears_

PACK_MIN_STEPS = 16
"""``generate`` keeps the decoder's weights in oneDNN's layout (see ``speed.products.packed_weights``) when
it may decode at least this many tokens."""


class DecodingMixin:
    """``generate``, ``compile_decoder``/``compile_encoder`` and ``quantize`` of
    :class:`~warmstart.torch.EncoderDecoderModel` (whose ``encode`` runs the compiled encoder)."""

    def compile_decoder(self, enabled: bool = True) -> Any:
        """Run ``generate``'s one-token decoder steps through ``torch.compile`` (opt-in).

        The first decode with a given number of rows compiles (seconds to tens of seconds); later
        decodes reuse the graph. Tokens equal eager decoding's except where two logits tie to
        within float rounding; on failure it warns once and decodes eagerly. See
        :func:`warmstart.torch.speed.compile.compile_decoder`.
        """
        return compile_decoder(self, enabled)

    def compile_encoder(self, enabled: bool = True) -> Any:
        """Run the encoder through ``torch.compile`` at inference (opt-in; training stays eager).

        About a sixth faster on long inputs; the first call, and the first with a new input shape,
        compiles (seconds). On failure it warns once and encodes eagerly. See
        :func:`warmstart.torch.speed.compile.compile_encoder`.
        """
        return compile_encoder(self, enabled)

    def quantize(self, kind: str = "int8") -> Any:
        """Store the decoder's linear weights (LM head included) in reduced precision, in place.

        Batch-1 decoding reads every decoder weight once per token, so it runs about as many times
        faster as the weights are smaller. Only the matrix products change (bf16 inputs, results
        back in the model's dtype); the encoder is left alone. The model is then for inference
        only: training, saving and resizing it raise.

        Args:
            kind: ``"int8"`` (one scale per output row) or ``"bf16"``.

        Returns:
            The model.
        """
        if getattr(self, "quantized", None) is not None:
            raise ValueError(f"The model is already quantised ({self.quantized}).")
        quantize_linears_(self.decoder, kind)
        self.quantized = kind
        return self.eval()

    @torch.no_grad()
    def generate(
        self,
        inputs: Tensor | None = None,
        generation_config: generation.GenerationConfig | None = None,
        *,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | Tensor | None = None,
        decoder_input_ids: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        generator: torch.Generator | None = None,
        streamer=None,
        **kwargs: Any,
    ) -> Tensor | generation.GenerateOutput:
        """Generate target sequences: greedy, beam search or sampling, with a cached decoder.

        The encoder runs once; the decoder's cross-attention keys/values are projected once and its
        self-attention cache is written in place.

        Args:
            inputs: (B, S) source ids (transformers' name; ``input_ids=`` works too).
            generation_config: base settings (default: the model's, with token ids set on
                ``model.config`` after creation honoured).
            attention_mask: (B, S); inferred from ``pad_token_id`` when omitted.
            encoder_outputs: the encoder's output, to skip running it.
            decoder_input_ids: (B, P) decoder prompt (default: the start token).
            token_type_ids: (B, S) segment ids for the encoder, as a BERT tokenizer returns them,
                so ``generate(**tokenizer(texts, return_tensors="pt"))`` works.
            inputs_embeds: (B, S, C) source embeddings for the encoder instead of ``input_ids``.
            generator: random source for sampling.
            streamer: called with the new token of every row (N,) after each step, then ``None``;
                or transformers' streamer objects (``put``/``end``, e.g. ``TextStreamer``).
            **kwargs: any GenerationConfig field: ``max_new_tokens``, ``num_beams``, ``do_sample``,
                ``no_repeat_ngram_size``, ``return_dict_in_generate``, ...

        Returns:
            (B * num_return_sequences, L) ids starting with the start token, finished rows padded;
            with ``return_dict_in_generate=True`` a ``GenerateOutput``: ``sequences``, and as
            asked ``scores`` / ``sequences_scores`` (``output_scores``), ``logits``
            (``output_logits``), ``beam_indices`` (beam search).
        """
        if inputs is not None and input_ids is not None:
            raise ValueError("Pass the source ids once: as inputs or as input_ids, not both.")
        vocab = self.config.encoder.vocab_size
        input_ids = check_ids("input_ids", inputs if input_ids is None else input_ids, vocab)
        config = apply_options(self._generation_config(generation_config), kwargs)
        record = _recorded(config)
        if attention_mask is None and input_ids is not None and config.pad_token_id is not None:
            attention_mask = (input_ids != config.pad_token_id).long()
        if encoder_outputs is None:
            if input_ids is None and inputs_embeds is None:
                raise ValueError(
                    "Pass input_ids (or inputs_embeds or encoder_outputs) to generate."
                )
            encoder_outputs = self.encode(
                input_ids, attention_mask, token_type_ids, inputs_embeds, *(record or (None, None))
            )
        enc = self.project(last_hidden_state(encoder_outputs))
        B = enc.shape[0]
        start = decoder_input_ids
        if start is None:
            start = generation.start_ids_for(config, B, enc.device)
        length = cap_length(config, start.shape[1], self.config.decoder.max_position_embeddings)
        bf16 = self.decoder.get_input_embeddings().weight.dtype == torch.bfloat16
        cache = FusedDecoderCache.of(self.decoder.new_cache(B, length))
        state = _DecodeState(cache, enc, attention_mask, bf16)
        state.record = record
        packing = self._packs(config, B, length - start.shape[1])
        lookahead = None
        if config.prompt_lookup_num_tokens is not None:
            source = input_ids if self._shares_token_ids() else None  # else: the output alone
            lookahead = generation.Lookahead(self._step_all, _DecodeState.rewind, source, FEW_ROWS)
        with packed_weights() if packing else nullcontext():
            out = generation.generate(
                self._step,
                _DecodeState.reorder,
                state,
                start,
                config,
                encoder_input_ids=input_ids,
                generator=generator,
                streamer=streamer,
                select=None if record else _DecodeState.select,  # every row, every step
                lookahead=lookahead,
            )
        if record:
            _attach(out, encoder_outputs, state.steps)
        return out if config.return_dict_in_generate else out.sequences

    def compute_transition_scores(
        self,
        sequences: Tensor,
        scores: tuple[Tensor, ...],
        beam_indices: Tensor | None = None,
        normalize_logits: bool = False,
    ) -> Tensor:
        """The score of each generated token, from ``generate(..., output_scores=True,
        return_dict_in_generate=True)``'s ``sequences``, ``scores`` and (beam search)
        ``beam_indices``, as transformers computes it; see
        :func:`warmstart.generation.transition_scores`.

        Returns:
            (N, T): one score per generated token, 0 past a sequence's end.
        """
        return generation.transition_scores(sequences, scores, beam_indices, normalize_logits)

    def _packs(self, config: generation.GenerationConfig, B: int, new_tokens: int) -> bool:
        """Whether a decode keeps the decoder's weights in oneDNN's layout. Batched steps reuse every
        weight, but reordering them costs about as much as ten steps gain: only decodes that may
        run longer do it, and not those whose steps a compiled graph takes (it reads the weights
        as they are)."""
        rows = B * max(config.num_beams, config.num_return_sequences if config.do_sample else 1)
        compiled = self.__dict__.get("compiled_step")
        return new_tokens >= PACK_MIN_STEPS and not (compiled is not None and compiled.serves(rows))

    def _step(self, tokens: Tensor, state: _DecodeState) -> tuple[Tensor, _DecodeState]:
        # set by warmstart.torch.speed.compile.compile_decoder
        compiled = self.__dict__.get("compiled_step")
        if state.rows is None:
            state.rows = tokens.shape[0]
        if compiled is not None and tokens.shape[0] == state.rows and not state.record:
            logits = compiled(tokens, state.cache, state.enc, state.enc_mask)
            if logits is not None:
                return logits.float(), state  # (N, V)
        with native_gemv(state.bf16 and tokens.shape[0] == 1):
            logits = self._decode(tokens, state, last_only=True)
        return logits[:, -1].float(), state  # (N, V)

    def _step_all(self, tokens: Tensor, state: _DecodeState) -> tuple[Tensor, _DecodeState]:
        """Feed tokens (N, t) after the cache; the logits after each of them (N, t, V)."""
        return self._decode(tokens, state, last_only=False).float(), state

    def _decode(self, tokens: Tensor, state: _DecodeState, last_only: bool) -> Tensor:
        """The eager decoder over tokens (N, t) after the cache: logits (N, t or 1, V); the
        attention weights / hidden states of the step kept in ``state.steps`` when recording."""
        asked = {}
        if state.record:
            asked = dict(zip(("output_attentions", "output_hidden_states"), state.record))
        out = self.decoder(
            tokens,
            encoder_hidden_states=state.enc,
            encoder_attention_mask=state.enc_mask,
            cache=state.cache,
            last_only=last_only,
            **asked,
        )
        if state.record:
            state.steps.append(out)
        return out.logits

    def _shares_token_ids(self) -> bool:
        """Whether source ids are decoder ids too (equal vocabularies), so that prompt lookup
        decoding may guess tokens from the source. A wrong guess costs time, never tokens."""
        return self.config.encoder.vocab_size == self.config.decoder.vocab_size


class _DecodeState:
    """What the search carries between decoding steps: the decoder cache and the encoder output."""

    def __init__(
        self, cache: DecoderCache, enc: Tensor, enc_mask: Tensor | None, bf16: bool
    ) -> None:
        if enc_mask is not None and bool(enc_mask.all()):
            enc_mask = None  # nothing padded: spare every step the check and the mask
        self.cache, self.enc, self.enc_mask = cache, enc, enc_mask
        self.expanded = False
        self.rows: int | None = None  # rows of the first step (a compiled step keeps to them)
        self.bf16 = bf16  # bf16 decoder weights: single-row products take ATen's gemv
        self.record: tuple[bool, bool] | None = None  # (attentions, hidden states) of each step
        self.steps: list[Any] = []  # the decoder's outputs, one per step, when recording

    def select(self, index: Tensor) -> _DecodeState:
        """Keep rows ``index`` (N',) of the cache and of the encoder output (greedy search drops
        finished rows with it)."""
        self.cache.reorder(index, cross=True)
        self.enc = self.enc[index]
        self.enc_mask = None if self.enc_mask is None else self.enc_mask[index]
        return self

    @staticmethod
    def rewind(state: _DecodeState, n: int) -> _DecodeState:
        """Forget the n newest self-attention positions (guesses prompt lookup refused)."""
        state.cache.length -= n
        return state

    @staticmethod
    def reorder(state: _DecodeState, index: Tensor) -> _DecodeState:
        """Select rows. The first call expands inputs to beams (everything is gathered); later calls
        follow beams within their input, where encoder rows and cross-attention are identical, so
        only the self-attention cache moves."""
        if state.expanded:
            state.cache.reorder(index, cross=False)
            return state
        state.expanded = True
        return state.select(index)


def _recorded(config: generation.GenerationConfig) -> tuple[bool, bool] | None:
    """``(output_attentions, output_hidden_states)`` when ``generate`` returns them (with
    ``return_dict_in_generate``), else None. The search itself never sees them: they are taken
    off ``config``."""
    attentions, hidden = bool(config.output_attentions), bool(config.output_hidden_states)
    config.output_attentions = config.output_hidden_states = None
    if not (config.return_dict_in_generate and (attentions or hidden)):
        return None
    return attentions, hidden


def _attach(out: generation.GenerateOutput, encoder_outputs: Any, steps: list[Any]) -> None:
    """Put the encoder's and each step's attention weights / hidden states on ``out``, in
    transformers' structure: per step, a tuple over layers."""
    out.encoder_attentions = getattr(encoder_outputs, "attentions", None)
    out.encoder_hidden_states = getattr(encoder_outputs, "hidden_states", None)
    for field, name in (
        ("decoder_attentions", "attentions"),
        ("cross_attentions", "cross_attentions"),
        ("decoder_hidden_states", "hidden_states"),
    ):
        per_step = tuple(getattr(step, name) for step in steps)
        setattr(out, field, per_step if per_step and per_step[0] is not None else None)
