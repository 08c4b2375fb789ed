"""The base classes of transformers 4.x's Flax encoders and decoders on their own
(``FlaxPreTrainedModel``, ``FlaxEncoderModel``, ``FlaxCausalLM``): built from a config or
``from_pretrained``, holding ``params``; each family's public classes (``FlaxBertModel``, ...) are
defined on them in ``models/<family>.py``.

Weights load from the PyTorch layout (``model.safetensors`` or a sharded index; ``from_pt=True`` is
accepted and not needed) or from transformers 4.x's ``flax_model.msgpack``; ``save_pretrained``
writes ``config.json`` and ``model.safetensors`` in the PyTorch layout (one folder for every
framework), and ``flax_model.msgpack`` too when asked (:mod:`.checkpoint` reads and writes them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.core import unfreeze
from flax.traverse_util import flatten_dict, unflatten_dict

from .. import hub
from ..config import (
    Config,
    EncoderDecoderConfig,
    as_config,
    init_std,
    read_config,
)
from ..config import set_fields as set_config_fields
from ..outputs import BaseModelOutput, ModelOutput, wanted
from .checkpoint import load_half, save_folder, to_torch_names, wants_msgpack
from .layers import apply_recording, new_cache, sown

IGNORED_OPTIONS = ("from_pt", "encoder_from_pt", "decoder_from_pt", "dtype", "_do_init")
"""transformers 4.x Flax ``from_pretrained`` options with nothing to do here."""


def dropout_rngs(dropout_rng: jax.Array | None, train: bool) -> dict:
    """The ``rngs`` of a module call: the dropout key when training (then required), else none."""
    if train and dropout_rng is None:
        raise ValueError("train=True needs dropout_rng= (a jax.random key).")
    return {"dropout": dropout_rng} if train else {}


@dataclass
class FlaxCausalLMOutput(ModelOutput):
    """A decoder's logits (B, T, V), when decoding with a cache the new cache, and when asked
    the per-layer ``hidden_states``, ``attentions`` and ``cross_attentions`` (transformers 4.x's
    ``FlaxCausalLMOutputWithCrossAttentions`` fields)."""

    logits: Any
    past_key_values: Any = None
    hidden_states: Any = None
    attentions: Any = None
    cross_attentions: Any = None


def check_dtype(dtype: Any) -> None:
    """transformers 4.x's ``dtype=`` keyword: float32 (the default) is what this side computes in.

    Raises:
        ValueError: another dtype.
    """
    if dtype is not None and jnp.dtype(dtype) != jnp.float32:
        raise ValueError(
            f"dtype={jnp.dtype(dtype).name} is not supported: the Flax models compute in float32; "
            "leave dtype out (cast the params yourself for bfloat16 storage)."
        )


def check_positions(position_ids: Any, start: int, length: int, name: str) -> None:
    """transformers 4.x's ``position_ids`` keywords: accepted when they are the positions the
    model uses anyway (``start``, ``start + 1``, ... for ``length`` tokens).

    Raises:
        ValueError: other positions.
    """
    if position_ids is None:
        return
    got = np.asarray(position_ids)
    if got.shape[-1:] != (length,) or not (got == start + np.arange(length)).all():
        raise ValueError(
            f"Only the default {name} (0, 1, ... counted after the cached tokens) are supported; "
            f"leave {name} out."
        )


def as_seed(rng: int | jax.Array) -> int:
    """An integer seed from a seed or a jax random key (transformers 4.x passes keys)."""
    if isinstance(rng, int | np.integer):
        return int(rng)
    key = rng if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(rng)
    return int(jax.random.randint(key, (), 0, 2**31 - 1))


def keep_given(fresh: dict, given: Any) -> dict:
    """``fresh`` params with every path that ``given`` holds taken from ``given``."""
    flat = flatten_dict(fresh)
    flat.update(flatten_dict(unfreeze(given)))
    return unflatten_dict(flat)


def set_fields(config: Config, fields: dict[str, Any], caller: str) -> None:
    """Set ``from_pretrained``'s leftover keywords on ``config``, as transformers does.

    Raises:
        TypeError: a keyword that is no field of the config.
    """
    for name in IGNORED_OPTIONS:
        fields.pop(name, None)
    if fields.pop("ignore_mismatched_sizes", False):
        raise ValueError(
            "ignore_mismatched_sizes=True is not supported: a tensor of another shape than the "
            "config's is an error; fix config.json or leave the option out."
        )
    set_config_fields(config, fields, caller)


def fresh_params(init: Any, std_of: Any, seed: int) -> dict:
    """New parameters for a module whose ``init`` (rngs -> variables) gives their shapes, drawn as
    transformers draws them: kernels and embeddings from normal(``std_of(path)``), LayerNorm scales
    ones, biases zeros. The shapes come from tracing alone (``jax.eval_shape``): running flax's own
    initialisers op by op takes seconds even for a tiny model."""
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(0)}
    shapes = flatten_dict(jax.eval_shape(init, rngs)["params"])
    draw = np.random.default_rng(seed)
    out = {}
    for path, spec in shapes.items():
        if path[-1] in ("kernel", "embedding"):
            value = draw.normal(0.0, std_of(path), spec.shape)
        else:
            value = np.ones(spec.shape) if path[-1] == "scale" else np.zeros(spec.shape)
        out[path] = jnp.asarray(value, spec.dtype)
    return unflatten_dict(out)


def output_flags(
    config: Config, attentions: bool | None, hidden: bool | None, as_dict: bool | None
) -> tuple[bool, bool, bool]:
    """(output_attentions, output_hidden_states, return_dict): the call's, else the config's."""
    return (
        wanted(attentions, config, "output_attentions"),
        wanted(hidden, config, "output_hidden_states"),
        wanted(as_dict, config, "return_dict", default=True),
    )


def encoder_output(
    h: jax.Array, pooled: jax.Array | None, inter: dict, flags: tuple[bool, bool, bool]
) -> BaseModelOutput | tuple:
    """An encoder's output: its states (B, S, C), pooled output (or None) and, from what it sowed,
    the per-layer fields ``flags`` (:func:`output_flags`) ask for."""
    attentions, hidden, as_dict = flags
    out = BaseModelOutput(
        last_hidden_state=h,
        pooler_output=pooled,
        hidden_states=sown(inter, "hidden_states") if hidden else None,
        attentions=sown(inter, "attentions") if attentions else None,
    )
    return out if as_dict else out.to_tuple()


def decoder_output(
    logits: jax.Array, cache: dict | None, inter: dict, flags: tuple[bool, bool, bool]
) -> FlaxCausalLMOutput | tuple:
    """A decoder's output: its logits (B, T, V), new cache (or None) and, from what it sowed, the
    per-layer fields ``flags`` (:func:`output_flags`) ask for."""
    attentions, hidden, as_dict = flags
    out = FlaxCausalLMOutput(
        logits=logits,
        past_key_values=cache,
        hidden_states=sown(inter, "hidden_states") if hidden else None,
        attentions=sown(inter, "attentions") if attentions else None,
        cross_attentions=sown(inter, "cross_attentions") if attentions else None,
    )
    return out if as_dict else out.to_tuple()


class FlaxModel:
    """What every Flax model here holds: its ``config``, linen ``module`` (``module_class`` of
    the config) and ``params``, given or drawn as transformers draws them; ``save_pretrained``.
    A class defines :meth:`check_config`, :meth:`_init_module`, :meth:`_init_std` and
    :meth:`_torch_state`."""

    module_class: Callable[[Config], nn.Module]
    """config -> the linen module (a family's body, body and LM head, or the composite)."""

    def __init__(
        self,
        config: Config,
        params: dict | None = None,
        seed: int = 0,
        *,
        input_shape: tuple | None = None,
        dtype: Any = None,
        _do_init: bool = True,
    ) -> None:
        if isinstance(params, tuple):  # 4.x passes input_shape second: not needed here
            params = None
        config = as_config(config, "config")
        self.check_config(config)
        check_dtype(dtype)
        self.config = config
        self.module = self.module_class(config)
        self.params = params if params is not None else self.init_weights(seed)

    def check_config(self, config: Config) -> None:
        """Raise (one line naming what to pass) where this class cannot take ``config``."""

    def init_weights(
        self, rng: int | jax.Array = 0, input_shape: tuple | None = None, params: dict | None = None
    ) -> dict:
        """Fresh parameters, initialised as transformers initialises them, from a seed or a jax
        key (``input_shape`` accepted as 4.x's, not needed); with ``params``, those given are
        kept and only the missing ones drawn."""
        fresh = fresh_params(self._init_module, self._init_std, as_seed(rng))
        return fresh if params is None else keep_given(fresh, params)

    def _init_module(self, rngs: dict) -> dict:
        """``self.module.init`` on the smallest inputs (its variables' shapes are read)."""
        raise NotImplementedError

    def _init_std(self, path: tuple[str, ...]) -> float:
        """The standard deviation of the new kernel or embedding at ``path`` of the params."""
        return init_std(self.config)

    def _torch_state(self, params: dict) -> dict:
        """``params`` as numpy arrays under the PyTorch checkpoint's names."""
        raise NotImplementedError

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        params: dict | None = None,
        flax_msgpack: bool = False,
        **options: Any,
    ) -> None:
        """Write config.json and model.safetensors in the PyTorch layout (one folder serves every
        framework), and with ``flax_msgpack`` (or 4.x's ``safe_serialization=False``) the params
        as transformers 4.x's ``flax_model.msgpack``; atomically, other files in the folder kept.
        ``max_shard_size``/``token`` are accepted."""
        flax_msgpack = wants_msgpack(flax_msgpack, options)
        params = self.params if params is None else params
        state = self._torch_state(params)
        save_folder(save_directory, self.config, state, params if flax_msgpack else None)


