"""The one place where a model's generation settings are merged, for every framework.

A model holds two configs that both carry special token ids: its model config (``decoder_start_token_id``,
``pad_token_id``, ``eos_token_id``, ...) and its :class:`GenerationConfig`. transformers lets users
set either after creation and expects ``generate`` to honour the change, and call keywords
(``generate(x, max_new_tokens=5)``) override both. :class:`GenerationSettings` is a mixin that keeps
the two apart and merges them per call, and :func:`apply_options` / :func:`cap_length` apply the
keywords and the decoder's length limit. The PyTorch, TensorFlow and Flax models all take it.
"""

from __future__ import annotations

import copy
from typing import Any

from .config import GenerationConfig

TOKEN_IDS = ("decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id")


class GenerationSettings:
    """Mixin for a model with ``config`` (its model config) and ``generation_config``."""

    config: Any
    generation_config: GenerationConfig

    def _adopt_generation_config(self, gen: GenerationConfig) -> None:
        """Make ``gen`` the model's generation config, remembering its settings and what the model
        config says now, so that later changes to either are told apart (see _generation_config)."""
        self.generation_config = gen
        derived = GenerationConfig.from_model_config(self.config).to_dict()
        self._generation_origin = (gen, gen.to_dict(), derived)

    def _generation_config(self, generation_config: GenerationConfig | None) -> GenerationConfig:
        """The settings to generate with: the given ones, else the model's; token ids from the
        model config fill what they leave unset.

        For the model's own config (derived from the model config, or loaded beside it) a setting
        that the model config changed since, and that was not set on the generation config
        since, takes the model config's value: ``model.config.decoder_start_token_id = ...``
        after creation takes effect, and so does ``model.generation_config.max_new_tokens = ...``.
        """
        if getattr(self, "_generation_origin", None) is None:
            self._adopt_generation_config(GenerationConfig.from_model_config(self.config))
        config = copy.deepcopy(generation_config or self.generation_config)
        current = GenerationConfig.from_model_config(self.config)
        origin, settings, derived = self._generation_origin
        if generation_config is None and origin is self.generation_config:
            now = config.to_dict()
            for name, value in current.to_dict().items():
                if value != derived.get(name) and now.get(name) == settings.get(name):
                    config.update(**{name: value})
        for name in TOKEN_IDS:
            if getattr(config, name) is None:
                setattr(config, name, getattr(current, name))
        return config


def apply_options(config: GenerationConfig, options: dict[str, Any]) -> GenerationConfig:
    """Apply ``generate``'s keywords to ``config`` (in place).

    Raises:
        TypeError: a keyword that is no GenerationConfig field.
    """
    unknown = config.update(**options)
    if unknown:
        raise TypeError(f"generate() got unknown options: {', '.join(sorted(unknown))}.")
    return config


def cap_length(config: GenerationConfig, prompt: int, positions: int | None) -> int:
    """The total length to generate to, checked against the decoder's ``positions``: an unset
    length is capped there, as transformers caps it (``config.max_length`` is set); an explicit one
    beyond it is an error.

    Raises:
        ValueError: the requested length exceeds the decoder's positions.
    """
    length = config.max_total_length(prompt)
    if positions is not None and length > positions:
        if config.max_length is None and config.max_new_tokens is None:
            config.max_length = length = positions  # the default length (20 new tokens), capped
        else:
            raise ValueError(
                f"Generation would reach {length} tokens but the decoder has {positions} positions "
                "(max_position_embeddings); lower max_new_tokens or max_length."
            )
    return length


def start_token(config: GenerationConfig) -> int:
    """The token an encoder-decoder's decoding starts with: ``decoder_start_token_id``, else
    ``bos_token_id``; every framework's generate reads it here.

    Raises:
        ValueError: neither is set; the message says how to set it.
    """
    token = config.decoder_start_token_id
    token = config.bos_token_id if token is None else token
    if token is None:
        raise ValueError(
            "Encoder-decoder generation needs decoder_start_token_id (or bos_token_id); set "
            "model.config.decoder_start_token_id = tokenizer.cls_token_id, say."
        )
    return token


def pad_id(config: GenerationConfig, default: int | None = None) -> int | None:
    """The id rows are padded with once they finish: ``pad_token_id``, else the first eos id (as
    transformers does), else ``default`` (PyTorch: None, nothing to pad; TensorFlow and Flax: 0,
    as their static buffers need an id)."""
    eos = config.eos_ids()
    if config.pad_token_id is not None:
        return config.pad_token_id
    return eos[0] if eos else default


def beam_fill(config: GenerationConfig) -> int:
    """The id beam search fills unwritten and finished positions with, on every side:
    transformers 5.24 uses ``pad_token_id or eos[0]`` (a pad id of 0 fills with the first eos
    id), and -1 when there is no eos."""
    eos = config.eos_ids()
    if eos is None:
        return -1
    return config.pad_token_id or eos[0]


def check_shift_ids(pad_token_id: Any, decoder_start_token_id: Any) -> None:
    """The ids that turn labels into decoder inputs (start token first, -100 read as pad) must
    be set, and be one token id each; every framework's ``shift_tokens_right`` checks here.

    Raises:
        TypeError: an id that is not an int.
        ValueError: an id that is not set; the message says how to set it.
    """
    ids = (
        ("decoder_start_token_id", decoder_start_token_id, "cls"),
        ("pad_token_id", pad_token_id, "pad"),
    )
    for name, value, _ in ids:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be one token id (an int), not {value!r}.")
    for name, value, token in ids:
        if value is None:
            raise ValueError(
                f"Make sure to set the {name} attribute of the model's configuration, "
                f"e.g. model.config.{name} = tokenizer.{token}_token_id."
            )
