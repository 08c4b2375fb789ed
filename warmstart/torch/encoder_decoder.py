"""EncoderDecoderModel: any supported encoder composed with any supported decoder.

Rothe, Narayan and Severyn, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks", 2020.
The decoder's cross-attention is new (randomly initialised and reported by name) when warm-starting from
two pretrained checkpoints; ``enc_to_dec_proj`` maps encoder states to the decoder's width when they
differ. With ``config.tie_encoder_decoder`` the encoder shares the decoder body's parameters (the
paper's BERTShare/RoBERTaShare). Checkpoints use transformers' layout: config.json (model_type
``encoder-decoder``) and model.safetensors with ``encoder.*``/``decoder.*`` tensor names.
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .. import hub
from ..config import CONFIG_NAME, EncoderDecoderConfig
from ..generation.settings import GenerationSettings, apply_options, cap_length
from ..hub import write_text_atomic
from ..outputs import BaseModelOutput, ModelOutput
from . import checkpoint, generation, loading, weights
from .checkpoint import summarize_keys
from .compile import compile_decoder, compile_encoder
from .families import family
from .layers import DecoderCache, LMHeadDecoder, cross_entropy, init_normal_
from .linear import FEW_ROWS, Linear, packed_weights
from .quantize import native_gemv, quantize_linears_

logger = logging.getLogger("warmstart")


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    """What ``EncoderDecoderModel.forward`` returns; read like transformers' outputs."""

    loss: Tensor | None = None
    logits: Tensor | None = None
    cache: DecoderCache | None = None
    encoder_last_hidden_state: Tensor | None = None

    @property
    def past_key_values(self) -> DecoderCache | None:
        """The cache, by its name before transformers 5."""
        return self.cache


