"""TFEncoderDecoderModel: any supported encoder composed with any supported decoder, on TensorFlow.

Rothe, Narayan and Severyn, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks", 2020.
The PyTorch side (:mod:`warmstart.torch.encoder_decoder`) is the reference: one folder (config.json +
model.safetensors in PyTorch's layout) is read and written by both, with equal logits. Keras 3 on
the TensorFlow backend: ``compile`` + ``fit`` train on the model's own loss, as transformers 4.x TF
models did; ``generate`` runs eagerly or under ``tf.function(jit_compile=True)`` (:mod:`.generation`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import hub
from ..config import (
    CONFIG_NAME,
    EncoderDecoderConfig,
    as_config,
    composite_config,
    init_std,
    set_fields,
    side_options,
)
from ..generation import GENERATION_CONFIG_NAME, GenerationConfig
from ..generation.settings import GenerationSettings, check_shift_ids
from ..outputs import wanted
from . import checkpoint, generation
from .families import family
from .inputs import call_inputs, int_tensor
from .layers import SelfAttention, causal_keep, cross_entropy, linear
from .outputs import TFSeq2SeqLMOutput
from .pretrained import (
    asked,
    attention_rate,
    check_save_options,
    loading_options,
    with_loading_info,
)

logger = logging.getLogger("warmstart")


CALL_INPUTS = (
    "input_ids",
    "attention_mask",
    "decoder_input_ids",
    "decoder_attention_mask",
    "encoder_outputs",
    "labels",
    "token_type_ids",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "training",
)
"""The call's inputs in order (a list/tuple as the first input follows it: Keras' convention)."""


def shift_tokens_right(labels: tf.Tensor, pad_token_id: int | None, start_token_id: int | None):
    """Decoder inputs from labels (B, T): the start token first, labels moved right by one, -100
    read as pad."""
    check_shift_ids(pad_token_id, start_token_id)
    labels = tf.cast(labels, tf.int32)
    start = tf.fill((tf.shape(labels)[0], 1), start_token_id)
    shifted = tf.concat([start, labels[:, :-1]], axis=1)
    return tf.where(shifted == -100, pad_token_id, shifted)


class TFEncoderDecoderModel(GenerationSettings, keras.Model):
    """A sequence-to-sequence Keras model made of an encoder and a decoder with cross-attention."""

    main_input_name = "input_ids"

    def __init__(
        self,
        config: EncoderDecoderConfig | None = None,
        encoder: keras.Model | None = None,
        decoder: keras.Model | None = None,
        **kwargs: Any,
    ) -> None:
        """Build from a composite config (ours or transformers' ``EncoderDecoderConfig``), or from
        an ``encoder`` and a ``decoder`` model; ``name=`` is Keras' name."""
        super().__init__(name=kwargs.pop("name", None))
        if kwargs:
            raise TypeError(
                f"TFEncoderDecoderModel() got unexpected arguments: {', '.join(sorted(kwargs))}; "
                "it takes config, encoder, decoder."
            )
        if config is not None:
            config = as_config(config, "TFEncoderDecoderModel's config")
        config = composite_config(config, encoder, decoder)
        if config.tie_encoder_decoder:
            raise NotImplementedError(
                "tie_encoder_decoder=True is not supported by the TensorFlow side; use the PyTorch "
                "EncoderDecoderModel, or set tie_encoder_decoder=False."
            )
        dec = config.decoder
        if not dec.add_cross_attention:
            raise ValueError(
                "The decoder has no cross-attention, so it cannot read the encoder. Build its config "
                "with add_cross_attention=True (from_encoder_decoder_configs does)."
            )
        dec.is_decoder = True  # as transformers' composition sets it (GPT-2 configs often lack it)
        self.encoder = encoder if encoder is not None else family(config.encoder)[0](config.encoder)
        self.decoder = decoder if decoder is not None else family(config.decoder)[1](config.decoder)
        config.encoder, config.decoder = self.encoder.config, self.decoder.config
        self.__dict__["config"] = config
        proj: dict[str, tf.Variable] = {}
        enc_width, dec_width = config.encoder.hidden_size, dec.hidden_size
        if enc_width != dec_width and getattr(dec, "cross_attention_hidden_size", None) is None:
            init = keras.initializers.RandomNormal(0.0, init_std(dec))
            proj["enc_to_dec_proj.weight"] = self.add_weight(
                shape=(dec_width, enc_width), initializer=init, name="enc_to_dec_proj.weight"
            )
            proj["enc_to_dec_proj.bias"] = self.add_weight(
                shape=(dec_width,), initializer="zeros", name="enc_to_dec_proj.bias"
            )
        self.__dict__["proj"] = proj
        self.built = True
        gen = GenerationConfig.from_model_config(config)
        gen.extra["_from_model_config"] = True
        self.__dict__["_generation_state"] = {}
        self._adopt_generation_config(gen)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("config", "generation_config", "_generation_origin"):
            self.__dict__[name] = value  # settings, not Keras state
        else:
            super().__setattr__(name, value)

    # ----------------------------------------------------------------- accessors
    def get_encoder(self) -> keras.Model:
        return self.encoder

    def get_decoder(self) -> keras.Model:
        return self.decoder

    def get_input_embeddings(self) -> tf.Variable:
        return self.encoder.get_input_embeddings()

    @staticmethod
    def can_generate() -> bool:
        return True

    # ----------------------------------------------------------------- forward
    def project(self, enc: tf.Tensor) -> tf.Tensor:
        """Encoder states (B, S, C_enc) -> (B, S, C_dec) for the decoder's cross-attention."""
        return linear(self.proj, "enc_to_dec_proj", enc) if self.proj else enc

    def encode(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        training=False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ):
        return self.encoder.call(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            training=training,
        )

    def call(
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        decoder_input_ids: Any = None,
        decoder_attention_mask: Any = None,
        encoder_outputs: Any = None,
        labels: Any = None,
        token_type_ids: Any = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        training: bool = False,
        use_cache: bool | None = None,  # 4.x's keyword: a full pass keeps no cache
        **kwargs: Any,
    ) -> TFSeq2SeqLMOutput | tuple:
        """Encode the source (unless ``encoder_outputs`` is given) and decode the target.

        Args:
            input_ids: (B, S) source ids, or (Keras' convention) a dict of these inputs or a
                list/tuple of them in this order; attention_mask: (B, S) 1 for tokens.
            decoder_input_ids: (B, T) decoder inputs; built from ``labels`` when omitted.
            encoder_outputs: the encoder's output (ours, transformers' ``TFBaseModelOutput``,
                anything with ``last_hidden_state``, a tuple, or the states (B, S, C)).
            labels: (B, T) targets, -100 where the loss should ignore a position.
            output_attentions, output_hidden_states: also return the attention weights / hidden
                states (default: each side's config field, as transformers 4.x's TF model).
            return_dict: False for a tuple (default: the config's ``return_dict``, else True).
            training: apply dropout.
            **kwargs: transformers 4.x's ``kwargs=`` (unused) and ``use_cache`` are absorbed.

        Returns:
            ``TFSeq2SeqLMOutput`` with ``loss`` (when labels are given), ``logits`` (B, T, V),
            ``encoder_last_hidden_state``, and what was asked (``encoder_attentions``,
            ``decoder_attentions``, ``cross_attentions``, ``*_hidden_states``).
        """
        named = {k: v for k, v in locals().items() if k in CALL_INPUTS}
        a = call_inputs("TFEncoderDecoderModel", CALL_INPUTS, named, kwargs)
        training, attention_mask = bool(a["training"]), int_tensor(a["attention_mask"])
        encoder_outputs = a["encoder_outputs"]
        if encoder_outputs is None:
            if a["input_ids"] is None:
                raise ValueError("Pass input_ids (or encoder_outputs).")
            encoder_outputs = self.encode(
                int_tensor(a["input_ids"]),
                attention_mask,
                int_tensor(a["token_type_ids"]),
                training,
                a["output_attentions"],
                a["output_hidden_states"],
            )
        enc = _last_hidden_state(encoder_outputs)
        labels = None if a["labels"] is None else tf.convert_to_tensor(a["labels"])
        ids, dec_mask = self._decoder_inputs(
            a["decoder_input_ids"], a["decoder_attention_mask"], labels
        )
        record = asked(self.config.decoder, a["output_attentions"], a["output_hidden_states"])
        logits, attn = self._decode(ids, enc, attention_mask, dec_mask, training, record)
        out = TFSeq2SeqLMOutput(
            loss=None if labels is None else cross_entropy(logits, labels),
            logits=logits,
            decoder_hidden_states=tuple(attn.states) if attn.hidden_states else None,
            decoder_attentions=tuple(attn.self_weights) if attn.attentions else None,
            cross_attentions=tuple(attn.cross_weights) if attn.attentions else None,
            encoder_last_hidden_state=enc,
            encoder_hidden_states=_field(encoder_outputs, "hidden_states"),
            encoder_attentions=_field(encoder_outputs, "attentions"),
        )
        as_dict = wanted(a["return_dict"], self.config, "return_dict", default=True)
        return out if as_dict else out.to_tuple()

    def _decoder_inputs(self, ids: Any, mask: Any, labels: tf.Tensor | None) -> tuple:
        """The decoder's ids (B, T) and mask: as given, else built from ``labels``."""
        if ids is None:
            if labels is None:
                raise ValueError(
                    "Pass decoder_input_ids or labels (decoder inputs are built from labels)."
                )
            ids = shift_tokens_right(
                labels, self.config.pad_token_id, self.config.decoder_start_token_id
            )
            if mask is None:  # the start token stays visible (as PyTorch's side)
                keep = ids != self.config.pad_token_id
                mask = tf.concat([tf.ones_like(keep[:, :1]), keep[:, 1:]], 1)
        return int_tensor(ids), int_tensor(mask)

    def decode(self, ids, enc, enc_mask=None, dec_mask=None, training=False) -> tf.Tensor:
        """Logits (B, T, V) of the decoder over ``ids`` (B, T) reading encoder states ``enc``."""
        return self._decode(ids, enc, enc_mask, dec_mask, training, {})[0]

    def _decode(self, ids, enc, enc_mask, dec_mask, training, record: dict) -> tuple:
        """Logits (B, T, V) and the pass's :class:`SelfAttention` (what it recorded)."""
        cross = self.decoder.all_cross_kv(self.project(enc))
        rate = attention_rate(self.decoder.config)
        keep = causal_keep(tf.shape(ids)[1], dec_mask)
        attn = SelfAttention(keep, rate=rate, training=training, **record)
        return self.decoder.decode(ids, cross, enc_mask, attn, 0, training), attn

    # ----------------------------------------------------------------- Keras training
    def compile(self, optimizer: Any = "adamw", **kwargs: Any) -> None:
        """Keras' ``compile``; no ``loss`` is needed (the model's own is trained). The optimiser's
        slots are made here, which spares ``fit`` a symbolic pass over the whole model."""
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(self.trainable_variables)

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        """``fit``: one optimiser step on the model's own loss (a batch is a dict of
        ``input_ids``, ``attention_mask``, ``labels``, or ``(inputs, labels)``)."""
        inputs = _batch_dict(data)
        with tf.GradientTape() as tape:
            loss = self(**inputs, training=True).loss
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        used = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
        self.optimizer.apply(*zip(*used, strict=True))  # not the encoder's unused pooler
        return self._track(loss)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        return self._track(self(**_batch_dict(data), training=False).loss)

    def _track(self, loss: tf.Tensor) -> dict[str, tf.Tensor]:
        """The step's loss for ``fit``'s logs; Keras' loss tracker averages it over the epoch."""
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return {"loss": loss}

    # ----------------------------------------------------------------- generation
    def generate(
        self,
        input_ids: Any = None,
        generation_config: GenerationConfig | None = None,
        logits_processor: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Greedy, beam search or sampling with a static cache; see :func:`.generation.generate`.
        transformers 4.x's ``inputs=`` names ``input_ids``; its ``logits_processor`` must be empty
        (the processors are chosen by the settings: ``top_k=``, ``repetition_penalty=``, ...)."""
        if "inputs" in kwargs:
            if input_ids is not None:
                raise TypeError("Pass the source ids once: input_ids or inputs.")
            input_ids = kwargs.pop("inputs")
        if logits_processor:
            raise NotImplementedError(
                "TFEncoderDecoderModel.generate takes no logits_processor list; set the processors "
                "through generation settings (top_k=, repetition_penalty=, no_repeat_ngram_size=, ...)."
            )
        return generation.generate(self, input_ids, generation_config, **kwargs)

    # ----------------------------------------------------------------- saving and loading
    def state(self) -> dict[str, np.ndarray]:
        """Every tensor under transformers' composite names, in PyTorch's layout."""
        out = {k: v.numpy() for k, v in self.proj.items()}
        for side, half in (("encoder", self.encoder), ("decoder", self.decoder)):
            part = checkpoint.to_checkpoint(half.config, half.state(), side == "decoder")
            out.update({f"{side}.{k}": v for k, v in part.items()})
        return out

    def save_pretrained(self, save_directory: str | os.PathLike, **options: Any) -> None:
        """Write config.json, generation_config.json and model.safetensors in PyTorch's layout,
        atomically (other files in the folder are kept): every framework loads the folder.
        transformers 4.x's keywords are taken (:func:`.pretrained.check_save_options`)."""
        check_save_options(options)
        config = self.config.to_dict()
        config["dtype"] = "float32"
        replaces = (CONFIG_NAME, GENERATION_CONFIG_NAME, *hub.WEIGHT_FILES)
        with hub.atomic_folder(save_directory, replaces=replaces) as tmp:
            hub.write_text_atomic(tmp / CONFIG_NAME, checkpoint.to_json(config))
            self._generation_config(None).save_pretrained(tmp)
            hub.save_arrays(self.state(), tmp / hub.SAFE_WEIGHTS)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **kw: Any
    ) -> TFEncoderDecoderModel:
        """Load a folder saved by ``EncoderDecoderModel`` (either library, PyTorch's layout), by
        this class, or transformers 4.x's ``tf_model.h5``; ``from_pt`` is accepted and unneeded.

        Args:
            pretrained_model_name_or_path: a folder or a cached repo id.
            **kw: config fields to set, e.g. ``decoder_start_token_id=101``; ``config=`` (ours or
                transformers'); transformers' lookup options (``revision``, ``cache_dir``,
                ``local_files_only``) and 4.x's TF ones (``name``, ``output_loading_info``, ...).
        """
        options = loading_options(kw)
        folder = hub.resolve_with(pretrained_model_name_or_path, kw)
        config = kw.pop("config", None)
        config = as_config(config) if config is not None else checkpoint.read_config(folder)
        if not isinstance(config, EncoderDecoderConfig):
            raise ValueError(
                f"{folder} holds a {config.model_type!r} model, not an encoder-decoder. Build one "
                "from it with TFEncoderDecoderModel.from_encoder_decoder_pretrained(enc, dec)."
            )
        set_fields(config, kw, "from_pretrained()")
        model = cls(config, name=options["name"])
        model.load_state(checkpoint.load_arrays(folder), str(folder))
        if (folder / GENERATION_CONFIG_NAME).is_file():
            model._adopt_generation_config(GenerationConfig.from_pretrained(folder))
        return with_loading_info(model, [], options)

    def load_state(self, state: dict[str, np.ndarray], where: str) -> None:
        """Assign a composite checkpoint's arrays; anything missing or unknown raises."""
        parts = checkpoint.split_composite(state, self.config)
        missing = self.encoder.assign_state(parts["encoder"], strict=True)
        missing += self.decoder.assign_state(parts["decoder"], strict=True)
        unknown = sorted(set(parts[""]) - set(self.proj))
        if unknown:
            raise ValueError(f"{where} has tensors this model has no place for: {unknown[:6]}.")
        for name, var in self.proj.items():
            if name in parts[""]:
                var.assign(parts[""][name])
            else:
                missing.append(name)
        if missing:
            raise ValueError(
                f"The checkpoint in {where} lacks {len(missing)} tensors the model needs: "
                f"{', '.join(missing[:6])}. It may be truncated or for another model."
            )

    @classmethod
    def from_encoder_decoder_pretrained(
        cls,
        encoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        decoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> TFEncoderDecoderModel:
        """Warm-start from an encoder checkpoint and a decoder checkpoint (folders saved by either
        framework; ``encoder_from_pt``/``decoder_from_pt`` are accepted and unneeded).

        Args:
            **kwargs: ``encoder_model=``/``decoder_model=`` ready models; other ``encoder_*`` /
                ``decoder_*`` set fields of that side's config; the rest set fields of the
                composite config (``decoder_start_token_id=``, ``return_dict=``, ...).

        Returns:
            The model; ``model.newly_initialized`` names the weights no checkpoint held.
        """
        sides = side_options(kwargs)
        halves, new = {}, []
        paths = (encoder_pretrained_model_name_or_path, decoder_pretrained_model_name_or_path)
        for side, path in zip(sides, paths, strict=True):
            halves[side] = _pretrained_half(side, path, sides[side])
            new += [f"{side}.{k}" for k in getattr(halves[side], "newly_initialized", [])]
        config = EncoderDecoderConfig(
            encoder=halves["encoder"].config, decoder=halves["decoder"].config
        )
        set_fields(config, kwargs, "from_encoder_decoder_pretrained()")
        model = cls(config, encoder=halves["encoder"], decoder=halves["decoder"])
        new += list(model.proj)
        model.newly_initialized = new
        if new:
            logger.warning("Newly initialised (train before use): %s", "; ".join(new[:8]))
        return model


def _pretrained_half(side: str, path: Any, options: dict[str, Any]) -> keras.Model:
    if options.get("model") is not None:
        return options["model"]
    options.pop("model", None)
    loading_options(options)  # from_pt, from_tf, ... change nothing here
    if path is None:
        raise ValueError(f"Pass the {side} checkpoint (a folder or repo id) or {side}_model=.")
    folder = hub.resolve(path)
    config = options.pop("config", None)
    config = as_config(config) if config is not None else checkpoint.read_config(folder)
    config.is_decoder = config.add_cross_attention = side == "decoder"
    set_fields(config, options, f"{side}_* options")
    cls = family(config)[1 if side == "decoder" else 0]
    return cls.from_pretrained(folder, config=config)


def _last_hidden_state(encoder_outputs: Any) -> tf.Tensor:
    """The encoder states (B, S, C) of an output object (by field name), a tuple, or themselves."""
    state = getattr(encoder_outputs, "last_hidden_state", None)
    if state is not None:
        return tf.convert_to_tensor(state)
    if isinstance(encoder_outputs, (tuple, list)):
        return tf.convert_to_tensor(encoder_outputs[0])
    return tf.convert_to_tensor(encoder_outputs)


def _field(encoder_outputs: Any, name: str) -> Any:
    """``hidden_states`` / ``attentions`` of a given encoder output, when it has them."""
    value = getattr(encoder_outputs, name, None)
    return tuple(value) if value is not None else None


def _batch_dict(data: Any) -> dict[str, Any]:
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], dict):
        return {**data[0], "labels": data[1]}
    return dict(data)
