"""Flax encoders and decoders on their own, with transformers 4.x's Flax API: ``FlaxBertModel``,
``FlaxBertForCausalLM``, ... built from a config or ``from_pretrained``, holding ``params``.

Weights load from the PyTorch layout (``model.safetensors`` or a sharded index; ``from_pt=True`` is
accepted and not needed) or from transformers 4.x's ``flax_model.msgpack``; ``save_pretrained``
writes ``config.json`` and ``model.safetensors`` in the PyTorch layout (one folder for every
framework), and ``flax_model.msgpack`` too when asked.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from flax.core import unfreeze
from flax.traverse_util import flatten_dict, unflatten_dict

from .. import hub
from ..config import (
    CONFIG_NAME,
    Config,
    EncoderDecoderConfig,
    as_config,
    read_config,
)
from ..config import set_fields as set_config_fields
from ..outputs import BaseModelOutput, ModelOutput
from . import weights
from .families import family
from .layers import INTERMEDIATES, new_cache, sown

logger = logging.getLogger("warmstart")

MSGPACK = "flax_model.msgpack"
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


def wants_msgpack(flax_msgpack: bool, options: dict[str, Any]) -> bool:
    """Read transformers 4.x's ``save_pretrained`` keywords: ``safe_serialization=False`` (4.x's
    default file) adds ``flax_model.msgpack``; ``max_shard_size``/``token`` have nothing to do
    (one file, no upload).

    Raises:
        ValueError: ``push_to_hub=True``.
        TypeError: another keyword.
    """
    if options.pop("push_to_hub", False):
        raise ValueError("push_to_hub=True is not supported; upload the saved folder yourself.")
    msgpack = flax_msgpack or options.pop("safe_serialization", True) is False
    for name in ("max_shard_size", "token"):
        options.pop(name, None)
    if options:
        raise TypeError(
            f"save_pretrained() got unexpected keyword arguments: {', '.join(options)}."
        )
    return msgpack


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


def init_std(config: Config) -> float:
    """The standard deviation a config gives new weights (BART names it ``init_std``)."""
    std = getattr(config, "init_std", None)
    return std if std is not None else config.initializer_range


def read_weights(folder: Path) -> tuple[str, Any]:
    """``("torch", {name: array})`` from the PyTorch layout, else ``("flax", params)`` from
    transformers 4.x's ``flax_model.msgpack``."""
    try:
        return "torch", hub.load_arrays(folder)
    except FileNotFoundError:
        if not (folder / MSGPACK).is_file():
            raise
    with open(folder / MSGPACK, "rb") as f:
        return "flax", serialization.msgpack_restore(f.read())


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


def as_jax(tree: Any) -> Any:
    return jax.tree.map(jnp.asarray, tree)


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


def check_tree(params: dict, expected: dict, source: str) -> dict:
    """``params`` read from a msgpack, checked path by path against the model's ``expected``."""
    got, want = flatten_dict(params), flatten_dict(expected)
    missing, unknown = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unknown:
        names = [".".join(p) for p in (missing or unknown)[:3]]
        raise ValueError(
            f"{source} does not fit this model: {len(missing)} parameters missing, {len(unknown)} "
            f"unknown (e.g. {', '.join(names)}). Does config.json match?"
        )
    return params


def load_half(config: Config, folder: Path, as_decoder: bool, initial: dict) -> dict:
    """One encoder or decoder's params from ``folder``: the model's ``initial`` params with the
    checkpoint's in place; what it lacks (a new cross-attention) is kept and reported by name."""
    kind, state = read_weights(folder)
    if kind == "flax":
        return as_jax(check_tree(state, initial, str(folder / MSGPACK)))
    shapes = {p: np.shape(v) for p, v in flatten_dict(initial).items()}
    loaded, dropped = weights.from_torch_names(config, state, as_decoder, shapes)
    if dropped:
        logger.info("Not used from %s: %s", folder, "; ".join(dropped[:8]))
    params, missing = weights.merge(initial, loaded)
    if missing:
        logger.warning("Newly initialised (train before use): %s", "; ".join(summarize(missing)))
    return as_jax(params)