def shift_tokens_right(
    input_ids: Tensor, pad_token_id: int | None, decoder_start_token_id: int | None
) -> Tensor:
    """Decoder inputs from labels: start token first, labels moved right by one, -100 read as pad.

    Args:
        input_ids: (B, T) labels, -100 where ignored.
        pad_token_id: id written where labels hold -100.
        decoder_start_token_id: id of the first decoder input.

    Returns:
        (B, T) decoder input ids.
    """
    labels, start_token_id = input_ids, decoder_start_token_id
    for name, value in (("decoder_start_token_id", start_token_id), ("pad_token_id", pad_token_id)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be one token id (an int), not {value!r}.")
    if start_token_id is None:
        raise ValueError(
            "Make sure to set the decoder_start_token_id attribute of the model's configuration, "
            "e.g. model.config.decoder_start_token_id = tokenizer.cls_token_id."
        )
    if pad_token_id is None:
        raise ValueError(
            "Make sure to set the pad_token_id attribute of the model's configuration, "
            "e.g. model.config.pad_token_id = tokenizer.pad_token_id."
        )
    shifted = labels.new_empty(labels.shape)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = start_token_id
    return shifted.masked_fill_(shifted == -100, pad_token_id)


PACK_MIN_STEPS = 16
"""``generate`` keeps the decoder's weights in oneDNN's layout (see ``linear.packed_weights``) when
it may decode at least this many tokens."""


class EncoderDecoderModel(GenerationSettings, nn.Module):
    """A sequence-to-sequence model made of an encoder and a decoder with cross-attention."""

    main_input_name = "input_ids"

    def __init__(
        self,
        config: EncoderDecoderConfig | None = None,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if config is None:
            if encoder is None or decoder is None:
                raise ValueError("Pass a config, or both an encoder and a decoder.")
            config = EncoderDecoderConfig(encoder=encoder.config, decoder=decoder.config)
        if not isinstance(config, EncoderDecoderConfig):
            raise TypeError(f"config must be an EncoderDecoderConfig, not {type(config).__name__}.")
        self.encoder = (
            encoder if encoder is not None else family(config.encoder).encoder(config.encoder)
        )
        self.decoder = (
            decoder if decoder is not None else family(config.decoder).decoder(config.decoder)
        )
        config.encoder, config.decoder = (
            self.encoder.config,
            self.decoder.config,
        )  # one shared object
        self.config = config
        dec = config.decoder
        if not (dec.is_decoder and dec.add_cross_attention):
            raise ValueError(
                "The decoder has no cross-attention, so it cannot read the encoder. Build its config "
                "with is_decoder=True and add_cross_attention=True (from_encoder_decoder_configs does)."
            )
        enc_width, dec_width = config.encoder.hidden_size, dec.hidden_size
        if enc_width != dec_width and getattr(dec, "cross_attention_hidden_size", None) is None:
            self.enc_to_dec_proj = Linear(enc_width, dec_width)
            init_normal_(self.enc_to_dec_proj, _init_std(dec))
        # (encoder name, decoder name) of each parameter the two sides share
        self.shared_parameter_names: list[tuple[str, str]] = []
        self._loaded_apart = False  # a tied config, but weights transformers 5 trained apart
        if config.tie_encoder_decoder:
            self._tie_encoder_decoder()
        self._warned_labels = self._warned_checkpoint_cache = False
        gen = generation.GenerationConfig.from_model_config(config)
        gen.extra["_from_model_config"] = True
        self._adopt_generation_config(gen)

    # ----------------------------------------------------------------- accessors
    def get_encoder(self) -> nn.Module:
        return self.encoder

    def get_decoder(self) -> nn.Module:
        return self.decoder

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Module:
        return self.decoder.get_output_embeddings()

    def tie_weights(self) -> None:
        """Tie the decoder's LM head to its word embeddings and, with ``tie_encoder_decoder``, the
        encoder to the decoder's body."""
        self.decoder.tie_weights()
        if self.config.tie_encoder_decoder and not self._loaded_apart:
            self._tie_encoder_decoder()

    def _tie_encoder_decoder(self) -> None:
        """The encoder takes the decoder body's parameter objects wherever the two name a parameter
        alike (embeddings, self-attention, feed-forward), as transformers 4.x does; the decoder's
        cross-attention and LM head and the encoder's pooler stay its own."""
        prefix, body = _decoder_body(self.decoder)
        names = _common_parameters(self.encoder, body)
        if not names:
            raise ValueError(
                f"tie_encoder_decoder=True shares the parameters the encoder and the decoder name "
                f"alike, but a {self.config.encoder.model_type} encoder and a "
                f"{self.config.decoder.model_type} decoder have none in common. Tie two models of "
                "one family and equal sizes (bert2bert, roberta2roberta, electra2electra: Rothe et "
                "al.'s BERTShare/RoBERTaShare), or set tie_encoder_decoder=False."
            )
        for name in names:
            owner, _, leaf = name.rpartition(".")
            setattr(self.encoder.get_submodule(owner), leaf, body.get_parameter(name))
        self.shared_parameter_names = [(f"encoder.{n}", f"decoder.{prefix}{n}") for n in names]
        self.encoder.shares_vocabulary = self.decoder.shares_vocabulary = True

    def _untie_encoder_decoder(self) -> None:
        """Give the encoder parameters of its own again (empty ones, for a load to fill)."""
        for name, _ in self.shared_parameter_names:
            owner, _, leaf = name.removeprefix("encoder.").rpartition(".")
            module = self.encoder.get_submodule(owner)
            setattr(module, leaf, nn.Parameter(torch.empty_like(getattr(module, leaf))))
        self.shared_parameter_names = []
        self._loaded_apart = True
        self.encoder.shares_vocabulary = self.decoder.shares_vocabulary = False

    def resize_token_embeddings(self, new_num_tokens: int, side: str | None = None) -> nn.Embedding:
        """Give one side, or both, a vocabulary of ``new_num_tokens`` tokens.

        Word embeddings, the LM head (kept tied) and its bias keep their first rows; new rows are
        drawn as transformers 5 does (``mean_resizing``): from a normal distribution with the old
        rows' mean and 1e-9 times their covariance. ``config.encoder.vocab_size`` /
        ``config.decoder.vocab_size`` follow.

        Args:
            new_num_tokens: the new vocabulary size.
            side: ``"encoder"``, ``"decoder"``, or None for both (they must then have one
                vocabulary size, and a model with ``tie_encoder_decoder`` always resizes both).

        Returns:
            The resized input embeddings (the encoder's unless only the decoder was resized).
        """
        self._refuse_if_quantized("resized")
        sides = self._sides_to_resize(side)
        for name in sides:  # a parameter the sides share is resized once (then it fits)
            half = getattr(self, name)
            shared, half.shares_vocabulary = half.shares_vocabulary, False
            try:
                half.resize_token_embeddings(new_num_tokens)
            finally:
                half.shares_vocabulary = shared
            getattr(self.config, name).vocab_size = new_num_tokens
        self.tie_weights()
        return getattr(self, sides[0]).get_input_embeddings()

    def _sides_to_resize(self, side: str | None) -> tuple[str, ...]:
        if side not in (None, "encoder", "decoder"):
            raise ValueError(f"side must be 'encoder', 'decoder' or None (both), not {side!r}.")
        if side is not None and self.config.tie_encoder_decoder:
            raise ValueError(
                "The encoder and the decoder share their embeddings (tie_encoder_decoder), so "
                "both sides are resized together: call resize_token_embeddings(n) without side."
            )
        enc, dec = self.config.encoder.vocab_size, self.config.decoder.vocab_size
        if side is None and enc != dec:
            raise ValueError(
                f"The encoder has {enc} tokens and the decoder {dec}: they have different "
                "vocabularies, so resize one of them: side='encoder' or side='decoder'."
            )
        return ("encoder", "decoder") if side is None else (side,)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (tied ones counted once); without the embedding tables' weights
        (``nn.Embedding``) when ``exclude_embeddings``."""
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(
            p.numel()
            for p in self.parameters()
            if (p.requires_grad or not only_trainable) and id(p) not in skip
        )

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    @staticmethod
    def can_generate() -> bool:
        return True

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict | None = None
    ) -> None:
        """Recompute each layer's activations in the backward pass instead of storing them."""
        self._set_checkpointing(True)

    def gradient_checkpointing_disable(self) -> None:
        self._set_checkpointing(False)

    def _set_checkpointing(self, on: bool) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = on

    # ----------------------------------------------------------------- reduced precision
    def compile_decoder(self, enabled: bool = True) -> EncoderDecoderModel:
        """Run ``generate``'s one-token decoder steps through ``torch.compile`` (opt-in).

        The first decode with a given number of rows compiles (seconds to tens of seconds); later
        decodes reuse the graph. Tokens are identical to eager decoding; on failure it warns once
        and decodes eagerly. See :func:`warmstart.torch.compile.compile_decoder`.
        """
        return compile_decoder(self, enabled)

    def compile_encoder(self, enabled: bool = True) -> EncoderDecoderModel:
        """Run the encoder through ``torch.compile`` at inference (opt-in; training stays eager).

        About a sixth faster on long inputs; the first call, and the first with a new input shape,
        compiles (seconds). On failure it warns once and encodes eagerly. See
        :func:`warmstart.torch.compile.compile_encoder`.
        """
        return compile_encoder(self, enabled)

    def quantize(self, kind: str = "int8") -> EncoderDecoderModel:
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

    def train(self, mode: bool = True) -> EncoderDecoderModel:
        if mode:
            self._refuse_if_quantized("trained")
        return super().train(mode)

    def _refuse_if_quantized(self, action: str) -> None:
        if getattr(self, "quantized", None) is not None:
            raise ValueError(
                f"This model's decoder is quantised ({self.quantized}) for inference and cannot be "
                f"{action}; load the full-precision model again for that."
            )

    # ----------------------------------------------------------------- forward
    def prepare_decoder_input_ids_from_labels(self, labels: Tensor) -> Tensor:
        return shift_tokens_right(
            labels, self.config.pad_token_id, self.config.decoder_start_token_id
        )

    def encode(
        self,
        input_ids: Tensor | None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
    ) -> BaseModelOutput:
        compiled = self.__dict__.get(
            "compiled_encoder"
        )  # set by warmstart.torch.compile.compile_encoder
        if compiled is not None:
            out = compiled(input_ids, attention_mask, token_type_ids, inputs_embeds)
            if out is not None:
                return out
        return self.encoder(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
        )

    def project(self, encoder_hidden_states: Tensor) -> Tensor:
        """Encoder states (B, S, C_enc) -> (B, S, C_dec) for the decoder's cross-attention."""
        proj = getattr(self, "enc_to_dec_proj", None)
        return encoder_hidden_states if proj is None else proj(encoder_hidden_states)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        decoder_input_ids: Tensor | None = None,
        decoder_attention_mask: Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | Tensor | None = None,
        cache: DecoderCache | None = None,
        inputs_embeds: Tensor | None = None,
        decoder_inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        use_cache: bool | None = None,
        token_type_ids: Tensor | None = None,
        return_dict: bool | None = None,
        past_key_values: DecoderCache | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        """Encode the source (unless ``encoder_outputs`` is given) and decode the target.

        Args:
            input_ids: (B, S) source ids.
            attention_mask: (B, S) 1 for tokens, 0 for padding.
            decoder_input_ids: (B, T) decoder inputs; built from ``labels`` when omitted.
            decoder_attention_mask: (B, T); defaults to ``decoder_input_ids != pad`` when built
                from labels.
            encoder_outputs: the encoder's output, to skip running it again.
            cache: a ``DecoderCache`` to continue decoding from (``past_key_values=`` before
                transformers 5).
            labels: (B, T) targets, -100 where the loss should ignore a position.
            use_cache: keep a cache and return it as ``cache``.

        Returns:
            ``Seq2SeqLMOutput`` with ``loss`` (when labels are given), ``logits`` (B, T, V) and
            ``encoder_last_hidden_state``.
        """
        if cache is None:
            cache = past_key_values
        input_ids = _check_ids("input_ids", input_ids)
        decoder_input_ids = _check_ids("decoder_input_ids", decoder_input_ids)
        labels = _check_ids("labels", labels)
        if encoder_outputs is None:
            if input_ids is None and inputs_embeds is None:
                raise ValueError("Pass input_ids (or inputs_embeds or encoder_outputs).")
            encoder_outputs = self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)
        enc = _last_hidden_state(encoder_outputs)
        if labels is not None:
            self._check_labels(labels, decoder_input_ids)
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
                if decoder_attention_mask is None:
                    decoder_attention_mask = (decoder_input_ids != self.config.pad_token_id).long()
                    # the start token stays visible even when it is the pad id (GPT-2's
                    # <|endoftext|>): transformers hides it there, so training sees a context
                    # that generation never does
                    decoder_attention_mask[:, 0] = 1
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError(
                "Pass decoder_input_ids or labels (decoder inputs are built from labels)."
            )
        if use_cache and self.training and self.is_gradient_checkpointing:
            if not self._warned_checkpoint_cache:
                logger.warning("use_cache=True does not go with gradient checkpointing: no cache.")
                self._warned_checkpoint_cache = True
            use_cache = False
        if use_cache and cache is None:
            B, T = (
                decoder_input_ids if decoder_input_ids is not None else decoder_inputs_embeds
            ).shape[:2]
            cache = self.decoder.new_cache(B, T)
        logits = self.decoder(
            decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=self.project(enc),
            encoder_attention_mask=attention_mask,
            inputs_embeds=decoder_inputs_embeds,
            cache=cache,
        ).logits
        loss = None
        if labels is not None:
            loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        out = Seq2SeqLMOutput(loss, logits, cache, enc)
        return out.to_tuple() if return_dict is False else out

    def _check_labels(self, labels: Tensor, decoder_input_ids: Tensor | None) -> None:
        if labels.shape[0] == 0:
            raise ValueError("The batch is empty: labels have no rows.")
        if decoder_input_ids is not None and decoder_input_ids.shape != labels.shape:
            raise ValueError(
                f"labels {tuple(labels.shape)} and decoder_input_ids "
                f"{tuple(decoder_input_ids.shape)} differ in shape: there is one label per decoder "
                "position. Pass only labels to have the decoder inputs built from them."
            )
        if self._warned_labels:
            return
        pad = self.config.pad_token_id
        if decoder_input_ids is not None and decoder_input_ids.shape == labels.shape:
            if torch.equal(decoder_input_ids, labels):
                warnings.warn(
                    "decoder_input_ids equal labels, so the model learns to copy its input. Pass only "
                    "labels: decoder inputs are built by shifting them right.",
                    stacklevel=3,
                )
                self._warned_labels = True
        elif pad is not None and bool((labels == pad).any()) and not bool((labels == -100).any()):
            warnings.warn(
                "labels contain pad_token_id and no -100, so padding counts in the loss. Replace "
                "padding in labels with -100.",
                stacklevel=3,
            )
            self._warned_labels = True

    # ----------------------------------------------------------------- generation
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
        input_ids = _check_ids("input_ids", inputs if input_ids is None else input_ids)
        config = apply_options(self._generation_config(generation_config), kwargs)
        if attention_mask is None and input_ids is not None and config.pad_token_id is not None:
            attention_mask = (input_ids != config.pad_token_id).long()
        if encoder_outputs is None:
            if input_ids is None and inputs_embeds is None:
                raise ValueError(
                    "Pass input_ids (or inputs_embeds or encoder_outputs) to generate."
                )
            encoder_outputs = self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)
        enc = self.project(_last_hidden_state(encoder_outputs))
        B = enc.shape[0]
        start = decoder_input_ids
        if start is None:
            start = generation.start_ids_for(config, B, enc.device)
        length = cap_length(config, start.shape[1], self.config.decoder.max_position_embeddings)
        bf16 = self.decoder.get_input_embeddings().weight.dtype == torch.bfloat16
        state = _DecodeState(self.decoder.new_cache(B, length), enc, attention_mask, bf16)
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
                select=_DecodeState.select,
                lookahead=lookahead,
            )
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
        compiled = self.__dict__.get(
            "compiled_step"
        )  # set by warmstart.torch.compile.compile_decoder
        if state.rows is None:
            state.rows = tokens.shape[0]
        if compiled is not None and tokens.shape[0] == state.rows:  # not once greedy drops rows
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
        """The eager decoder over tokens (N, t) after the cache: logits (N, t or 1, V)."""
        return self.decoder(
            tokens,
            encoder_hidden_states=state.enc,
            encoder_attention_mask=state.enc_mask,
            cache=state.cache,
            last_only=last_only,
        ).logits

    def _shares_token_ids(self) -> bool:
        """Whether source ids are decoder ids too (equal vocabularies), so that prompt lookup
        decoding may guess tokens from the source. A wrong guess costs time, never tokens."""
        return self.config.encoder.vocab_size == self.config.decoder.vocab_size

    # ----------------------------------------------------------------- saving
    def save_pretrained(
        self, save_directory: str | os.PathLike, safe_serialization: bool = True
    ) -> None:
        """Write config.json and the weights in transformers' layout, atomically.

        Other files in ``save_directory`` (a tokenizer, say) are kept.
        """
        self._refuse_if_quantized("saved")
        state = checkpoint.to_hf_layout(self._state_to_save(), self.config)
        config = self.config.to_dict()
        config["dtype"] = str(self.dtype).removeprefix("torch.")
        replaces = (CONFIG_NAME, generation.GENERATION_CONFIG_NAME, *hub.WEIGHT_FILES)
        with hub.atomic_folder(save_directory, replaces=replaces) as tmp:
            write_text_atomic(tmp / CONFIG_NAME, checkpoint.to_json(config))
            self._generation_config(None).save_pretrained(tmp)  # what generate would use
            weights.write_weights(state, tmp, safe_serialization)

    def _state_to_save(self) -> dict[str, Tensor]:
        """Each tensor once, except those the encoder shares with the decoder: transformers 5 no
        longer ties them, so both names are written (4.x reads both and ties them again)."""
        state = checkpoint.dedupe_tied(self)
        for names in self.shared_parameter_names:
            kept = next(state[n] for n in names if n in state)
            for name in names:
                state[name] = kept if state.get(name) is kept else kept.clone()
        return state

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: EncoderDecoderConfig | None = None,
        dtype: torch.dtype | str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        quantize: str | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        device_map: str | int | torch.device | None = None,
        output_loading_info: bool = False,
        **kwargs: Any,
    ) -> EncoderDecoderModel | tuple[EncoderDecoderModel, dict]:
        """Load a saved encoder-decoder model (a folder or a cached repo id), in eval mode.

        Args:
            pretrained_model_name_or_path: folder with config.json and weights, or a repo id.
            config: use this config instead of the saved one.
            dtype: floating dtype of the parameters (default float32; ``"auto"``: the dtype the
                weights are stored in).
            quantize: ``"int8"`` or ``"bf16"``: decoder weights in reduced precision, for
                inference only (see :meth:`quantize`).
            revision, cache_dir, local_files_only: where a repo id is looked up
                (:func:`warmstart.hub.resolve`).
            device_map: one device for the whole model (``"cpu"``, ``"cuda:0"``, ``0``, ``"auto"``
                for the GPU when there is one).
            output_loading_info: also return transformers' loading report (every key loads, or
                loading fails).
            **kwargs: config fields to set, e.g. ``decoder_start_token_id=101``; transformers'
                download options (``token``, ``force_download``, ...) are accepted and unused.

        Returns:
            The model, or ``(model, loading_info)``.
        """
        for name in checkpoint.IGNORED_LOAD_OPTIONS:
            kwargs.pop(name, None)
        folder = hub.resolve(
            pretrained_model_name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
        )
        if config is None:
            config = checkpoint.read_config(folder)
        if not isinstance(config, EncoderDecoderConfig):
            raise ValueError(
                f"{folder} holds a {config.model_type!r} model, not an encoder-decoder. Build one from "
                "it with EncoderDecoderModel.from_encoder_decoder_pretrained(encoder, decoder)."
            )
        checkpoint.set_fields(config, kwargs, "from_pretrained()")
        device = _device_of(device_map)
        with torch.device("meta"):
            model = cls(config)
        state = checkpoint.split_composite(weights.load_weights(folder), config)
        if _trained_apart(state, model):
            logger.warning(
                "%s says tie_encoder_decoder=True but holds different encoder and decoder weights "
                "(transformers 5 trains them apart); they are loaded apart, as transformers 5 "
                "loads them.",
                folder,
            )
            model._untie_encoder_decoder()
        state = _fill_shared(state, model)
        dtype = dtype or torch_dtype
        if dtype == "auto":
            dtype = checkpoint.stored_dtype(state)
        missing = checkpoint.load_into(model, state, checkpoint.float_dtype(dtype), model._init_for)
        if (folder / generation.GENERATION_CONFIG_NAME).is_file():
            model._adopt_generation_config(generation.GenerationConfig.from_pretrained(folder))
        if missing:
            raise ValueError(
                f"The checkpoint in {folder} lacks {len(missing)} tensors the model needs: "
                f"{', '.join(summarize_keys(missing))}. It may be truncated or for another model."
            )
        if device is not None:
            model.to(device)
        model = model.quantize(quantize) if quantize is not None else model.eval()
        if output_loading_info:
            info = {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set()}
            return model, {**info, "error_msgs": []}
        return model

    @classmethod
    def from_encoder_decoder_pretrained(
        cls,
        encoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        decoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> EncoderDecoderModel:
        """Warm-start from a pretrained encoder checkpoint and a pretrained decoder checkpoint.

        Args:
            encoder_pretrained_model_name_or_path: folder or repo id of the encoder.
            decoder_pretrained_model_name_or_path: folder or repo id of the decoder.
            **kwargs: ``encoder_model=``/``decoder_model=`` ready modules; ``encoder_config=``/
                ``decoder_config=`` configs; other ``encoder_*``/``decoder_*`` set fields of that
                side's config; ``dtype=``; everything else (``decoder_start_token_id=`` too) sets
                fields of the composite config.

        Returns:
            The model in eval mode; ``model.newly_initialized`` names the weights no checkpoint held
            (the decoder's cross-attention, and its LM head if the checkpoint had none).
        """
        dtype = checkpoint.float_dtype(kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None))
        composite = {
            k: kwargs.pop(k) for k in list(kwargs) if k in EncoderDecoderConfig.field_names()
        }

        sides = {"encoder": {}, "decoder": {}}
        for key in list(kwargs):
            side = key.split("_", 1)[0]
            if side in sides and "_" in key:
                sides[side][key.split("_", 1)[1]] = kwargs.pop(key)
        composite.update(kwargs)
        halves, new = {}, []
        for side, path in (
            ("encoder", encoder_pretrained_model_name_or_path),
            ("decoder", decoder_pretrained_model_name_or_path),
        ):
            halves[side], missing = loading.pretrained_half(side, path, sides[side], dtype)
            new += [f"{side}.{k}" for k in missing]
        config = EncoderDecoderConfig(
            encoder=halves["encoder"].config, decoder=halves["decoder"].config
        )
        for key, value in composite.items():
            setattr(config, key, value)
        model = cls(config, encoder=halves["encoder"], decoder=halves["decoder"])
        if hasattr(model, "enc_to_dec_proj"):
            model.enc_to_dec_proj.to(dtype)
            new += ["enc_to_dec_proj.weight", "enc_to_dec_proj.bias"]
        model.newly_initialized = new
        if new:
            logger.warning(
                "Newly initialised (train before use): %s", "; ".join(summarize_keys(new))
            )
        return model.eval()

    def _init_for(self, name: str):
        """The initialiser of the half that owns parameter ``name``."""
        if name.startswith("encoder."):
            return self.encoder._init_weights
        if name.startswith("decoder."):
            return self.decoder._init_weights
        return lambda m: init_normal_(m, _init_std(self.config.decoder))


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

    def _take(self, index: Tensor) -> _DecodeState:
        """Keep rows ``index`` (N',) of the cache and of the encoder output."""
        self.cache.reorder(index, cross=True)
        self.enc = self.enc[index]
        self.enc_mask = None if self.enc_mask is None else self.enc_mask[index]
        return self

    @staticmethod
    def select(state: _DecodeState, index: Tensor) -> _DecodeState:
        """Greedy search drops finished rows: keep rows ``index`` of everything."""
        return state._take(index)

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
        return state._take(index)