class FlaxPreTrainedModel(FlaxModel):
    """One encoder or decoder: its ``config``, linen ``module`` and ``params``."""

    model_types: tuple[str, ...] = ()
    """The config ``model_type`` values the class takes."""
    is_decoder_class = False

    def check_config(self, config: Config) -> None:
        if config.model_type not in self.model_types:
            raise ValueError(
                f"{type(self).__name__} takes a {' or '.join(self.model_types)} config, not "
                f"{config.model_type!r}."
            )

    def _init_module(self, rngs: dict) -> dict:
        ids = jnp.ones((1, 1), jnp.int32)
        if self.is_decoder_class and self.config.add_cross_attention:
            enc = jnp.zeros((1, 1, self.config.hidden_size))
            return self.module.init(rngs, ids, encoder_hidden_states=enc)
        return self.module.init(rngs, ids)

    def _torch_state(self, params: dict) -> dict:
        return to_torch_names(self.config, params, self.is_decoder_class)

    def _apply(
        self,
        params: dict | None,
        args: tuple,
        dropout_rng: jax.Array | None,
        train: bool,
        flags: tuple[bool, bool, bool],
        kwargs: dict | None = None,
    ) -> tuple[Any, dict]:
        """The module on ``args``, and its sown intermediates when ``flags`` ask for them."""
        params = self.params if params is None else params
        rngs, record = dropout_rngs(dropout_rng, train), flags[0] or flags[1]
        return apply_recording(self.module, params, args, rngs, record, **(kwargs or {}))

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: Config | None = None,
        **options,
    ) -> FlaxPreTrainedModel:
        """Load from a folder or a cached repo id; keywords that name config fields are set on the
        config (``is_decoder=True, add_cross_attention=True`` make a decoder for a composite)."""
        folder = hub.resolve_with(pretrained_model_name_or_path, options)
        config = read_config(folder) if config is None else as_config(config)
        if isinstance(config, EncoderDecoderConfig):
            raise ValueError(
                f"{folder} is a whole encoder-decoder; load it with FlaxEncoderDecoderModel."
            )
        set_fields(config, options, f"{cls.__name__}.from_pretrained()")
        model = cls(config)
        model.params = load_half(config, folder, cls.is_decoder_class, model.params)
        return model