def summarize(names: list[str]) -> list[str]:
    """Parameter names with layer numbers grouped: ``encoder.layer.*.crossattention...``."""
    seen: dict[str, None] = {}
    for name in names:
        parts = ["*" if p.isdigit() else p for p in name.split(".")]
        seen[".".join(parts)] = None
    return list(seen)


def save_folder(
    folder: str | os.PathLike, config: Config, state: dict[str, np.ndarray], params: dict | None
) -> None:
    """Write ``config.json`` and ``model.safetensors`` (and ``flax_model.msgpack`` when ``params``
    are given) atomically; other files in ``folder`` are kept."""
    with hub.atomic_folder(folder, replaces=(CONFIG_NAME, *hub.WEIGHT_FILES, MSGPACK)) as tmp:
        hub.write_text_atomic(tmp / CONFIG_NAME, config.to_json_string(use_diff=False))
        hub.save_arrays(state, tmp / hub.SAFE_WEIGHTS)
        if params is not None:
            (tmp / MSGPACK).write_bytes(serialization.msgpack_serialize(jax.device_get(params)))


class FlaxPreTrainedModel:
    """One encoder or decoder: its ``config``, linen ``module`` and ``params``."""

    model_types: tuple[str, ...] = ()
    is_decoder_class = False

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
        check_dtype(dtype)
        if config.model_type not in self.model_types:
            raise ValueError(
                f"{type(self).__name__} takes a {' or '.join(self.model_types)} config, not "
                f"{config.model_type!r}."
            )
        self.config = config
        fam = family(config)
        self.module = fam.decoder(config) if self.is_decoder_class else fam.encoder(config)
        self.params = params if params is not None else self.init_weights(seed)

    def init_weights(
        self, rng: int | jax.Array = 0, input_shape: tuple | None = None, params: dict | None = None
    ) -> dict:
        """Fresh parameters, initialised as transformers initialises them, from a seed or a jax
        key (``input_shape`` accepted as 4.x's, not needed); with ``params``, those given are
        kept and only the missing ones drawn."""
        ids = jnp.ones((1, 1), jnp.int32)
        kwargs = {}
        if self.is_decoder_class and self.config.add_cross_attention:
            kwargs["encoder_hidden_states"] = jnp.zeros((1, 1, self.config.hidden_size))
        std = init_std(self.config)
        fresh = fresh_params(
            lambda r: self.module.init(r, ids, **kwargs), lambda _: std, as_seed(rng)
        )
        return fresh if params is None else keep_given(fresh, params)

    def _flags(self, attentions: bool | None, hidden: bool | None, as_dict: bool | None) -> tuple:
        """(output_attentions, output_hidden_states, return_dict): the call's, else the config's."""
        c = self.config
        return (
            bool(getattr(c, "output_attentions", False) if attentions is None else attentions),
            bool(getattr(c, "output_hidden_states", False) if hidden is None else hidden),
            bool(getattr(c, "return_dict", True) if as_dict is None else as_dict),
        )

    def _apply(
        self,
        params: dict | None,
        args: tuple,
        dropout_rng: jax.Array | None,
        train: bool,
        record: bool,
        kwargs: dict | None = None,
    ) -> tuple[Any, dict]:
        """The module on ``args``, and its sown intermediates when ``record``."""
        params = self.params if params is None else params
        rngs, kwargs = dropout_rngs(dropout_rng, train), kwargs or {}
        if not record:
            return self.module.apply({"params": params}, *args, rngs=rngs, **kwargs), {}
        out, state = self.module.apply(
            {"params": params}, *args, rngs=rngs, mutable=[INTERMEDIATES], **kwargs
        )
        return out, state.get(INTERMEDIATES, {})

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

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        params: dict | None = None,
        flax_msgpack: bool = False,
        **options: Any,
    ) -> None:
        """Write config.json and model.safetensors (PyTorch layout), and with ``flax_msgpack`` (or
        4.x's ``safe_serialization=False``) the params as 4.x's ``flax_model.msgpack``."""
        flax_msgpack = wants_msgpack(flax_msgpack, options)
        params = self.params if params is None else params
        state = weights.to_torch_names(self.config, params, self.is_decoder_class)
        save_folder(save_directory, self.config, state, params if flax_msgpack else None)


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
        attentions, hidden, as_dict = self._flags(
            output_attentions, output_hidden_states, return_dict
        )
        ids = jnp.asarray(input_ids)
        check_positions(position_ids, 0, ids.shape[-1], "position_ids")
        mask, types = _opt(attention_mask), _opt(token_type_ids)
        kwargs = {"attention_mask": mask, "token_type_ids": types, "train": train}
        (h, pooled, _), inter = self._apply(
            params, (ids,), dropout_rng, train, attentions or hidden, kwargs
        )
        out = BaseModelOutput(
            last_hidden_state=h,
            pooler_output=pooled,
            hidden_states=sown(inter, "hidden_states") if hidden else None,
            attentions=sown(inter, "attentions") if attentions else None,
        )
        return out if as_dict else out.to_tuple()


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
        attentions, hidden, as_dict = self._flags(
            output_attentions, output_hidden_states, return_dict
        )
        ids = jnp.asarray(input_ids)
        start = 0 if past_key_values is None else int(past_key_values["index"])
        check_positions(position_ids, start, ids.shape[-1], "position_ids")
        args = (
            ids,
            _opt(attention_mask),
            _opt(encoder_hidden_states),
            _opt(encoder_attention_mask),
            past_key_values,
            train,
            _opt(token_type_ids),
        )
        (logits, cache), inter = self._apply(params, args, dropout_rng, train, attentions or hidden)
        out = FlaxCausalLMOutput(
            logits=logits,
            past_key_values=cache,
            hidden_states=sown(inter, "hidden_states") if hidden else None,
            attentions=sown(inter, "attentions") if attentions else None,
            cross_attentions=sown(inter, "cross_attentions") if attentions else None,
        )
        return out if as_dict else out.to_tuple()

    def init_cache(self, batch_size: int, max_length: int) -> dict:
        """An empty cache for ``max_length`` positions (transformers 4.x's ``init_cache``)."""
        c = self.config
        heads = getattr(c, "decoder_attention_heads", None) or c.num_attention_heads
        layers = getattr(c, "decoder_layers", None) or c.num_hidden_layers
        return new_cache(layers, batch_size, heads, c.hidden_size, max_length)