# ----------------------------------------------------------------- loading helpers
def _check_ids(name: str, ids: Any) -> Tensor | None:
    """``ids`` as given when it is a (B, L) tensor of integers; a clear error otherwise."""
    if ids is None or (isinstance(ids, Tensor) and ids.dim() == 2 and not ids.is_floating_point()):
        return ids
    if not isinstance(ids, Tensor):
        raise TypeError(
            f"{name} must be a torch tensor of shape (batch, length), not {type(ids).__name__}: "
            'use tokenizer(texts, return_tensors="pt") or torch.tensor(ids).'
        )
    if ids.is_floating_point():
        raise TypeError(f"{name} must hold integer token ids, not {ids.dtype}.")
    raise ValueError(
        f"{name} must have shape (batch, length), not {tuple(ids.shape)}"
        + (": add the batch dimension with ids[None]." if ids.dim() == 1 else ".")
    )


def _device_of(device_map: str | int | torch.device | None) -> torch.device | None:
    """The one device ``device_map`` names; ``"auto"`` is the GPU when torch sees one."""
    if device_map is None:
        return None
    if device_map == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device_map, dict):
        raise ValueError(
            "device_map as a dict (parts of the model on several devices) is not supported; pass "
            "one device such as 'cuda:0', or load and then call model.to(device)."
        )
    try:
        return torch.device(device_map)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device_map={device_map!r} names no device ({err}).") from None


