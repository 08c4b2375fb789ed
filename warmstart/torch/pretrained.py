"""transformers' ``from_pretrained`` / ``save_pretrained`` on the encoders and decoders themselves.

``BertModel.from_pretrained(path)`` and ``BertLMHeadModel.from_pretrained(path, is_decoder=True,
add_cross_attention=True)``, then ``EncoderDecoderModel(encoder=..., decoder=...)``, is the way
transformers' documentation composes a model by hand; ``save_pretrained`` writes what transformers'
class of the same name loads. The work is done in :mod:`warmstart.torch.checkpoint`. Every model
class also takes transformers' own config objects, converted on construction (:class:`TakesConfigs`).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ..config import ATTN_IMPLEMENTATIONS, as_config, init_std
from . import checkpoint
from .heads import VocabularyHead, init_normal_


class TakesConfigs(type):
    """The metaclass of the model classes: a ``config`` (first argument or keyword) that is not this
    library's config, such as transformers' ``BertConfig``, is converted (:func:`.config.as_config`)
    before ``__init__`` sees it, so ``BertModel(transformers.BertConfig(...))`` works. A built
    model's config names the attention it runs (:func:`resolve_attention`)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if args and args[0] is not None:
            args = (_converted(cls, args[0]), *args[1:])
        if kwargs.get("config") is not None:
            kwargs["config"] = _converted(cls, kwargs["config"])
        model = super().__call__(*args, **kwargs)
        resolve_attention(model.config)
        return model


def _converted(cls: type, config: Any) -> Any:
    """``config`` as this library's, keeping the attention another library's config asks for."""
    ours = as_config(config, f"{cls.__name__}'s config")
    asked = getattr(config, "_attn_implementation", None)
    if ours is not config and asked in ATTN_IMPLEMENTATIONS:
        ours._attn_implementation = asked
    return ours


def resolve_attention(config: Any) -> None:
    """An unset ``_attn_implementation`` (on a composite config: on it and each side's) becomes
    ``"sdpa"``, the attention the model runs, as transformers resolves it when a model is built;
    one set to ``"eager"`` stays. Only the config named is set: a composite's sides are not
    overwritten."""
    for c in (config, getattr(config, "encoder", None), getattr(config, "decoder", None)):
        if c is not None and getattr(c, "_attn_implementation", None) is None:
            object.__setattr__(c, "_attn_implementation", "sdpa")


class Pretrained(metaclass=TakesConfigs):
    """Loading and saving for a model that is one encoder or decoder (``BertModel``,
    ``GPT2LMHeadModel``, ...), in the layout of transformers' class of the same name."""

    config: Any
    # transformers' attention-dispatch flags: SDPA (the default) and eager attention, no flash
    _supports_sdpa = True
    _supports_flash_attn = False

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: Any = None,
        dtype: torch.dtype | str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Load this class from a folder or a cached repo id, in eval mode.

        Args:
            pretrained_model_name_or_path: a folder with config.json and weights, or a repo id.
            config: use this config instead of the saved one.
            dtype: floating dtype of the parameters (default float32; ``"auto"``: as stored).
            torch_dtype: the old name of ``dtype``.
            **kwargs: config fields to set (``is_decoder=True, add_cross_attention=True`` make a
                decoder for an encoder-decoder); transformers' loading options (``revision``,
                ``cache_dir``, ``local_files_only``, ``token``, ...).

        Returns:
            The model. Parameters the checkpoint lacks (a new cross-attention, say) are initialised
            and logged by name; tensors it has no place for (another head) are dropped.

        Raises:
            ValueError: the checkpoint is of another family, or a whole encoder-decoder.
            TypeError: a keyword that is neither a config field nor a loading option.
        """
        if config is not None:
            config = as_config(config)
        return checkpoint.pretrained_module(
            cls, pretrained_model_name_or_path, config, dtype or torch_dtype, kwargs
        )

    def save_pretrained(
        self, save_directory: str | os.PathLike, safe_serialization: bool = True
    ) -> None:
        """Write config.json and the weights under transformers' names, atomically; other files in
        ``save_directory`` (a tokenizer, say) are kept."""
        checkpoint.save_module(self, save_directory, safe_serialization)

    def _init_weights(self, module: nn.Module) -> None:
        """transformers' initialisation of ``module`` (:func:`.heads.init_normal_`, the config's
        standard deviation), a :class:`.heads.VocabularyHead`'s bias zero; what loading gives the
        modules a checkpoint lacks."""
        init_normal_(module, init_std(self.config))
        if isinstance(module, VocabularyHead):
            nn.init.zeros_(module.bias)