def _opt(x: Any) -> jax.Array | None:
    return None if x is None else jnp.asarray(x)


def _named(name: str, base: type, types: tuple[str, ...]) -> type:
    return type(name, (base,), {"model_types": types, "__doc__": f"transformers 4.x's {name}."})


FlaxBertModel = _named("FlaxBertModel", FlaxEncoderModel, ("bert",))
FlaxRobertaModel = _named("FlaxRobertaModel", FlaxEncoderModel, ("roberta", "xlm-roberta"))
FlaxXLMRobertaModel = _named("FlaxXLMRobertaModel", FlaxEncoderModel, ("xlm-roberta", "roberta"))
FlaxElectraModel = _named("FlaxElectraModel", FlaxEncoderModel, ("electra",))
FlaxBartModel = _named("FlaxBartModel", FlaxEncoderModel, ("bart",))
FlaxBertGenerationEncoder = _named(
    "FlaxBertGenerationEncoder", FlaxEncoderModel, ("bert-generation",)
)
FlaxBertGenerationDecoder = _named("FlaxBertGenerationDecoder", FlaxCausalLM, ("bert-generation",))
FlaxBertForCausalLM = _named("FlaxBertForCausalLM", FlaxCausalLM, ("bert",))
FlaxRobertaForCausalLM = _named("FlaxRobertaForCausalLM", FlaxCausalLM, ("roberta", "xlm-roberta"))
FlaxXLMRobertaForCausalLM = _named(
    "FlaxXLMRobertaForCausalLM", FlaxCausalLM, ("xlm-roberta", "roberta")
)
FlaxElectraForCausalLM = _named("FlaxElectraForCausalLM", FlaxCausalLM, ("electra",))
FlaxGPT2LMHeadModel = _named("FlaxGPT2LMHeadModel", FlaxCausalLM, ("gpt2",))
FlaxBartForCausalLM = _named("FlaxBartForCausalLM", FlaxCausalLM, ("bart",))