def _last_hidden_state(encoder_outputs: Any) -> Tensor:
    if isinstance(encoder_outputs, Tensor):
        return encoder_outputs
    if isinstance(encoder_outputs, (tuple, list)):
        return encoder_outputs[0]
    return encoder_outputs.last_hidden_state


def _init_std(config: Any) -> float:
    """The standard deviation a config gives new weights (BART names it ``init_std``)."""
    std = getattr(config, "init_std", None)
    return std if std is not None else config.initializer_range


def _trained_apart(state: dict[str, Tensor], model: EncoderDecoderModel) -> bool:
    """Whether a checkpoint holds both names of a shared parameter with different values: saved by
    transformers 5, which keeps the two sides apart whatever ``tie_encoder_decoder`` says."""
    return any(
        all(n in state for n in names) and not torch.equal(*(state[n] for n in names))
        for names in model.shared_parameter_names
    )


def _fill_shared(state: dict[str, Tensor], model: EncoderDecoderModel) -> dict[str, Tensor]:
    """A shared tensor saved under one of its names (transformers 4.x keeps the decoder's) fills the
    other; tying after the load makes the two one parameter again, the decoder's value winning."""
    for names in model.shared_parameter_names:
        present = [n for n in names if n in state]
        if present:
            for name in names:
                state.setdefault(name, state[present[-1]])
    return state


def _decoder_body(decoder: nn.Module) -> tuple[str, nn.Module]:
    """The decoder's body (what an encoder corresponds to) and its name prefix, e.g. ``"bert."``."""
    body = decoder.body if isinstance(decoder, LMHeadDecoder) else decoder
    name = next(n for n, m in decoder.named_modules() if m is body)
    return (name + "." if name else ""), body


def _common_parameters(encoder: nn.Module, body: nn.Module) -> list[str]:
    """Names of the parameters both modules hold; their shapes must agree."""
    mine = dict(encoder.named_parameters(remove_duplicate=False))
    theirs = dict(body.named_parameters(remove_duplicate=False))
    common = [n for n in mine if n in theirs]
    wrong = [n for n in common if mine[n].shape != theirs[n].shape]
    if wrong:
        n = wrong[0]
        raise ValueError(
            f"tie_encoder_decoder needs both sides to have the same sizes, but {n} is "
            f"{tuple(mine[n].shape)} in the encoder and {tuple(theirs[n].shape)} in the decoder."
        )
    return common
