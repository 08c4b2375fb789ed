"""FlaxEncoderDecoderModel: any supported encoder composed with any supported decoder, in JAX/Flax.

Rothe, Narayan and Severyn, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks", 2020.
The API is transformers 4.x's ``FlaxEncoderDecoderModel`` (``params``, ``encode``, ``decode``,
``init_cache``, ``generate``, ``params=``/``dropout_rng=``/``train=`` on every call), so 4.x code ports
by changing the import. Checkpoints are the PyTorch layout (config.json + model.safetensors with
``encoder.*``/``decoder.*`` names), read and written here; ``flax_model.msgpack`` files of 4.x load too.
The arithmetic follows :mod:`warmstart.torch.encoder_decoder`, the first reference.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax.core import unfreeze
from flax.traverse_util import flatten_dict

from .. import hub
from ..config import Config, EncoderDecoderConfig, as_config, init_std, side_options
from ..generation import GenerationConfig
from ..generation.settings import GenerationSettings
from ..outputs import BaseModelOutput, Seq2SeqLMOutput
from . import generation
from .checkpoint import (
    as_jax,
    check_tree,
    from_torch_names,
    load_half,
    merge,
    read_weights,
    summarize,
    to_torch_names,
)
from .families import family
from .layers import apply_recording, sown
from .pretrained import (
    FlaxCausalLMOutput,
    FlaxModel,
    as_array,
    check_dtype,
    check_positions,
    decoder_cache,
    decoder_output,
    dropout_rngs,
    encoder_output,
    output_flags,
    read_config,
    set_fields,
)
from .seq2seq import (
    EncoderDecoderModule,
    decoder_inputs_from_labels,
    seq2seq_loss,
    shift_tokens_right,
)

logger = logging.getLogger("warmstart")

_COMPILED: dict[tuple[str, Any], Any] = {}
"""(architecture, name) -> a jitted call or generation loop, shared by the models of one
architecture (jax keeps one compile per input shape inside each)."""


class FlaxSeq2SeqLMOutput(Seq2SeqLMOutput):
    """What ``FlaxEncoderDecoderModel.__call__`` returns: the core's output, with transformers
    4.x's fields in their order (``loss`` first, set only with labels); the ``*_hidden_states`` /
    ``*_attentions`` tuples only when asked."""


class FlaxEncoderDecoderModel(FlaxModel, GenerationSettings):
    """A sequence-to-sequence model in Flax: ``config``, linen ``module`` and ``params``."""

    main_input_name = "input_ids"
    base_model_prefix = "encoder_decoder"

    module_class = EncoderDecoderModule

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """``(config, params=None, seed=0)``, as :class:`~warmstart.flax.pretrained.FlaxModel`
        (transformers 4.x's ``input_shape``, ``dtype`` (float32) and ``_do_init`` accepted)."""
        super().__init__(*args, **kwargs)
        gen = GenerationConfig.from_model_config(self.config)
        gen.extra["_from_model_config"] = True
        self._adopt_generation_config(gen)

    def check_config(self, config: Config) -> None:
        if not isinstance(config, EncoderDecoderConfig):
            raise TypeError(
                f"config must be an encoder-decoder config, not a {type(config).__name__}: compose "
                "one with EncoderDecoderConfig.from_encoder_decoder_configs(encoder_config, "
                "decoder_config) (this library's or transformers')."
            )
        dec = config.decoder
        if not (dec.is_decoder and dec.add_cross_attention):
            raise ValueError(
                "The decoder has no cross-attention, so it cannot read the encoder. Build its config "
                "with is_decoder=True and add_cross_attention=True (from_encoder_decoder_configs does)."
            )
        if family(config.encoder).encoder is None:
            raise ValueError(f"A {config.encoder.model_type} model cannot be the encoder.")

    def _init_module(self, rngs: dict) -> dict:
        ids = jnp.ones((1, 1), jnp.int32)
        return self.module.init(rngs, ids, None, ids, None)

    def _init_std(self, path: tuple[str, ...]) -> float:
        """Each half's own (``enc_to_dec_proj`` the decoder's)."""
        side = self.config.encoder if path[0] == "encoder" else self.config.decoder
        return init_std(side)

    # ------------------------------------------------------------------------------- loading
    @classmethod
    def from_encoder_decoder_pretrained(
        cls,
        encoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        decoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> FlaxEncoderDecoderModel:
        """Warm-start from a pretrained encoder and a pretrained decoder, each a checkpoint or a
        model instance.

        Args:
            encoder_pretrained_model_name_or_path: folder or repo id of the encoder.
            decoder_pretrained_model_name_or_path: folder or repo id of the decoder.
            **kwargs: ``encoder_model=``/``decoder_model=`` a model instance (this library's or
                transformers 4.x's Flax model: its config and params are used) instead of a
                checkpoint; other ``encoder_*``/``decoder_*`` set fields of that side's config
                (``encoder_from_pt=True`` and the like are accepted and not needed); the rest
                (``decoder_start_token_id=``, ``return_dict=``, ...) set fields of the composite
                config.

        Returns:
            The model; the decoder's new cross-attention is initialised and reported by name.
        """
        sides = side_options(kwargs)
        check_dtype(kwargs.pop("dtype", None))
        paths = {
            "encoder": encoder_pretrained_model_name_or_path,
            "decoder": decoder_pretrained_model_name_or_path,
        }
        halves = {side: _half(side, paths[side], sides[side]) for side in sides}
        config = EncoderDecoderConfig.from_encoder_decoder_configs(
            halves["encoder"][0], halves["decoder"][0]
        )
        set_fields(config, kwargs, "from_encoder_decoder_pretrained()")
        model = cls(config)
        params = dict(model.params)
        for side in ("encoder", "decoder"):
            params[side] = halves[side][1](getattr(config, side), model.params[side])
        if "enc_to_dec_proj" in params:
            logger.warning("Newly initialised (train before use): enc_to_dec_proj.{kernel,bias}")
        model.params = params
        return model

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **options: Any
    ) -> FlaxEncoderDecoderModel:
        """Load a whole encoder-decoder saved by any framework's ``save_pretrained`` (PyTorch
        layout), or by transformers 4.x's Flax model (``flax_model.msgpack``); keywords that name
        config fields are set on the config."""
        folder = hub.resolve_with(pretrained_model_name_or_path, options)
        config = options.pop("config", None)
        config = read_config(folder) if config is None else as_config(config)
        if not isinstance(config, EncoderDecoderConfig):
            raise ValueError(
                f"{folder} holds a {config.model_type!r} model, not an encoder-decoder; use "
                "FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(encoder, decoder)."
            )
        set_fields(config, options, "FlaxEncoderDecoderModel.from_pretrained()")
        model = cls(config)
        kind, state = read_weights(folder)
        if kind == "flax":
            model.params = as_jax(check_tree(state, model.params, str(folder)))
        else:
            model.params = as_jax(_composite_params(config, state, model.params))
        return model

    def _torch_state(self, params: dict) -> dict:
        state = {}
        for side in ("encoder", "decoder"):
            half = to_torch_names(getattr(self.config, side), params[side], side == "decoder")
            state.update({f"{side}.{k}": v for k, v in half.items()})
        if "enc_to_dec_proj" in params:
            proj = params["enc_to_dec_proj"]
            state["enc_to_dec_proj.weight"] = np.asarray(proj["kernel"]).T
            state["enc_to_dec_proj.bias"] = np.asarray(proj["bias"])
        return state

    # ------------------------------------------------------------------------------- calls
    def _jit(self, name: Any, fn: Any, **jit_options: Any) -> Any:
        """``jax.jit(fn)``, made once per architecture: ``fn`` may read ``self.module`` and the
        architecture, never the parameters or token ids, which are arguments."""
        key = (self._architecture(), name)
        if key not in _COMPILED:
            _COMPILED[key] = jax.jit(fn, **jit_options)
        return _COMPILED[key]

    def _architecture(self) -> str:
        sides = (self.config.encoder.to_dict(), self.config.decoder.to_dict())
        return json.dumps(sides, sort_keys=True, default=str)

    def _run(
        self,
        method: str,
        args: tuple,
        params: dict | None,
        dropout_rng: jax.Array | None,
        train: bool,
        flags: tuple[bool, bool, bool],
    ) -> tuple[Any, dict]:
        """The module's ``method`` (``encode`` or ``decode``) on ``args`` then ``train``, jitted
        once per architecture, and what that half sowed when ``flags`` ask for it."""
        run = self._jit(
            method,
            lambda p, args, rngs, train, record: apply_recording(
                self.module, p, (*args, train), rngs, record, method
            ),
            static_argnames=("train", "record"),
        )
        params = self.params if params is None else params
        rngs, record = dropout_rngs(dropout_rng, train), flags[0] or flags[1]
        out, inter = run(params, args, rngs, train=train, record=record)
        return out, inter.get(method + "r", {})  # the encoder's or the decoder's

    def encode(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        train: bool = False,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
    ) -> BaseModelOutput | tuple:
        """The encoder's output: ``last_hidden_state`` (B, S, C_enc) and, when asked,
        ``hidden_states`` and ``attentions`` (a tuple of (B, H, S, S), one per layer)."""
        flags = output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        check_positions(position_ids, 0, np.shape(input_ids)[-1], "position_ids")
        args = (jnp.asarray(input_ids), as_array(attention_mask), as_array(token_type_ids))
        h, inter = self._run("encode", args, params, dropout_rng, train, flags)
        return encoder_output(h, None, inter, flags)

    def decode(
        self,
        decoder_input_ids: jax.Array,
        encoder_outputs: BaseModelOutput | tuple | jax.Array,
        encoder_attention_mask: jax.Array | None = None,
        decoder_attention_mask: jax.Array | None = None,
        decoder_position_ids: jax.Array | None = None,
        past_key_values: dict | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        train: bool = False,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
    ) -> FlaxCausalLMOutput | tuple:
        """Decoder logits (B, T, V) over the encoder's output (this library's or transformers'
        output object, a tuple or the states); with ``past_key_values`` (from :meth:`init_cache`
        or a previous call) continue after the cached tokens and return the new cache as
        ``past_key_values`` (``decoder_attention_mask`` then covers the cache's length). When
        asked, ``hidden_states``, ``attentions`` and ``cross_attentions`` per layer."""
        flags = output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        start = 0 if past_key_values is None else int(past_key_values["index"])
        ids = jnp.asarray(decoder_input_ids)
        check_positions(decoder_position_ids, start, ids.shape[-1], "decoder_position_ids")
        enc = generation.last_hidden_state(encoder_outputs)
        masks = (as_array(encoder_attention_mask), as_array(decoder_attention_mask))
        args = (ids, enc, *masks, past_key_values)
        (logits, cache), inter = self._run("decode", args, params, dropout_rng, train, flags)
        return decoder_output(logits, cache, inter, flags)

    def init_cache(self, batch_size: int, max_length: int, encoder_outputs: Any = None) -> dict:
        """An empty decoder cache for ``max_length`` positions (the cross-attention keys/values
        are projected from the encoder output on the first :meth:`decode` and kept)."""
        limit = self.config.decoder.max_position_embeddings
        if max_length > limit:
            raise ValueError(
                f"max_length {max_length} exceeds the decoder's {limit} positions "
                "(max_position_embeddings)."
            )
        return decoder_cache(self.config.decoder, batch_size, max_length)

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        decoder_input_ids: jax.Array | None = None,
        decoder_attention_mask: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        decoder_position_ids: jax.Array | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        train: bool = False,
        params: dict | None = None,
        dropout_rng: jax.Array | None = None,
        labels: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
    ) -> FlaxSeq2SeqLMOutput | tuple:
        """Encode the source and decode the target (transformers 4.x's keywords and order).

        Args:
            input_ids: (B, S) source ids; attention_mask (B, S) 1 for tokens, 0 for padding.
            decoder_input_ids: (B, T) decoder inputs; built from ``labels`` when omitted.
            decoder_attention_mask: (B, T); from labels: the non-pad positions.
            position_ids, decoder_position_ids: accepted when they are the default positions.
            output_attentions, output_hidden_states: also return each layer's attention weights
                / hidden states (computed only then); default: the config's.
            return_dict: a tuple of the set fields when False; default: the config's.
            train, params, dropout_rng: training mode, other parameters, the dropout key.
            labels: (B, T) targets, -100 where the loss should ignore a position.

        Returns:
            ``loss`` (with labels), ``logits`` (B, T, V), ``encoder_last_hidden_state`` and, when
            asked, the ``*_hidden_states`` / ``*_attentions`` tuples.
        """
        flags = output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError(
                    "Pass decoder_input_ids or labels (decoder inputs are built from labels)."
                )
            decoder_input_ids, mask = decoder_inputs_from_labels(
                labels, self.config.pad_token_id, self.config.decoder_start_token_id
            )
            decoder_attention_mask = (
                mask if decoder_attention_mask is None else decoder_attention_mask
            )
        check_positions(position_ids, 0, np.shape(input_ids)[-1], "position_ids")
        T = np.shape(decoder_input_ids)[-1]
        check_positions(decoder_position_ids, 0, T, "decoder_position_ids")
        batch = {
            "input_ids": jnp.asarray(input_ids),
            "attention_mask": as_array(attention_mask),
            "decoder_input_ids": jnp.asarray(decoder_input_ids),
            "decoder_attention_mask": as_array(decoder_attention_mask),
            "labels": jnp.zeros_like(decoder_input_ids) if labels is None else jnp.asarray(labels),
            "token_type_ids": as_array(token_type_ids),
        }
        run = self._jit(
            "forward",
            partial(seq2seq_loss, self.module),
            static_argnames=("train", "record"),
        )
        params = self.params if params is None else params
        loss, (logits, enc, inter) = run(
            params,
            batch,
            train=train,
            rngs=dropout_rngs(dropout_rng, train),
            record=flags[0] or flags[1],
        )
        out = FlaxSeq2SeqLMOutput(
            loss=None if labels is None else loss,
            logits=logits,
            encoder_last_hidden_state=enc,
            **_sown_fields(inter, flags[0], flags[1]),
        )
        return out if flags[2] else out.to_tuple()

    def prepare_decoder_input_ids_from_labels(self, labels: jax.Array) -> jax.Array:
        return shift_tokens_right(
            labels, self.config.pad_token_id, self.config.decoder_start_token_id
        )

    def generate(
        self, input_ids: jax.Array | None = None, **kwargs: Any
    ) -> generation.FlaxGenerateOutput:
        """Generate under ``jax.jit``: greedy, beam search or sampling; see
        :func:`warmstart.flax.generation.generate` for the options."""
        return generation.generate(self, input_ids, **kwargs)


