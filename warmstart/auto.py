"""The ``Auto*`` classes of every framework's room (transformers' ``AutoModel``,
``AutoModelForCausalLM``, ``AutoModelForSeq2SeqLM`` and their ``TF`` names): the class is chosen by
the checkpoint's (or the config's) ``model_type``. A room subclasses :class:`AutoClass` with its
composite class and its family lookup."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import hub
from .config import AutoConfig, Config, EncoderDecoderConfig, as_config


class AutoClass:
    """Looks a model class up by ``model_type`` in one role; never built itself.

    Attributes:
        role: ``"encoder"`` (``AutoModel``), ``"decoder"`` (``AutoModelForCausalLM``) or
            ``"seq2seq"`` (``AutoModelForSeq2SeqLM``).
        composite: the room's encoder-decoder class (the ``seq2seq`` role's class).
        family: the room's lookup, config -> an object with ``encoder`` and ``decoder`` classes.
        prefix: what the room's class names start with (``"TF"`` on TensorFlow).
    """

    role = ""
    composite: type
    family: Callable[[Config], Any]
    prefix = ""

    def __init__(self) -> None:
        raise TypeError(
            f"{type(self).__name__} is not built; use {type(self).__name__}.from_pretrained(path) "
            "or .from_config(config)."
        )

    @classmethod
    def model_class(cls, config: Config) -> type:
        """The class that loads ``config``'s model_type in this role.

        Raises:
            ValueError: the model_type has no class in this role (the message says which to use).
        """
        name = cls.composite.__name__
        if isinstance(config, EncoderDecoderConfig) != (cls.role == "seq2seq"):
            if cls.role == "seq2seq":
                raise ValueError(
                    f"A {config.model_type!r} checkpoint is one stack, not an encoder-decoder: "
                    f"build one from it with {name}.from_encoder_decoder_pretrained(encoder, "
                    "decoder)."
                )
            raise ValueError(
                f"{cls.__name__} loads one encoder or decoder; load an encoder-decoder with "
                f"{cls.prefix}AutoModelForSeq2SeqLM or {name}.from_pretrained."
            )
        if cls.role == "seq2seq":
            return cls.composite
        return getattr(cls.family(config), cls.role)

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
    def from_config(cls, config: Any, **kwargs: Any) -> Any:
        """A randomly initialised model of the class ``config``'s model_type names (ours or
        transformers' config objects); keywords go to its constructor."""
        config = as_config(config)
        return cls.model_class(config)(config, **kwargs)
