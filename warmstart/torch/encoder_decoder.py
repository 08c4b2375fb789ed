"""EncoderDecoderModel: any supported encoder composed with any supported decoder.

Rothe, Narayan and Severyn, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks", 2020.
The decoder's cross-attention is new (randomly initialised and reported by name) when warm-starting from
two pretrained checkpoints; ``enc_to_dec_proj`` maps encoder states to the decoder's width when they
differ. With ``config.tie_encoder_decoder`` the encoder shares the decoder body's parameters (the
paper's BERTShare/RoBERTaShare). Checkpoints use transformers' layout: config.json (model_type
``encoder-decoder``) and model.safetensors with ``encoder.*``/``decoder.*`` tensor names.

This file is the model: compose, encode, project, forward, loss, tie. Saving and loading are
:mod:`warmstart.torch.loading`; ``generate`` and its speed machinery :mod:`warmstart.torch.decoding`.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from .. import families
from ..config import EncoderDecoderConfig, composite_config, init_std
from ..generation import GenerationConfig, GenerationSettings
from ..outputs import BaseModelOutput, Seq2SeqLMOutput
from . import sharing
from .attention import DecoderCache
from .decoding import DecodingMixin
from .families import check_decoder, family
from .heads import init_normal_
from .inputs import check_ids, check_labels, last_hidden_state, shift_tokens_right
from .loading import LoadingMixin
from .speed import Linear, cross_entropy
from .speed.recording import observed

logger = logging.getLogger("warmstart")

__all__ = ["EncoderDecoderModel", "Seq2SeqLMOutput", "shift_tokens_right"]


class EncoderDecoderModel(LoadingMixin, DecodingMixin, GenerationSettings, nn.Module):
    """A sequence-to-sequence model made of an encoder and a decoder with cross-attention."""

    main_input_name = "input_ids"
    # transformers' attention-dispatch flags: SDPA (the default) and eager attention, no flash
    _supports_sdpa = True
    _supports_flash_attn = False

    def __init__(
        self,
        config: EncoderDecoderConfig | None = None,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        config = composite_config(config, encoder, decoder)
        if encoder is None:
            encoder = family(config.encoder).encoder(config.encoder)
        if decoder is None:
            decoder = family(config.decoder).decoder(config.decoder)
        self.encoder, self.decoder = encoder, decoder
        config.encoder, config.decoder = encoder.config, decoder.config  # one shared object
        self.config = config
        dec = config.decoder
        # causal whatever it says (GPT-2, BART): says so, as transformers' from_encoder_decoder_configs
        if families.FAMILIES[dec.model_type].always_causal:
            dec.is_decoder = True
        check_decoder(self.decoder)
        enc_width, dec_width = config.encoder.hidden_size, dec.hidden_size
        if enc_width != dec_width and getattr(dec, "cross_attention_hidden_size", None) is None:
            self.enc_to_dec_proj = Linear(enc_width, dec_width)
            init_normal_(self.enc_to_dec_proj, init_std(dec))
        # (encoder name, decoder name) of each parameter the two sides share
        self.shared_parameter_names: list[tuple[str, str]] = []
        self._loaded_apart = False  # a tied config, but weights transformers 5 trained apart
        if config.tie_encoder_decoder:
            sharing.tie_encoder_decoder(self)
        self.register_state_dict_post_hook(sharing.copy_shared_tensors)
        self._warned_labels = self._warned_checkpoint_cache = False
        gen = GenerationConfig.from_model_config(config)
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
            sharing.tie_encoder_decoder(self)

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
        return sharing.resize_token_embeddings(self, new_num_tokens, side)

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
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutput:
        """The encoder's output; ``attentions`` / ``hidden_states`` as asked (by keyword, else by
        the encoder's config), the compiled encoder only when none is."""
        compiled = self.__dict__.get("compiled_encoder")  # set by speed.compile.compile_encoder
        asked = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        asked = {k: v for k, v in asked.items() if v is not None}
        if compiled is not None and not observed(self.config.encoder, **asked):
            out = compiled(input_ids, attention_mask, token_type_ids, inputs_embeds)
            if out is not None:
                return out
        return self.encoder(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            **asked,
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
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        loss_only: bool = False,
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
            output_attentions, output_hidden_states: also return the attention weights / hidden
                states of both sides (default: each side as its own config's field of that name
                says; the composite config's field is not read, as in transformers), computed by
                an eager attention.
            loss_only: with ``labels``, compute the vocabulary logits of the labelled positions
                only (not those labelled -100) and return the loss without logits: the same loss
                for less work where labels are padded (warmstart's trainer passes it).

        Returns:
            ``Seq2SeqLMOutput`` with ``loss`` (when labels are given), ``logits`` (B, T, V) and
            ``encoder_last_hidden_state``; as asked, ``encoder_hidden_states`` /
            ``decoder_hidden_states`` ((B, S or T, C) per layer, embeddings first) and
            ``encoder_attentions`` / ``decoder_attentions`` / ``cross_attentions`` ((B, H, T, S)
            per layer), as transformers returns them.
        """
        if cache is None:
            cache = past_key_values
        input_ids = check_ids("input_ids", input_ids, self.config.encoder.vocab_size)
        decoder_input_ids = check_ids(
            "decoder_input_ids", decoder_input_ids, self.config.decoder.vocab_size
        )
        labels = check_ids("labels", labels, self.config.decoder.vocab_size)
        if encoder_outputs is None:
            if input_ids is None and inputs_embeds is None:
                raise ValueError("Pass input_ids (or inputs_embeds or encoder_outputs).")
            encoder_outputs = self.encode(
                input_ids,
                attention_mask,
                token_type_ids,
                inputs_embeds,
                output_attentions,
                output_hidden_states,
            )
        enc = last_hidden_state(encoder_outputs)
        decoder_input_ids, decoder_attention_mask = self._decoder_inputs(
            labels, decoder_input_ids, decoder_attention_mask, decoder_inputs_embeds
        )
        given = decoder_input_ids if decoder_input_ids is not None else decoder_inputs_embeds
        cache = self._cache_for(use_cache, cache, given)
        asked = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        if loss_only:
            if labels is None:
                raise ValueError("loss_only=True needs labels: pass the targets as labels.")
            asked["rows"] = labels != -100
        dec = self.decoder(
            decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=self.project(enc),
            encoder_attention_mask=attention_mask,
            inputs_embeds=decoder_inputs_embeds,
            cache=cache,
            **{k: v for k, v in asked.items() if v is not None},  # else each side reads its config
        )
        out = _output(dec, labels, cache, encoder_outputs, enc, loss_only)
        return out.to_tuple() if return_dict is False else out

    def _decoder_inputs(
        self,
        labels: Tensor | None,
        decoder_input_ids: Tensor | None,
        decoder_attention_mask: Tensor | None,
        decoder_inputs_embeds: Tensor | None,
    ) -> tuple[Tensor | None, Tensor | None]:
        """The decoder's ids and mask: as given, else built from ``labels`` (shifted right)."""
        if labels is not None:
            check_labels(self, labels, decoder_input_ids)
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
        return decoder_input_ids, decoder_attention_mask

    def _cache_for(
        self, use_cache: bool | None, cache: DecoderCache | None, given: Tensor
    ) -> DecoderCache | None:
        """The cache to decode with: the one given, a new one for ``use_cache``, or none (never
        under gradient checkpointing in training, as transformers)."""
        if use_cache and self.training and self.is_gradient_checkpointing:
            if not self._warned_checkpoint_cache:
                logger.warning("use_cache=True does not go with gradient checkpointing: no cache.")
                self._warned_checkpoint_cache = True
            use_cache = False
        if use_cache and cache is None:
            B, T = given.shape[:2]
            cache = self.decoder.new_cache(B, T)
        return cache

    def _init_for(self, name: str):
        """The initialiser of the half that owns parameter ``name``."""
        if name.startswith("encoder."):
            return self.encoder._init_weights
        if name.startswith("decoder."):
            return self.decoder._init_weights
        return lambda m: init_normal_(m, init_std(self.config.decoder))


def _output(
    dec: Any,
    labels: Tensor | None,
    cache: DecoderCache | None,
    encoder_outputs: Any,
    enc: Tensor,
    loss_only: bool = False,
) -> Seq2SeqLMOutput:
    """The composite's output from the decoder's, the loss when there are labels (``loss_only``:
    the decoder's logits are the labelled positions' only, (N, V), and are not returned)."""
    logits, loss = dec.logits, None
    if loss_only:
        loss, logits = cross_entropy(logits, labels[labels != -100]), None
    elif labels is not None:
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    return Seq2SeqLMOutput(
        loss,
        logits,
        cache,
        decoder_hidden_states=getattr(dec, "hidden_states", None),
        decoder_attentions=getattr(dec, "attentions", None),
        cross_attentions=getattr(dec, "cross_attentions", None),
        encoder_last_hidden_state=enc,
        encoder_hidden_states=getattr(encoder_outputs, "hidden_states", None),
        encoder_attentions=getattr(encoder_outputs, "attentions", None),
    )