def _composite_params(
    config: EncoderDecoderConfig, state: dict[str, np.ndarray], initial: dict
) -> dict:
    """A composite PyTorch-layout checkpoint on the model's ``initial`` params."""
    loaded: dict[tuple, np.ndarray] = {}
    shapes = {p: np.shape(v) for p, v in flatten_dict(initial).items()}
    for side in ("encoder", "decoder"):
        prefix = side + "."
        half = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        mine = {p[1:]: s for p, s in shapes.items() if p[0] == side}
        got, dropped = from_torch_names(getattr(config, side), half, side == "decoder", mine)
        if dropped:
            raise ValueError(
                f"The checkpoint has {side} tensors this model has no place for: "
                f"{', '.join(dropped[:3])}. Is config.json the checkpoint's?"
            )
        loaded.update({(side, *p): v for p, v in got.items()})
    if "enc_to_dec_proj.weight" in state:
        loaded[("enc_to_dec_proj", "kernel")] = state["enc_to_dec_proj.weight"].T
        loaded[("enc_to_dec_proj", "bias")] = state["enc_to_dec_proj.bias"]
    params, missing = merge(initial, loaded)
    if missing:
        logger.warning("Newly initialised (train before use): %s", "; ".join(summarize(missing)))
    return params


def _half(side: str, path: Any, options: dict) -> tuple[Config, Any]:
    """One side of :meth:`FlaxEncoderDecoderModel.from_encoder_decoder_pretrained`: its config, and
    a function (composite's config of that side, its fresh params) -> its params."""
    instance = options.pop("model", None)
    as_decoder = side == "decoder"
    if instance is not None:
        if not (hasattr(instance, "config") and hasattr(instance, "params")):
            raise TypeError(
                f"{side}_model must be a Flax model with .config and .params (e.g. "
                f"{'FlaxBertForCausalLM' if as_decoder else 'FlaxBertModel'}), not a "
                f"{type(instance).__name__}."
            )
        config = copy.deepcopy(as_config(instance.config, f"the {side}_model's config"))
        set_fields(config, options, f"from_encoder_decoder_pretrained({side}_...)")
        given = instance.params
        return config, lambda _config, initial: _given_params(side, given, initial)
    if path is None:
        raise ValueError(
            f"Pass the {side}: {side}_pretrained_model_name_or_path (a folder or repo id) or "
            f"{side}_model= (a model instance)."
        )
    folder = hub.resolve_with(path, options)
    config = options.pop("config", None)
    config = read_config(folder) if config is None else copy.deepcopy(as_config(config))
    if isinstance(config, EncoderDecoderConfig):
        raise ValueError(f"{folder} is a whole encoder-decoder, not an {side}.")
    config.is_decoder = config.add_cross_attention = as_decoder
    set_fields(config, options, f"from_encoder_decoder_pretrained({side}_...)")
    return config, lambda config, initial: load_half(config, folder, as_decoder, initial)


