"""transformers 4.x's ``TFAutoModel``, ``TFAutoModelForCausalLM`` and ``TFAutoModelForSeq2SeqLM``
over this side's families: the class is chosen by the checkpoint's (or the config's) model_type."""

from __future__ import annotations

import os
from typing import Any

import keras

from .. import hub
from ..config import AutoConfig, Config, EncoderDecoderConfig, as_config
from .encoder_decoder import TFEncoderDecoderModel
from .families import family


class _TFAuto:
    role = ""  # "encoder" (TFAutoModel), "decoder" (TFAutoModelForCausalLM) or "seq2seq"

    def __init__(self) -> None:
        raise TypeError(
            f"{type(self).__name__} is not built; use {type(self).__name__}.from_pretrained(path) "
            "or .from_config(config)."
        )

    @classmethod
    def model_class(cls, config: Config) -> type[keras.Model]:
        """The class that loads ``config``'s model_type in this role.

        Raises:
            ValueError: the model_type has no class in this role (the message says which to use).
        """
        if isinstance(config, EncoderDecoderConfig) != (cls.role == "seq2seq"):
            if cls.role == "seq2seq":
                raise ValueError(
                    f"A {config.model_type!r} checkpoint is one stack, not an encoder-decoder: build "
                    "one with TFEncoderDecoderModel.from_encoder_decoder_pretrained(encoder, decoder)."
                )
            raise ValueError(
                f"{cls.__name__} loads one encoder or decoder; load an encoder-decoder with "
                "TFAutoModelForSeq2SeqLM or TFEncoderDecoderModel.from_pretrained."
            )
        return TFEncoderDecoderModel if cls.role == "seq2seq" else getattr(family(config), cls.role)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """``from_pretrained`` of the class the model_type names; every keyword is passed on."""
        config = kwargs.get("config")
        if config is None:
            where = {k: kwargs[k] for k in hub.LOOKUP_OPTIONS if k in kwargs}
            config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **where)
        else:
            config = kwargs["config"] = as_config(config)
        return cls.model_class(config).from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> keras.Model:
        """A randomly initialised model of ``config``'s model_type (ours or transformers')."""
        config = as_config(config)
        return cls.model_class(config)(config, **kwargs)


class TFAutoModel(_TFAuto):
    """An encoder (``TFBertModel``, ``TFRobertaModel``, ...) by model_type."""

    role = "encoder"


class TFAutoModelForCausalLM(_TFAuto):
    """A decoder (``TFBertLMHeadModel``, ``TFGPT2LMHeadModel``, ...) by model_type."""

    role = "decoder"


class TFAutoModelForSeq2SeqLM(_TFAuto):
    """A ``TFEncoderDecoderModel`` from an encoder-decoder checkpoint."""

    role = "seq2seq"