def _no_head_mask(head_mask: Any) -> None:
    if head_mask is not None:
        raise ValueError("head_mask is not supported by the Flax models; leave it out.")


class FlaxEncoderModel(FlaxPreTrainedModel):
    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        head_mask: jax.Array | None = None,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
        train: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        """``last_hidden_state`` (B, S, C), ``pooler_output`` and, when asked, per-layer
        ``hidden_states`` and ``attentions`` (transformers 4.x's keywords)."""
        _no_head_mask(head_mask)
        flags = output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        ids = jnp.asarray(input_ids)
        check_positions(position_ids, 0, ids.shape[-1], "position_ids")
        mask, types = as_array(attention_mask), as_array(token_type_ids)
        kwargs = {"attention_mask": mask, "token_type_ids": types, "train": train}
        (h, pooled), inter = self._apply(params, (ids,), dropout_rng, train, flags, kwargs)
        return encoder_output(h, pooled, inter, flags)


class FlaxCausalLM(FlaxPreTrainedModel):
    is_decoder_class = True

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        head_mask: jax.Array | None = None,
        encoder_hidden_states: jax.Array | None = None,
        encoder_attention_mask: jax.Array | None = None,
        init_cache: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
        train: bool = False,
        past_key_values: dict | None = None,
    ) -> FlaxCausalLMOutput | tuple:
        """Logits (B, T, V); with ``past_key_values`` (from :meth:`init_cache`) continue after
        the cached tokens and return the new cache; when asked, per-layer ``hidden_states``,
        ``attentions`` and ``cross_attentions`` (transformers 4.x's keywords)."""
        _no_head_mask(head_mask)
        flags = output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        ids = jnp.asarray(input_ids)
        start = 0 if past_key_values is None else int(past_key_values["index"])
        check_positions(position_ids, start, ids.shape[-1], "position_ids")
        args = (
            ids,
            as_array(attention_mask),
            as_array(encoder_hidden_states),
            as_array(encoder_attention_mask),
            past_key_values,
            train,
            as_array(token_type_ids),
        )
        (logits, cache), inter = self._apply(params, args, dropout_rng, train, flags)
        return decoder_output(logits, cache, inter, flags)

    def init_cache(self, batch_size: int, max_length: int) -> dict:
        """An empty cache for ``max_length`` positions (transformers 4.x's ``init_cache``)."""
        return decoder_cache(self.config, batch_size, max_length)


def decoder_cache(config: Config, batch_size: int, max_length: int) -> dict:
    """An empty cache of a decoder of ``config`` (any family) for ``max_length`` positions."""
    heads = getattr(config, "decoder_attention_heads", None) or config.num_attention_heads
    layers = getattr(config, "decoder_layers", None) or config.num_hidden_layers
    return new_cache(layers, batch_size, heads, config.hidden_size, max_length)


def as_array(x: Any) -> jax.Array | None:
    """An optional input as a jax array (None stays None)."""
    return None if x is None else jnp.asarray(x)