def _given_params(side: str, given: Any, initial: dict) -> dict:
    """A model instance's ``given`` params on the composite's ``initial`` ones for that side:
    what the instance lacks (a new cross-attention) is kept fresh and reported by name.

    Raises:
        ValueError: parameters with no place in the composite's half (the wrong kind of model).
    """
    flat = flatten_dict(unfreeze(given))
    shapes = {p: np.shape(v) for p, v in flatten_dict(initial).items()}
    unknown = [".".join(p) for p in flat if p not in shapes]
    wrong = [".".join(p) for p, v in flat.items() if p in shapes and np.shape(v) != shapes[p]]
    if unknown or wrong:
        kind = "a causal LM (FlaxBertForCausalLM, FlaxGPT2LMHeadModel, ...)"
        kind = kind if side == "decoder" else "an encoder model (FlaxBertModel, ...)"
        raise ValueError(
            f"The {side}_model's parameters do not fit the {side} ({len(unknown)} unknown, "
            f"{len(wrong)} of another shape, e.g. {', '.join((unknown + wrong)[:2])}); pass {kind}."
        )
    params, missing = merge(initial, flat)
    if missing:
        logger.warning("Newly initialised (train before use): %s", "; ".join(summarize(missing)))
    return as_jax(params)


def _sown_fields(inter: dict, attentions: bool, hidden: bool) -> dict[str, Any]:
    """The composite output's per-layer fields from a call's intermediates, those asked for."""
    enc, dec = inter.get("encoder", {}), inter.get("decoder", {})
    out: dict[str, Any] = {}
    if hidden:
        out["encoder_hidden_states"] = sown(enc, "hidden_states")
        out["decoder_hidden_states"] = sown(dec, "hidden_states")
    if attentions:
        out["encoder_attentions"] = sown(enc, "attentions")
        out["decoder_attentions"] = sown(dec, "attentions")
        out["cross_attentions"] = sown(dec, "cross_attentions")
    return out
