"""transformers' ``AutoModel``, ``AutoModelForCausalLM`` and ``AutoModelForSeq2SeqLM`` over this
package's families: the class is chosen by the checkpoint's (or the config's) ``model_type``."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from .. import hub
from ..config import AutoConfig, Config, EncoderDecoderConfig, as_config
from .encoder_decoder import EncoderDecoderModel
from .families import family


class _Auto:
    role = ""  # "encoder" (AutoModel), "decoder" (AutoModelForCausalLM) or "seq2seq"

    def __init__(self) -> None:
        raise TypeError(
            f"{type(self).__name__} is not built; use {type(self).__name__}.from_pretrained(path) "
            "or .from_config(config)."
        )

    @classmethod
    def model_class(cls, config: Config) -> type[nn.Module]:
        """The class that loads ``config``'s model_type in this role.

        Raises:
            ValueError: the model_type has no class in this role (the message says which to use).
        """
        if isinstance(config, EncoderDecoderConfig) != (cls.role == "seq2seq"):
            if cls.role == "seq2seq":
                raise ValueError(
                    f"A {config.model_type!r} checkpoint is one stack, not an encoder-decoder: "
                    "build one from it with EncoderDecoderModel.from_encoder_decoder_pretrained("
                    "encoder, decoder)."
                )
            raise ValueError(
                f"{cls.__name__} loads one encoder or decoder; load an encoder-decoder with "
                "AutoModelForSeq2SeqLM or EncoderDecoderModel.from_pretrained."
            )
        if cls.role == "seq2seq":
            return EncoderDecoderModel
        return getattr(family(config), cls.role)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """``from_pretrained`` of the class the checkpoint's model_type names (see
        :meth:`model_class`); every keyword is passed on to it."""
        config = kwargs.get("config")
        if config is None:
            where = {k: kwargs[k] for k in hub.LOOKUP_OPTIONS if k in kwargs}
            config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **where)
        else:
            config = kwargs["config"] = as_config(config)
        return cls.model_class(config).from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def from_config(cls, config: Config) -> nn.Module:
        """A randomly initialised model of the class ``config``'s model_type names (transformers'
        config objects are converted)."""
        config = as_config(config)
        return cls.model_class(config)(config)


class AutoModel(_Auto):
    """The encoder class of a checkpoint's family (``BertModel``, ``GPT2Model``, ...)."""

    role = "encoder"


class AutoModelForCausalLM(_Auto):
    """The decoder class of a checkpoint's family (``BertLMHeadModel``, ``GPT2LMHeadModel``, ...);
    pass ``is_decoder=True, add_cross_attention=True`` to make it a decoder for an encoder-decoder."""

    role = "decoder"


class AutoModelForSeq2SeqLM(_Auto):
    """``EncoderDecoderModel`` for an ``encoder-decoder`` checkpoint."""

    role = "seq2seq"
